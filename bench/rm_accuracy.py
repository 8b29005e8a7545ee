"""Pairwise accuracy of a reward model on held-out real HH pairs (with a 95% Wilson interval).

    .venv/bin/python bench/rm_accuracy.py --train 1000 --test 300 [--labels human|ai --ai-labels FILE]
                                          [--epochs 1] [--max-length 256] [--batch 8] [--lr 1e-4] [--threads N]

Reads ../shared/data/hh-rlhf/harmless-base-test.dev.jsonl.gz (1,600 HH-harmless pairs; never
copied), candidate order randomised per pair (seeded). Trains on the first --train pairs and
evaluates on the last --test pairs (disjoint). ``--labels ai`` trains on AI labels from a JSONL
file with one {"context", "candidate_1", "candidate_2", "p1"} object per labelled pair
(p1 = P(candidate 1 preferred), as a labeling run exports them); evaluation is always against
the human labels. Prints progress, and as the last line one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HH = ROOT.parent / "shared" / "data" / "hh-rlhf" / "harmless-base-test.dev.jsonl.gz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=1000)
    parser.add_argument("--test", type=int, default=300)
    parser.add_argument("--labels", choices=["human", "ai"], default="human")
    parser.add_argument("--ai-labels", type=Path, help="JSONL of AI labels (needed with --labels ai)")
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--head-lr", type=float, default=1e-3)
    parser.add_argument("--full", action="store_true", help="full fine-tuning instead of LoRA")
    parser.add_argument("--out", type=Path, default=None, help="run directory (default: var/bench/rm_accuracy-...)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from dataclasses import replace

    from pipeline import registry
    from pipeline.reward import RewardConfig, build_examples, read_hh_pairs, train_reward_model

    pairs = read_hh_pairs(HH, seed=0)
    if args.train + args.test > len(pairs):
        raise SystemExit(f"only {len(pairs)} pairs: --train + --test must not exceed that")
    train, test = pairs[: args.train], pairs[len(pairs) - args.test :]
    if args.labels == "ai":
        if not args.ai_labels:
            raise SystemExit("--labels ai needs --ai-labels FILE")
        soft = {}
        for line in args.ai_labels.read_text().splitlines():
            row = json.loads(line)
            soft[(row["context"], row["candidate_1"], row["candidate_2"])] = float(row["p1"])
        train = [replace(p, ai_p1=soft.get((p.context, p.candidate_1, p.candidate_2))) for p in train]
    examples = build_examples(train, args.labels)

    artifact_root = Path(os.environ.get("ARTIFACT_ROOT", ROOT / "var" / "artifacts"))
    registry.prepare(args.model, artifact_root)
    out = args.out or ROOT / "var" / "bench" / f"rm_accuracy-{args.labels}-{args.train}-{args.test}-e{args.epochs}"
    config = RewardConfig(model=args.model, lora=not args.full, epochs=args.epochs, batch_size=args.batch,
                          max_length=args.max_length, lr=args.lr, head_lr=args.head_lr, checkpoint_every=25, seed=0)
    started = time.perf_counter()

    def on_progress(done: int, total: int) -> None:
        print(f"step {done}/{total}  {time.perf_counter() - started:.0f}s", file=sys.stderr, flush=True)

    result = train_reward_model(config, examples, out, artifact_root=artifact_root, eval_pairs=test,
                                on_progress=on_progress)
    acc = result.accuracy
    print(json.dumps({
        "benchmark": "rm_pairwise_accuracy", "data": "hh-rlhf harmless-base-test.dev", "model": args.model,
        "labels": args.labels, "train_pairs": len(examples), "test_pairs": acc.n, "epochs": args.epochs,
        "lora": not args.full, "max_length": args.max_length, "steps": result.steps,
        "accuracy": round(acc.accuracy, 4), "ci95": [round(acc.ci_low, 4), round(acc.ci_high, 4)], "correct": acc.correct,
        "ties": acc.ties, "train_pairs_per_s": round(result.pairs_per_second, 3),
        "wall_seconds": round(time.perf_counter() - started, 1), "threads": torch.get_num_threads(),
        "out_dir": str(out),
    }))


if __name__ == "__main__":
    main()
