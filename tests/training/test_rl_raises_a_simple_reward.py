"""The paper's RL loop (REINFORCE + value baseline + KL) on the bundled model raises a known reward."""

import json
import math

import pytest

from pipeline import registry
from pipeline.configs import GenerationConfig, RLConfig
from pipeline.generation import generate_samples
from pipeline.rl import train_policy

pytestmark = pytest.mark.slow

QUESTIONS = ["Is the sky blue?", "Do fish swim?", "Is fire cold?", "Can birds fly?", "Is snow warm?", "Do cats bark?",
             "Is water wet?", "Can pigs fly?", "Is the sun hot?", "Do trees grow?", "Is ice hot?", "Can dogs talk?"]
PROMPTS = [q + " Answer yes or no." for q in QUESTIONS]


def says_yes(contexts, responses):
    """The known reward: 1 when the reply starts with "yes", whatever the question."""
    return [1.0 if r.strip().lower().startswith("yes") else 0.0 for r in responses]


def yes_rate(spec, artifact_root):
    loaded = registry.load_causal_lm(spec, artifact_root)
    texts = [s.text for seed in (11, 12) for s in generate_samples(
        loaded.model, loaded.tokenizer, PROMPTS, GenerationConfig(max_new_tokens=4, temperature=1.0, seed=seed))]
    return sum(says_yes(None, texts)) / len(texts)


def test_reinforce_raises_the_mean_reward_with_a_finite_logged_kl(bundled_spec, artifact_root, tmp_path):
    config = RLConfig(policy=bundled_spec, steps=4, batch_size=4, samples_per_prompt=2, max_new_tokens=4, lr=1e-3, beta=0.05,
                      lora=True, checkpoint_every=0, seed=0)
    logged = {}
    result = train_policy(config, PROMPTS, says_yes, tmp_path / "rl", algorithm="reinforce",
                          artifact_root=artifact_root, on_metrics=lambda step, m: logged.setdefault(step, m))
    rewards = [logged[s]["rl/reward"] for s in sorted(logged)]
    assert sorted(logged) == [1, 2, 3, 4] and result.steps == 4
    assert sum(rewards[-2:]) / 2 > rewards[0] + 0.25, rewards

    kls = [logged[s]["rl/kl"] for s in sorted(logged)]
    assert all(math.isfinite(k) for k in kls) and kls[0] == pytest.approx(0.0, abs=1e-4)  # step 1: policy == SFT
    rows = [json.loads(line) for line in (tmp_path / "rl" / "metrics.jsonl").read_text().splitlines()]
    keys = {"rl/reward", "rl/kl", "rl/value_loss", "rl/response_length", "loss/train"}
    assert all(keys <= set(row) for row in rows) and len(rows) == 4

    # The exported policy (LoRA merged into a plain checkpoint) says yes more often than SFT did.
    assert yes_rate(str(result.model_path), artifact_root) > yes_rate(bundled_spec, artifact_root)
