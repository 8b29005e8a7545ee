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

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.rl import alternate_sides, bench_learner, learner_parser  # noqa: E402

parser = learner_parser(__doc__.splitlines()[0], "batches of rollouts scored by both sides")


def main() -> None:
    args = parser.parse_args()
    import torch

    from pipeline.rl.loop import response_logprobs

    learner, contexts = bench_learner(args)
    policy = learner.policy

    def plain(batch):
        with torch.no_grad(), policy.disable_adapter():
            return response_logprobs(policy, batch.ids, batch.mask, batch.tokens, batch.token_mask, batch.k, 1.0)

    seconds, largest = alternate_sides(learner, contexts, args, {"engine": learner.reference_logprobs, "plain": plain})
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
