"""Wall time of a demo-size arm on the bundled model: 16 prompts, 8 RL steps, 48 new tokens.

    .venv/bin/python bench/demo_arm.py [--arm rlhf|direct-rlaif|dpo-human] [--threads N]

``rlhf``: an RM trained (LoRA, 1 epoch) on the demo experiment's human-labelled train pairs,
then 8 steps of our REINFORCE (RLConfig defaults: 4 prompts x 2 samples per step) on 16 train
prompts with that RM as reward, then one sample per test prompt (what raters rank).
``direct-rlaif``: the same RL with the labeler's direct 1-10 score of every rollout as reward
(no RM; the labeler is the bundled model). ``dpo-human``: DPO on the same pairs, then the samples.
The target is under 5 minutes on the 2-core CPU. Last line: one JSON object with stage times.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEMO = ROOT / "webapp" / "experiments" / "demo" / "dialogues.jsonl"


def demo_pairs():
    """The demo's train and test pairs, candidates in the order load_demo stores them."""
    from pipeline.data import read
    from pipeline.reward import preference_pair

    train, test = [], []
    for record in read(DEMO, "jsonl"):
        (test if record.split == "test" else train).append(preference_pair(record))
    return train, test


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arm", choices=["rlhf", "direct-rlaif", "dpo-human"], default="rlhf")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    args = parser.parse_args()

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from pipeline import registry
    from pipeline.configs import DPOConfig, GenerationConfig, RewardConfig, RLConfig
    from pipeline.dpo import train_dpo
    from pipeline.generation import generate_for_checkpoint
    from pipeline.reward import build_examples, train_reward_model
    from pipeline.rl import train_policy

    artifact_root = Path(os.environ.get("ARTIFACT_ROOT", ROOT / "var" / "artifacts"))
    registry.prepare(registry.DEFAULT_MODEL, artifact_root)
    train, test = demo_pairs()
    prompts = [p.context for p in train][:16]
    test_prompts = [p.context for p in test][:16] or prompts
    times: dict[str, float] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        out = Path(out)
        if args.arm in ("rlhf", "direct-rlaif"):
            t = time.perf_counter()
            if args.arm == "rlhf":
                rm = train_reward_model(RewardConfig(model=registry.DEFAULT_MODEL, batch_size=8, max_length=256,
                                                     checkpoint_every=0),
                                        build_examples(train, "human"), out / "rm", artifact_root=artifact_root)
                reward_fn = rm.model.as_reward_fn()
                times["reward_model_s"] = time.perf_counter() - t
            else:
                from pipeline.configs import LabelingConfig
                from pipeline.labeling.direct import DirectScorer
                from pipeline.rl import direct_reward_fn

                labeler = registry.load_causal_lm(registry.DEFAULT_MODEL, artifact_root, precision="exact")
                reward_fn = direct_reward_fn(DirectScorer(labeler, LabelingConfig(task="harmless")))
                times["labeler_load_s"] = time.perf_counter() - t
            t = time.perf_counter()
            rl_config = RLConfig(policy=registry.DEFAULT_MODEL, steps=8, max_new_tokens=48, checkpoint_every=4)
            policy = train_policy(rl_config, prompts, reward_fn, out / "rl", artifact_root=artifact_root)
            times["rl_s"] = time.perf_counter() - t
            extra = {"rm_pairs": len(train) if args.arm == "rlhf" else 0, "rl_steps": policy.steps, "rl_prompts_per_step": rl_config.batch_size,
                     "rl_samples_per_prompt": rl_config.samples_per_prompt, "rl_reward": policy.metrics.get("rl/reward"),
                     "rl_kl": policy.metrics.get("rl/kl"), "rl_tokens_per_s": round(policy.tokens_per_second, 2)}
        else:
            t = time.perf_counter()
            policy = train_dpo(DPOConfig(policy=registry.DEFAULT_MODEL, batch_size=4, max_length=256, checkpoint_every=0),
                               build_examples(train, "human"), out / "dpo", artifact_root=artifact_root)
            times["dpo_s"] = time.perf_counter() - t
            extra = {"dpo_pairs": len(train), "dpo_steps": policy.steps}
        t = time.perf_counter()
        samples = generate_for_checkpoint(str(policy.model_path), str(artifact_root), test_prompts,
                                          GenerationConfig(max_new_tokens=48, temperature=0.7, seed=0))
        times["samples_s"] = time.perf_counter() - t
    total = time.perf_counter() - started
    print(json.dumps({
        "benchmark": "demo_arm_wall_time", "arm": args.arm, "model": "smollm2-135m-instruct",
        "prompts": len(prompts), "new_tokens": 48, "samples": len(samples), "threads": torch.get_num_threads(),
        **{k: round(v, 1) for k, v in times.items()}, **extra,
        "total_s": round(total, 1), "under_5_minutes": total < 300,
    }))


if __name__ == "__main__":
    main()
