"""Benchmark of the AI labeler: the plain way vs our engine (exact and bf16-mlp) on real HH pairs.

    .venv/bin/python bench/labeling.py [--pairs 64] [--model SPEC] [--chunk 16]

All three label the same pairs (0-shot, base preamble, swap on). The plain way is
``score_naive``: one unbatched forward per order with full logits. After a warm-up the pairs
are run in chunks, and within each chunk the three ways take turns in a rotating order, so
that load from other processes on a shared machine falls on all three alike. Progress goes to
stderr; the last stdout line is one JSON object:

  naive_pairs_per_s, exact_pairs_per_s, bf16_mlp_pairs_per_s   pairs labelled per wall second
  exact_speedup, bf16_mlp_speedup                              vs the plain way
  exact_max_abs_diff          max |p - p_naive| over p, p_order1 and p_order2 (target <= 1e-3)
  bf16_mlp_label_agreement    share of pairs where bf16-mlp and exact pick the same candidate
  bf16_mlp_alignment_delta    alignment(bf16-mlp) - alignment(exact) against the human labels
  core_gflops             one core's rate on a layer-sized product [800, 576] x [576, 3072] per
                          kernel: torch's float32 matmul (MKL), oneDNN's float32 linear (the
                          exact engine's) and a bfloat16 linear (bf16-mlp's feed-forward layers)
  matmul_gflops           float32 2048x2048 matmul, best of several (MKL and oneDNN), timed in this run
  exact_useful_gflops     2 x non-embedding params x tokens the exact engine ran / its wall time
  exact_peak_share        exact_useful_gflops / matmul_gflops
plus alignments (with and without swap), position bias, label mass, token counts, each
round's speedups, and others_cpu_share: the share of the machine's CPU time that other
processes used during the run (on a shared machine, read the speedups with it).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from itertools import islice
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from pipeline import registry  # noqa: E402
from pipeline.configs import LabelingConfig  # noqa: E402
from pipeline.data import read  # noqa: E402
from pipeline.inference.precision import model_for_precision, non_embedding_params  # noqa: E402
from pipeline.inference.proj import ONEDNN  # noqa: E402
from pipeline.labeling.data import labeled_samples  # noqa: E402
from pipeline.labeling.engine import Labeler  # noqa: E402
from pipeline.labeling.metrics import evaluate  # noqa: E402
from pipeline.labeling.reference import score_naive  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "hh-rlhf" / "harmless-base-test.dev.jsonl.gz"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def matmul_gflops(n: int = 2048, repeats: int = 8) -> float:
    """Best float32 n x n matmul rate: 2 n^3 FLOPs per product, over torch's ``matmul`` (MKL)
    and oneDNN's float32 linear kernel, which the exact engine uses (on AMD CPUs MKL runs its
    AVX2 code, oneDNN AVX-512, so the machine's peak is the faster of the two)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    kernels = [lambda: a @ b]
    if torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise"):
        kernels.append(lambda: torch.ops.mkldnn._linear_pointwise(a, b, None, "none", [], ""))
    best = float("inf")
    for kernel in kernels:
        kernel()  # warm-up
        for _ in range(repeats):
            start = time.perf_counter()
            kernel()
            best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def core_gflops(m: int = 800, k: int = 576, n: int = 3072, repeats: int = 5) -> dict[str, float]:
    """One core's GFLOP/s on [m, k] x [k, n] per kernel the engine may run (see the docstring):
    on AMD CPUs MKL runs only its AVX2 code and oneDNN AVX-512, and CPUs with bfloat16
    instructions run the bfloat16 product faster again; this measures what this one does."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        x, w = torch.randn(m, k), torch.randn(n, k)
        xb, wb = x.bfloat16(), w.bfloat16()
        kernels = {"float32_matmul": lambda: x @ w.T}
        if ONEDNN:
            kernels["float32_onednn"] = lambda: torch.ops.mkldnn._linear_pointwise(x, w, None, "none", [], "")
            kernels["bfloat16_onednn"] = lambda: torch.ops.mkldnn._linear_pointwise(xb, wb, None, "none", [], "")
        else:
            kernels["bfloat16_linear"] = lambda: torch.nn.functional.linear(xb, wb)
        rates = {}
        for name, kernel in kernels.items():
            kernel()  # warm-up
            best = float("inf")
            for _ in range(repeats):
                start = time.perf_counter()
                kernel()
                best = min(best, time.perf_counter() - start)
            rates[name] = round(2 * m * k * n / best / 1e9, 1)
        return rates
    finally:
        torch.set_num_threads(threads)


def cpu_ticks() -> tuple[float, float] | None:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat (Linux)."""
    try:
        fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except OSError:
        return None
    hz = os.sysconf("SC_CLK_TCK")
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    return (sum(fields) - idle) / hz, sum(fields) / hz


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=64)
    parser.add_argument("--model", default=registry.DEFAULT_MODEL)
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--artifacts", default=os.environ.get("ARTIFACT_ROOT", str(ROOT / "var" / "artifacts")))
    parser.add_argument("--chunk", type=int, default=16, help="pairs per round of the rotating schedule")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--batch-size", type=int, default=LabelingConfig.batch_size)
    return parser.parse_args()


