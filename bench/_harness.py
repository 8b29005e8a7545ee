"""The side-by-side harness bench/rm.py and bench/rl.py share: each side in its own subprocess.

A fresh process per run gives each side a clean peak-memory figure and no warm caches left by
the other. Runs go in ABBA order (ours, TRL, TRL, ours, ...): on a shared machine background
load drifts, and alternating the sides lets both see the same conditions on average.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def abba_order(rounds: int, sides: tuple[str, ...] = ("ours", "trl")) -> list[str]:
    """The sides in order on even rounds, reversed on odd ones (ABBA; ABCCBA with three sides)."""
    return [side for r in range(rounds) for side in (sides if r % 2 == 0 else sides[::-1])]


def run_sides(script: str, args: list[str], rounds: int, sides: tuple[str, ...] = ("ours", "trl")) -> dict[str, list[dict]]:
    """Run ``script --phase SIDE ARGS`` for each side in ABBA order; each prints one JSON line last."""
    runs: dict[str, list[dict]] = {side: [] for side in sides}
    for phase in abba_order(rounds, sides):
        done = subprocess.run([sys.executable, script, "--phase", phase, *args], capture_output=True, text=True, cwd=ROOT)
        if done.returncode != 0:
            sys.stderr.write(done.stderr[-4000:])
            raise SystemExit(f"{phase} phase failed")
        runs[phase].append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(f"{phase}: {runs[phase][-1]}", flush=True)
    return runs


def peak_of(runs: list[dict]) -> dict:
    """Peak host and CUDA memory over one side's runs."""
    return {"peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
            "peak_cuda_mb": max((r["peak_cuda_mb"] or 0) for r in runs) or None}


def comparison(ours: dict, trl: dict, rate: str, rounds: int, started: float) -> dict:
    """The fields both benchmarks end with: the ratio (ours / TRL's) of the pooled and the
    median-step rate, peak memory of each side, rounds and wall time."""
    return {
        "speedup": round(ours[rate] / trl[rate], 3),
        "speedup_median_step": round(ours[f"{rate}_median_step"] / trl[f"{rate}_median_step"], 3),
        "ours_peak_rss_mb": round(ours["peak_rss_mb"]),
        "trl_peak_rss_mb": round(trl["peak_rss_mb"]),
        "ours_peak_cuda_mb": ours["peak_cuda_mb"],
        "trl_peak_cuda_mb": trl["peak_cuda_mb"],
        "rounds_per_side": rounds,
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
