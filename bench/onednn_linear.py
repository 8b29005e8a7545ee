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

import argparse
import contextlib
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.rl import bench_prompts  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--batches", type=int, default=6, help="batches of rollouts both sides train on (the first is warm-up)")
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
    from pipeline.heap import keep_freed_memory
    from pipeline.onednn_linear import ROUTED, linears_on_onednn
    from pipeline.rl.loop import build_learner, response_logprobs
    from pipeline.steps import Laps
    from pipeline.tokens import pad_right

    artifact_root = ROOT / "var" / "artifacts"
    registry.prepare(registry.DEFAULT_MODEL, artifact_root)
    tokenizer = AutoTokenizer.from_pretrained(registry.resolve(registry.DEFAULT_MODEL, artifact_root).location)
    contexts = bench_prompts(tokenizer, args.prompts * args.batches, args.max_prompt_tokens)
    config = RLConfig(lora=True, batch_size=args.prompts, samples_per_prompt=args.generations,
                      max_new_tokens=args.max_new_tokens, min_new_tokens=args.max_new_tokens, device="cpu",
                      max_prompt_tokens=args.max_prompt_tokens)
    learner = build_learner(config, contexts, artifact_root, Ranks())
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

    seconds = {"onednn": 0.0, "plain": 0.0}
    largest = 0.0
    with keep_freed_memory():
        for b in range(args.batches):
            picked = list(range(b * args.prompts, (b + 1) * args.prompts))
            batch = learner.rollout(picked, b, contexts, lambda c, r: [0.0] * len(r), Laps())
            out = {}
            for name in (("onednn", "plain") if b % 2 == 0 else ("plain", "onednn")):
                start = time.perf_counter()
                out[name] = passes(batch, name == "onednn")
                if b > 0:
                    seconds[name] += time.perf_counter() - start
            real = batch.token_mask.bool()
            largest = max(largest, float((out["onednn"][real] - out["plain"][real]).abs().max()))
            print(f"batch {b}: oneDNN {seconds['onednn']:.2f} s, plain {seconds['plain']:.2f} s so far", flush=True)
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