def time_rounds(ways: dict, samples: list, chunk_size: int, peak: float) -> tuple[dict, dict, list, float]:
    """Labels, wall seconds per way, per-round speedups and the best matmul rate seen.

    The ways take turns first in each round, so a slow spell of the machine (another process
    waking up) lands on each of them alike and the ratios stay fair.
    """
    names = list(ways)
    labels: dict[str, list] = {name: [] for name in names}
    wall = {name: 0.0 for name in names}
    round_speedups = []
    for round_no, start in enumerate(range(0, len(samples), chunk_size)):
        chunk = samples[start : start + chunk_size]
        took = {}
        for name in names[round_no % 3 :] + names[: round_no % 3]:
            t0 = time.perf_counter()
            labels[name].extend(ways[name](chunk))
            took[name] = time.perf_counter() - t0
            wall[name] += took[name]
        round_speedups.append([round(took["naive"] / took["exact"], 2), round(took["naive"] / took["bf16_mlp"], 2)])
        peak = max(peak, matmul_gflops(repeats=4))
        done = start + len(chunk)
        rates = ", ".join(f"{n} {done / wall[n]:.2f}" for n in names)
        log(f"[{done}/{len(samples)}] pairs/s: {rates}; this round's speedups exact, bf16-mlp: {round_speedups[-1]}")
    return labels, wall, round_speedups, peak


