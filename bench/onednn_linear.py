"""The RL step's training passes with their linear layers on oneDNN (``pipeline.onednn_linear``,
what the loop runs) vs on torch's default kernel (MKL's sgemm on a CPU, what it ran before).

    .venv/bin/python bench/onednn_linear.py [--batches 6] [--prompts 4] [--generations 2] [--max-new-tokens 48]

The bundled model with LoRA, real HH prompts (bench/rl.py's), rollouts of exactly
``--max-new-tokens`` tokens. Per batch each side runs the policy's loss pass (log-probs of the
responses with gradient, then the backward of a REINFORCE-shaped loss) and the value model's
(prompts only), alternating which side goes first, in one process that keeps the memory it
frees (as training does, ``pipeline.heap``); the first batch warms both up and is left out.
The last line is one JSON object with each side's summed seconds, ``speedup`` = plain ÷ oneDNN,
and the largest difference between their log-probs.
"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.rl import alternate_sides, bench_learner, learner_parser  # noqa: E402

parser = learner_parser(__doc__.splitlines()[0], "batches of rollouts both sides train on (the first is warm-up)")


def main() -> None:
    args = parser.parse_args()
    import torch

    from pipeline.heap import keep_freed_memory
    from pipeline.onednn_linear import ROUTED, linears_on_onednn
    from pipeline.rl.loop import response_logprobs
    from pipeline.tokens import pad_right

    learner, contexts = bench_learner(args)
    policy, value = learner.policy, learner.value

    def passes(batch, on_onednn: bool) -> torch.Tensor:
        with linears_on_onednn() if on_onednn else contextlib.nullcontext():
            logp = response_logprobs(policy, batch.ids, batch.mask, batch.tokens, batch.token_mask, batch.k, 1.0)
            v = value(*pad_right([learner.encoded[i] for i in batch.picked], learner.pad, learner.device))
        advantage = torch.linspace(-1.0, 1.0, logp.shape[0])
        (-(advantage * (logp * batch.token_mask).sum(-1)).mean() + v.square().mean()).backward()
        for p in learner.policy_params + learner.value_params:
            p.grad = None
        return logp.detach()

    with keep_freed_memory():
        seconds, largest = alternate_sides(learner, contexts, args, {"onednn": lambda b: passes(b, True),
                                                                     "plain": lambda b: passes(b, False)}, skip_first=True)
    print(json.dumps({
        "benchmark": "rl_training_passes_linear_kernels",
        "settings": {"batches_measured": args.batches - 1, "prompts": args.prompts, "samples_per_prompt": args.generations,
                     "new_tokens": args.max_new_tokens, "lora": True, "threads": torch.get_num_threads(),
                     "routed": ROUTED},
        "onednn_seconds": round(seconds["onednn"], 3),
        "plain_seconds": round(seconds["plain"], 3),
        "speedup": round(seconds["plain"] / seconds["onednn"], 3),
        "max_abs_logprob_difference": largest,
    }))


if __name__ == "__main__":
    main()
