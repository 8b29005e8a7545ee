"""Reward-model training throughput: ours vs TRL's RewardTrainer, preference pairs per second.

    .venv/bin/python bench/rm.py [--steps 4] [--batch 8] [--max-length 256] [--threads N]

Both train the bundled model with the same settings on the same real HH pairs (one epoch of
steps × batch pairs, every pair short enough at ``--max-length`` that neither side truncates or
drops it): LoRA r=16/alpha=32 on all linear layers + a scalar head, batch size, max length,
AdamW, no gradient checkpointing, float32. TRL gets exactly our token ids (prompt + candidate +
EOS, as pre-tokenized ``chosen_ids``/``rejected_ids``), so the work per pair is identical.
Each side runs in its own subprocess (clean peak memory), ``--rounds`` times in ABBA order so
drifting background load hits both alike; pairs/s = all pairs ÷ all summed step times.
The last line is one JSON object with both throughputs and ``speedup`` = ours ÷ TRL's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._harness import comparison, peak_of, run_sides  # noqa: E402

HH = ROOT.parent / "shared" / "data" / "hh-rlhf" / "harmless-base-test.dev.jsonl.gz"


def bench_examples(artifact_root: Path, n: int, max_length: int):
    """The first n HH pairs whose prompt + longer candidate fit max_length, with our token ids."""
    from transformers import AutoTokenizer

    from pipeline import registry
    from pipeline.data import read
    from pipeline.reward.data import human_examples, preference_pair
    from pipeline.tokens import encode_prompt, encode_response, format_prompt

    tokenizer = AutoTokenizer.from_pretrained(registry.resolve(registry.DEFAULT_MODEL, artifact_root).location)
    picked, ids = [], []
    for example in human_examples(preference_pair(record) for record in read(HH, "hh")):
        prompt = encode_prompt(tokenizer, format_prompt(tokenizer, example.context))
        c1, c2 = encode_response(tokenizer, example.candidate_1), encode_response(tokenizer, example.candidate_2)
        if len(prompt) + max(len(c1), len(c2)) <= max_length and max(len(c1), len(c2)) <= max_length // 2:
            picked.append(example)
            chosen, rejected = (c1, c2) if example.p == 1.0 else (c2, c1)
            ids.append((prompt + chosen, prompt + rejected))
        if len(picked) == n:
            break
    return picked, ids


def run_ours(args, artifact_root: Path, step_seconds: list[float]) -> None:
    from pipeline import registry
    from pipeline.configs import RewardConfig
    from pipeline.reward import train_reward_model

    examples, _ = bench_examples(artifact_root, args.steps * args.batch, args.max_length)
    config = RewardConfig(model=registry.DEFAULT_MODEL, lora=True, batch_size=args.batch, max_length=args.max_length,
                          max_steps=args.steps, lr=1e-4, checkpoint_every=0)

    def on_metrics(step, metrics):
        if "time/step_seconds" in metrics:
            step_seconds.append(metrics["time/step_seconds"])

    with tempfile.TemporaryDirectory() as out:
        train_reward_model(config, examples, out, artifact_root=artifact_root, on_metrics=on_metrics)


def run_trl(args, artifact_root: Path, step_seconds: list[float]) -> None:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, TrainerCallback
    from trl import RewardConfig as TrlRewardConfig
    from trl import RewardTrainer

    from pipeline import registry

    location = registry.resolve(registry.DEFAULT_MODEL, artifact_root).location
    _, ids = bench_examples(artifact_root, args.steps * args.batch, args.max_length)
    tokenizer = AutoTokenizer.from_pretrained(location)
    model = AutoModelForSequenceClassification.from_pretrained(location, num_labels=1, dtype=torch.float32)
    data = Dataset.from_dict({"chosen_ids": [c for c, _ in ids], "rejected_ids": [r for _, r in ids]})
    started: dict[int, float] = {}

    class Timer(TrainerCallback):
        def on_step_begin(self, a, state, control, **kw):
            started[state.global_step] = time.perf_counter()

        def on_step_end(self, a, state, control, **kw):
            step_seconds.append(time.perf_counter() - started[state.global_step - 1])

    with tempfile.TemporaryDirectory() as out:
        trainer = RewardTrainer(
            model=model,
            args=TrlRewardConfig(
                output_dir=out, per_device_train_batch_size=args.batch, max_steps=args.steps, learning_rate=1e-4,
                max_length=args.max_length, activation_checkpointing=False, bf16=False, use_cpu=not torch.cuda.is_available(),
                logging_steps=1, report_to="none", save_strategy="no", lr_scheduler_type="constant",
                dataloader_num_workers=0, disable_dropout=True, seed=0,
            ),
            train_dataset=data,
            processing_class=tokenizer,
            peft_config=LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear",
                                   task_type="SEQ_CLS", modules_to_save=["score"]),
            callbacks=[Timer()],
        )
        trainer.train()


def run_phase(args: argparse.Namespace) -> dict:
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from pipeline import registry

    artifact_root = Path(os.environ.get("ARTIFACT_ROOT", ROOT / "var" / "artifacts"))
    registry.prepare(registry.DEFAULT_MODEL, artifact_root)
    step_seconds: list[float] = []
    (run_ours if args.phase == "ours" else run_trl)(args, artifact_root, step_seconds)
    return {
        "phase": args.phase,
        "batch": args.batch,
        "steps": len(step_seconds),
        "step_seconds": [round(s, 3) for s in step_seconds],
        "pairs_per_second": args.batch * len(step_seconds) / sum(step_seconds),
        "pairs_per_second_median_step": args.batch / statistics.median(step_seconds),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "peak_cuda_mb": torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None,
        "threads": torch.get_num_threads(),
    }


def pool(runs: list[dict]) -> dict:
    """One side's runs combined: all pairs over all step time; peaks are maxima."""
    seconds = [s for r in runs for s in r["step_seconds"]]
    batch = runs[0]["batch"]
    return {**runs[0], "pairs_per_second": batch * len(seconds) / sum(seconds),
            "pairs_per_second_median_step": batch / statistics.median(seconds),
            **peak_of(runs)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4, help="optimizer steps per side (pairs = steps x batch)")
    parser.add_argument("--batch", type=int, default=8, help="preference pairs per step")
    parser.add_argument("--max-length", type=int, default=256, help="max tokens of prompt + candidate")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    parser.add_argument("--rounds", type=int, default=2, help="runs per side, in ABBA order (pooled)")
    parser.add_argument("--phase", choices=["ours", "trl"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(run_phase(args)))
        return

    started = time.perf_counter()
    runs = run_sides(__file__, ["--steps", str(args.steps), "--batch", str(args.batch), "--max-length", str(args.max_length),
         "--threads", str(args.threads)], args.rounds)
    results = {phase: pool(r) for phase, r in runs.items()}
    ours, trl = results["ours"], results["trl"]
    print(json.dumps({
        "benchmark": "rm_pairs_per_second",
        "model": "smollm2-135m-instruct",
        "settings": {"batch_pairs": args.batch, "max_length": args.max_length, "steps": args.steps, "lora": True,
                     "lora_r": 16, "threads": ours["threads"]},
        "ours_pairs_per_s": round(ours["pairs_per_second"], 3),
        "trl_pairs_per_s": round(trl["pairs_per_second"], 3),
        **comparison(ours, trl, "pairs_per_second", args.rounds, started),
    }))


if __name__ == "__main__":
    main()
