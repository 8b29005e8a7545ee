"""Scale-out benchmark: one labeling stage of real HH pairs done by 1 worker process, by 2, and
by 4, each worker limited to one CPU thread (a stand-in for one GPU per worker).

    .venv/bin/python bench/scale_out.py [--pairs 128] [--chunk 8] [--workers 1 2 4]

Each setting gets a lab of its own (SQLite file + filesystem broker in a temporary folder, the
embedded lab of `make run`), the same pairs and the same chunks: the experiment's first
``--pairs`` rows of the HH file as training pairs, a pipeline with the ``rlaif`` arm started by
``run_experiment`` with every stage but preparing the models and labeling cancelled, and N real
Celery workers. The labeling stage's wall time runs from the
stage's start to its end as the database recorded them (so every worker's model load is
inside it); the workers are stopped as soon as it ends. Settings run in the order given;
progress goes to stderr, and the last stdout line is one JSON object:

  wall_s           {workers: seconds of the labeling stage}
  speedup          {workers: wall_s[1] / wall_s[N]}  (2 on a machine with 2 free cores is ideal)
  chunks_by_worker {workers: chunks each worker finished}: every worker took part
  labels_equal     labels of every setting equal (within 1e-5) to the one-worker labels
  load_before      the machine's 1-minute load average at the start (read the ratios with it)
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.orchestration.lab import Lab  # noqa: E402  - the integration tests' lab of real processes

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "hh-rlhf" / "harmless-base-test.dev.jsonl.gz"
STAGE = "ai-labels"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=128)
    parser.add_argument("--chunk", type=int, default=8, help="pairs per chunk of the stage")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--artifacts", default=os.environ.get("ARTIFACT_ROOT", str(ROOT / "var" / "artifacts")))
    parser.add_argument("--timeout", type=float, default=3600, help="longest wait for one setting's stage")
    return parser.parse_args()


def hh_subset(source: Path, folder: Path, train: int, test: int = 2) -> tuple[Path, Path]:
    """The file's first ``train`` rows and the ``test`` after them, as two plain HH files (the
    pipeline plans its sampling stages on test prompts, so it wants a few)."""
    with gzip.open(source, "rt", encoding="utf-8") as lines:
        rows = list(islice(lines, train + test))
    if len(rows) < train + test:
        raise SystemExit(f"{source} has {len(rows)} rows; --pairs {train} needs {train + test}")
    paths = folder / "train.jsonl", folder / "test.jsonl"
    paths[0].write_text("".join(rows[:train]), encoding="utf-8")
    paths[1].write_text("".join(rows[train:]), encoding="utf-8")
    return paths


def one_setting(workers: int, args: argparse.Namespace, folder: Path, data: tuple[Path, Path]) -> dict:
    lab = Lab(folder, str(Path(args.artifacts).resolve()))
    lab.env["OMP_NUM_THREADS"] = "1"  # one CPU thread per worker: a worker stands in for one GPU
    try:
        lab.manage("migrate", "--noinput", "-v", "0")
        for path, split in zip(data, ("train", "test")):
            lab.manage("import_preferences", str(path), "--experiment", "hh", "--format", "hh", "--split", split,
                       "--task", "harmless")
        lab.manage("run_experiment", "hh", "--arms", "rlaif", "--set", f"labeling.chunk_size={args.chunk}")
        lab.cancel_stages(keep=("prepare", "labeling"))  # the workers do nothing but this stage
        processes = [lab.start_worker(f"worker-{i}") for i in range(workers)]

        def ended() -> str:
            rows = lab.sql(f"SELECT status FROM pipeline_pipelinestage WHERE name = '{STAGE}'")
            return rows[0][0] if rows and rows[0][0] in ("succeeded", "failed", "cancelled") else ""

        status = lab.wait_for(ended, timeout=args.timeout, every=0.5, what=f"the labeling stage with {workers} worker(s)")
        for process in processes:  # the rest of the pipeline is not measured
            lab.kill(process)
        if status != "succeeded":
            raise SystemExit(f"{workers} worker(s): the labeling stage {status}: "
                             f"{lab.sql(f'SELECT error FROM pipeline_pipelinestage WHERE name = {STAGE!r}')}")
        [(started, finished)] = lab.sql(f"SELECT started_at, finished_at FROM pipeline_pipelinestage WHERE name = '{STAGE}'")
        by_worker = lab.sql("SELECT worker, count(*) FROM pipeline_stagechunk GROUP BY worker ORDER BY worker")
        labels = dict(lab.sql("SELECT pair_id, p FROM pipeline_ailabel"))
        return {"wall_s": _seconds(started, finished), "chunks": sorted(n for _, n in by_worker), "labels": labels}
    finally:
        lab.close()


def _seconds(started: str, finished: str) -> float:
    from datetime import datetime

    return round((datetime.fromisoformat(str(finished)) - datetime.fromisoformat(str(started))).total_seconds(), 2)


def main() -> None:
    args = parse_args()
    load_before = os.getloadavg()[0]
    begun = time.perf_counter()
    results: dict[int, dict] = {}
    with tempfile.TemporaryDirectory(prefix="scale-out-") as tmp:
        data = hh_subset(Path(args.data), Path(tmp), args.pairs)
        for workers in args.workers:
            results[workers] = one_setting(workers, args, Path(tmp) / f"lab-{workers}", data)
            log(f"{workers} worker(s): {results[workers]['wall_s']} s, chunks per worker {results[workers]['chunks']}")
    base = results[min(results)]
    # The pair ids are the same in every lab: each imports the same file into a fresh database.
    equal = all(r["labels"].keys() == base["labels"].keys()
                and all(abs(r["labels"][k] - base["labels"][k]) <= 1e-5 for k in base["labels"]) for r in results.values())
    print(json.dumps({
        "pairs": args.pairs,
        "chunk": args.chunk,
        "threads_per_worker": 1,
        "cpus": os.cpu_count(),
        "wall_s": {n: r["wall_s"] for n, r in results.items()},
        "speedup": {n: round(base["wall_s"] / r["wall_s"], 3) for n, r in results.items()},
        "chunks_by_worker": {n: r["chunks"] for n, r in results.items()},
        "labels_equal": equal,
        "load_before": round(load_before, 2),
        "bench_wall_s": round(time.perf_counter() - begun, 1),
    }))


if __name__ == "__main__":
    main()
