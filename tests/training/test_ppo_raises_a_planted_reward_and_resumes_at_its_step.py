"""Our PPO (the REINFORCE loop's rollouts, value and KL reward with a clipped update) raises a planted
reward on the bundled model, and a killed PPO run resumes at its saved step and ends where an unbroken one does."""

import json
import math

import pytest
import torch
from safetensors.torch import load_file

from pipeline.configs import RLConfig
from pipeline.rl import ALGORITHMS, train_policy
from tests.training.test_a_killed_run_resumes_from_its_checkpoint import PROMPTS as SHORT_PROMPTS
from tests.training.test_a_killed_run_resumes_from_its_checkpoint import Killed, kill_at, metric_steps, short_replies
from tests.training.test_rl_raises_a_simple_reward import PROMPTS, says_yes


@pytest.mark.slow
def test_ppo_raises_the_mean_reward_and_logs_its_clipping(bundled_spec, artifact_root, tmp_path):
    config = RLConfig(policy=bundled_spec, steps=4, batch_size=4, samples_per_prompt=2, max_new_tokens=4, lr=1e-3, beta=0.05,
                      lora=True, checkpoint_every=0, seed=0, ppo_epochs=2, ppo_minibatch_size=2)
    logged = {}
    result = train_policy(config, PROMPTS, says_yes, tmp_path / "ppo", algorithm="ppo",
                          artifact_root=artifact_root, on_metrics=lambda step, m: logged.setdefault(step, m))
    assert sorted(logged) == [1, 2, 3, 4] and result.steps == 4 and result.algorithm == "ppo"
    rewards = [logged[s]["rl/reward"] for s in sorted(logged)]
    assert sum(rewards[-2:]) / 2 > rewards[0] + 0.25, rewards

    assert logged[1]["rl/kl"] == pytest.approx(0.0, abs=1e-4)  # step 1 samples from the SFT policy itself
    for row in logged.values():
        assert 0.0 <= row["rl/clipfrac"] <= 1.0 and row["rl/approx_kl"] >= 0.0
        assert all(math.isfinite(row[k]) for k in ("loss/train", "rl/kl", "rl/value_loss", "rl/approx_kl"))
    # Four updates per batch at lr 1e-3 move the policy off the rollout policy: some ratios get clipped.
    assert max(row["rl/clipfrac"] for row in logged.values()) > 0.0


def test_ppo_is_one_of_the_algorithms():
    assert "ppo" in ALGORITHMS


def test_a_killed_ppo_run_resumes_at_the_saved_step_and_matches_an_unbroken_run(tiny_model_dir, artifact_root, tmp_path):
    config = RLConfig(policy=str(tiny_model_dir), steps=4, batch_size=3, samples_per_prompt=2, max_new_tokens=6,
                      lr=1e-3, lora=True, checkpoint_every=2, seed=3, ppo_epochs=2, ppo_minibatch_size=2)
    unbroken = train_policy(config, SHORT_PROMPTS, short_replies, tmp_path / "unbroken", algorithm="ppo",
                            artifact_root=artifact_root)

    with pytest.raises(Killed):
        train_policy(config, SHORT_PROMPTS, short_replies, tmp_path / "broken", algorithm="ppo",
                     artifact_root=artifact_root, on_metrics=kill_at(3))
    assert (tmp_path / "broken" / "checkpoints" / "step-00000002" / "DONE").is_file()

    resumed = train_policy(config, SHORT_PROMPTS, short_replies, tmp_path / "broken", algorithm="ppo",
                           artifact_root=artifact_root)
    assert resumed.resumed_from == 2 and resumed.steps == 4 == unbroken.steps and resumed.algorithm == "ppo"
    assert metric_steps(tmp_path / "broken") == [1, 2, 3, 4]  # the killed run's step 3 is logged once
    a, b = load_file(unbroken.model_path / "model.safetensors"), load_file(resumed.model_path / "model.safetensors")
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=1e-6)
    for key in ("rl/reward", "rl/clipfrac", "rl/approx_kl", "loss/train"):
        assert resumed.metrics[key] == pytest.approx(unbroken.metrics[key], abs=1e-6), key
    rows = [json.loads(line) for line in (tmp_path / "broken" / "metrics.jsonl").read_text().splitlines()]
    assert all({"rl/clipfrac", "rl/approx_kl", "rl/value_loss"} <= set(row) for row in rows)