def others_cpu_share(
    ticks_before: tuple[float, float] | None, ticks_after: tuple[float, float] | None, own_cpu_s: float
) -> float | None:
    """Share of the machine's CPU time that other processes used while the bench ran."""
    if not (ticks_before and ticks_after):
        return None
    busy = ticks_after[0] - ticks_before[0]
    total = ticks_after[1] - ticks_before[1]
    return max(0.0, busy - own_cpu_s) / total if total else None


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    lm = registry.load_causal_lm(args.model, args.artifacts, precision="exact")
    pairs = labeled_samples(islice(read(args.data, "hh"), args.pairs))
    samples, human = [s for s, _ in pairs], [h for _, h in pairs]
    exact_config = LabelingConfig(batch_size=args.batch_size)  # 0-shot, base preamble, swap on
    bf16_config = exact_config.replace(precision="bf16-mlp")
    log(f"{len(samples)} pairs from {args.data}; model {args.model} on {lm.device}, {torch.get_num_threads()} threads")

    cores = core_gflops()
    log("one core, GFLOP/s: " + ", ".join(f"{name} {rate}" for name, rate in cores.items()))
    peak = matmul_gflops()  # timed again after every round; the best is the machine's peak
    log(f"float32 matmul: {peak:.1f} GFLOP/s")

    # warm-up (also builds the bf16-mlp copy of the model once); fresh labelers are timed below
    model_for_precision(lm.model, "bf16-mlp")
    score_naive(lm, samples[:1], exact_config)
    Labeler(lm, exact_config).label(samples[:2])
    Labeler(lm, bf16_config).label(samples[:2])
    exact, bf16 = Labeler(lm, exact_config), Labeler(lm, bf16_config)

    ways = {
        "naive": lambda chunk: score_naive(lm, chunk, exact_config),
        "exact": exact.label,
        "bf16_mlp": bf16.label,
    }
    ticks_before, own_before, run_start = cpu_ticks(), own_cpu(), time.perf_counter()
    labels, wall, round_speedups, peak = time_rounds(ways, samples, args.chunk, peak)
    ticks_after, own_after, run_wall = cpu_ticks(), own_cpu(), time.perf_counter() - run_start
    others = others_cpu_share(ticks_before, ticks_after, own_after - own_before)

    n = len(samples)
    rate = {name: n / wall[name] for name in ways}
    diffs = [
        abs(a - b)
        for x, y in zip(labels["exact"], labels["naive"])
        for a, b in [(x.p, y.p), (x.p_order1, y.p_order1), (x.p_order2, y.p_order2)]
    ]
    same = [x.choice == y.choice for x, y in zip(labels["bf16_mlp"], labels["exact"])]
    metrics = {name: evaluate(labels[name], human) for name in ways}
    params = non_embedding_params(lm.model)
    useful = 2 * params * exact.stats.real_tokens / wall["exact"] / 1e9

    result = {
        "pairs": n,
        "model": args.model,
        "device": str(lm.device),
        "threads": torch.get_num_threads(),
        "naive_pairs_per_s": round(rate["naive"], 4),
        "exact_pairs_per_s": round(rate["exact"], 4),
        "bf16_mlp_pairs_per_s": round(rate["bf16_mlp"], 4),
        "exact_speedup": round(rate["exact"] / rate["naive"], 3),
        "bf16_mlp_speedup": round(rate["bf16_mlp"] / rate["naive"], 3),
        "exact_max_abs_diff": float(f"{max(diffs):.3g}"),
        "bf16_mlp_label_agreement": round(sum(same) / n, 4),
        "bf16_mlp_alignment_delta": round(metrics["bf16_mlp"].alignment.z_acc - metrics["exact"].alignment.z_acc, 4),
        "core_gflops": cores,
        "matmul_gflops": round(peak, 2),
        "exact_useful_gflops": round(useful, 2),
        "exact_peak_share": round(useful / peak, 4),
        "naive_useful_gflops": round(2 * params * sum(label.prompt_tokens for label in labels["naive"]) / wall["naive"] / 1e9, 2),
        "exact_alignment": round(metrics["exact"].alignment.z_acc, 4),
        "exact_alignment_ci": [round(metrics["exact"].alignment.ci_low, 4), round(metrics["exact"].alignment.ci_high, 4)],
        "exact_alignment_no_swap": round(metrics["exact"].alignment_single_order.z_acc, 4),
        "bf16_mlp_alignment": round(metrics["bf16_mlp"].alignment.z_acc, 4),
        "position1_rate": round(metrics["exact"].position_bias.position1_rate, 4),
        "order_disagreement": round(metrics["exact"].position_bias.order_disagreement, 4),
        "label_mass": round(metrics["exact"].label_mass, 4),
        "exact_tokens_run": exact.stats.real_tokens,
        "exact_padding_share": round(exact.stats.padded_tokens / max(1, exact.stats.padded_tokens + exact.stats.real_tokens), 4),
        "naive_tokens_run": sum(label.prompt_tokens for label in labels["naive"]),
        "wall_s": round(run_wall, 1),
        "others_cpu_share": None if others is None else round(others, 3),
        "round_speedups": round_speedups,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
