"""Pairwise accuracy of a reward model on held-out real HH pairs (with a 95% Wilson interval).

    .venv/bin/python bench/rm_accuracy.py --train 1000 --test 300 [--labels human|ai [--ai-labels FILE]]
                                          [--epochs 1] [--max-length 256] [--batch 8] [--lr 1e-4] [--threads N]
                                          [--train-top-layers K] [--labeler-precision exact|fast]

Reads ../shared/data/hh-rlhf/harmless-base-test.dev.jsonl.gz (1,600 HH-harmless pairs; never
copied), candidate order randomised per pair (seeded). Trains on the first --train pairs and
evaluates on the last --test pairs (disjoint). ``--labels ai`` trains on AI labels from a JSONL
file with one {"context", "candidate_1", "candidate_2", "p1"} object per labelled pair
(p1 = P(candidate 1 preferred), as a labeling run exports them); without --ai-labels the bundled
labeler labels the training pairs first (0-shot, base preamble, swap on) and the labels are
written to OUT/ai_labels.jsonl and reused by a later run. Evaluation is always against the human
labels. --train-top-layers K fine-tunes only the top K blocks (see RewardConfig), which is what
makes 1,000 pairs fit a 2-core CPU. Prints progress, and as the last line one JSON object.
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

from pipeline.progress import Progress  # noqa: E402 - after the path is set

HH = ROOT.parent / "shared" / "data" / "hh-rlhf" / "harmless-base-test.dev.jsonl.gz"


def ai_label_file(pairs, model: str, precision: str) -> Path:
    """Label ``pairs`` with the labeler once; the file is keyed by model, precision and pair count."""
    from pipeline import registry
    from pipeline.configs import LabelingConfig
    from pipeline.labeling.engine import Labeler, Sample

    target = ROOT / "var" / "bench" / f"ai_labels-{model.replace('/', '_')}-{precision}-{len(pairs)}.jsonl"
    if target.exists():
        print(f"reusing AI labels from {target}", file=sys.stderr)
        return target
    artifact_root = Path(os.environ.get("ARTIFACT_ROOT", ROOT / "var" / "artifacts"))
    lm = registry.load_causal_lm(model, artifact_root, precision="exact")
    labeler = Labeler(lm, LabelingConfig(task="harmless", precision=precision))
    started = time.perf_counter()

    def progress(report: Progress) -> None:
        print(f"AI labels {report.done}/{report.total}  {time.perf_counter() - started:.0f}s", file=sys.stderr, flush=True)

    samples = [Sample(p.context, p.candidate_1, p.candidate_2) for p in pairs]
    labels = labeler.label(samples, on_progress=progress)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_suffix(".partial")
    with staging.open("w") as out:
        for p, label in zip(pairs, labels):
            out.write(json.dumps({"context": p.context, "candidate_1": p.candidate_1, "candidate_2": p.candidate_2,
                                  "p1": label.p, "label_mass": label.label_mass}) + "\n")
    staging.rename(target)
    return target


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
    parser.add_argument("--train-top-layers", type=int, default=0, help="fine-tune only the top K blocks (0 = LoRA / --full)")
    parser.add_argument("--labeler-precision", choices=["exact", "fast"], default="exact")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from dataclasses import replace

    from pipeline import registry
    from pipeline.configs import RewardConfig
    from pipeline.data import read
    from pipeline.reward import build_examples, preference_pair, train_reward_model

    pairs = [preference_pair(record) for record in read(HH, "hh", seed=0)]
    if args.train + args.test > len(pairs):
        raise SystemExit(f"only {len(pairs)} pairs: --train + --test must not exceed that")
    train, test = pairs[: args.train], pairs[len(pairs) - args.test :]
    if args.labels == "ai":
        if not args.ai_labels:
            args.ai_labels = ai_label_file(train, args.model, args.labeler_precision)
        soft = {}
        for line in args.ai_labels.read_text().splitlines():
            row = json.loads(line)
            soft[(row["context"], row["candidate_1"], row["candidate_2"])] = float(row["p1"])
        train = [replace(p, ai_p1=soft.get((p.context, p.candidate_1, p.candidate_2))) for p in train]
        # A label file written for other pairs (or another candidate order) would otherwise
        # silently shrink the training set to the pairs it happens to match.
        missing = sum(p.ai_p1 is None for p in train)
        if missing:
            raise SystemExit(f"{args.ai_labels} has no AI label for {missing} of the {len(train)} training pairs")
    examples = build_examples(train, args.labels)

    artifact_root = Path(os.environ.get("ARTIFACT_ROOT", ROOT / "var" / "artifacts"))
    registry.prepare(args.model, artifact_root)
    # The directory name carries every setting that changes what is trained, so a resumed run
    # never picks up a checkpoint of a different configuration.
    tuning = f"top{args.train_top_layers}" if args.train_top_layers else ("full" if args.full else "lora")
    out = args.out or ROOT / "var" / "bench" / (
        f"rm_accuracy-{args.labels}-{args.train}-{args.test}-e{args.epochs}-{tuning}-len{args.max_length}"
        f"-b{args.batch}-lr{args.lr:g}")
    config = RewardConfig(model=args.model, lora=not args.full, train_top_layers=args.train_top_layers, epochs=args.epochs, batch_size=args.batch,
                          max_length=args.max_length, lr=args.lr, head_lr=args.head_lr, checkpoint_every=25, seed=0)
    started = time.perf_counter()

    def on_progress(report: Progress) -> None:
        print(f"{report.describe()}  {time.perf_counter() - started:.0f}s", file=sys.stderr, flush=True)

    result = train_reward_model(config, examples, out, artifact_root=artifact_root, eval_pairs=test,
                                on_progress=on_progress)
    acc = result.accuracy
    print(json.dumps({
        "benchmark": "rm_pairwise_accuracy", "data": "hh-rlhf harmless-base-test.dev", "model": args.model,
        "labels": args.labels, "train_pairs": len(examples), "test_pairs": acc.n, "epochs": args.epochs,
        "lora": not args.full and not args.train_top_layers, "train_top_layers": args.train_top_layers,
        "ai_labels": str(args.ai_labels) if args.labels == "ai" else None, "max_length": args.max_length, "steps": result.steps,
        "accuracy": round(acc.accuracy, 4), "ci95": [round(acc.ci_low, 4), round(acc.ci_high, 4)], "correct": acc.correct,
        "ties": acc.ties, "train_pairs_per_s": round(result.pairs_per_second, 3),
        "wall_seconds": round(time.perf_counter() - started, 1), "threads": torch.get_num_threads(),
        "out_dir": str(out),
    }))


if __name__ == "__main__":
    main()
