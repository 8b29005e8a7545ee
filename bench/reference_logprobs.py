"""The RL step's KL-reference pass: the inference engine's packed forward (what the loop runs)
vs the plain batched forward (``response_logprobs``, what it ran before), on the same rollouts.

    .venv/bin/python bench/reference_logprobs.py [--batches 6] [--prompts 4] [--generations 2] [--max-new-tokens 48]

The bundled model with LoRA (the reference = the policy with its adapters switched off), real
HH prompts (bench/rl.py's), rollouts of exactly ``--max-new-tokens`` tokens. Both sides score
each batch in turn, alternating which goes first, in one process; the last line is one JSON
object with the summed seconds of each, ``speedup`` = plain ÷ engine, and the largest
difference between their log-probs (the loop's contract: within 1e-4).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.rl import bench_prompts  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--batches", type=int, default=6, help="batches of rollouts scored by both sides")
parser.add_argument("--prompts", type=int, default=4, help="prompts per batch")
parser.add_argument("--generations", type=int, default=2, help="samples per prompt")
parser.add_argument("--max-new-tokens", type=int, default=48)
parser.add_argument("--max-prompt-tokens", type=int, default=128)


def main() -> None:
    args = parser.parse_args()
    import torch
    from transformers import AutoTokenizer

    from pipeline import registry
    from pipeline.configs import RLConfig
    from pipeline.distributed import Ranks
    from pipeline.rl.loop import build_learner, response_logprobs
    from pipeline.steps import Laps

    artifact_root = ROOT / "var" / "artifacts"
    registry.prepare(registry.DEFAULT_MODEL, artifact_root)
    tokenizer = AutoTokenizer.from_pretrained(registry.resolve(registry.DEFAULT_MODEL, artifact_root).location)
    contexts = bench_prompts(tokenizer, args.prompts * args.batches, args.max_prompt_tokens)
    config = RLConfig(lora=True, batch_size=args.prompts, samples_per_prompt=args.generations,
                      max_new_tokens=args.max_new_tokens, min_new_tokens=args.max_new_tokens, device="cpu",
                      max_prompt_tokens=args.max_prompt_tokens)
    learner = build_learner(config, contexts, artifact_root, Ranks())
    policy = learner.policy

    def plain(batch):
        with torch.no_grad(), policy.disable_adapter():
            return response_logprobs(policy, batch.ids, batch.mask, batch.tokens, batch.token_mask, batch.k, 1.0)

    sides = {"engine": learner.reference_logprobs, "plain": plain}
    seconds = {name: 0.0 for name in sides}
    largest = 0.0
    for b in range(args.batches):
        picked = list(range(b * args.prompts, (b + 1) * args.prompts))
        batch = learner.rollout(picked, b, contexts, lambda c, r: [0.0] * len(r), Laps())
        out = {}
        for name in (("engine", "plain") if b % 2 == 0 else ("plain", "engine")):
            start = time.perf_counter()
            out[name] = sides[name](batch)
            seconds[name] += time.perf_counter() - start
        real = batch.token_mask.bool()
        largest = max(largest, float((out["engine"][real] - out["plain"][real]).abs().max()))
        print(f"batch {b}: engine {seconds['engine']:.2f} s, plain {seconds['plain']:.2f} s so far", flush=True)
    print(json.dumps({
        "benchmark": "rl_reference_logprobs",
        "settings": {"batches": args.batches, "prompts": args.prompts, "samples_per_prompt": args.generations,
                     "new_tokens": args.max_new_tokens, "lora": True, "threads": torch.get_num_threads()},
        "engine_seconds": round(seconds["engine"], 3),
        "plain_seconds": round(seconds["plain"], 3),
        "speedup": round(seconds["plain"] / seconds["engine"], 3),
        "max_abs_difference": largest,
    }))


if __name__ == "__main__":
    main()
