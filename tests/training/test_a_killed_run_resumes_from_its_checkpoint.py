"""A run killed mid-way continues from its last checkpoint and ends exactly where an unkilled run ends."""

import json

import pytest
import torch
from safetensors.torch import load_file

from pipeline.configs import RewardConfig, RLConfig
from pipeline.reward import PreferenceExample, train_reward_model
from pipeline.rl import train_policy

PROMPTS = ["Say something.", "Hello there!", "Write a word.", "What time is it?", "Name a colour.", "Count to three."]


class Killed(Exception):
    pass


def kill_at(step_to_die):
    def on_metrics(step, metrics):
        if step == step_to_die:
            raise Killed(f"simulated crash after step {step}")

    return on_metrics


def metric_steps(run_dir):
    return [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def short_replies(contexts, responses):
    return [-len(r) / 100 for r in responses]


def test_rl_run_resumes_at_the_saved_step_and_matches_an_unbroken_run(tiny_model_dir, artifact_root, tmp_path):
    config = RLConfig(policy=str(tiny_model_dir), steps=4, batch_size=2, samples_per_prompt=2, max_new_tokens=6,
                      lr=1e-3, lora=True, checkpoint_every=2, seed=3)
    unbroken = train_policy(config, PROMPTS, short_replies, tmp_path / "unbroken", artifact_root=artifact_root)

    with pytest.raises(Killed):
        train_policy(config, PROMPTS, short_replies, tmp_path / "broken", artifact_root=artifact_root,
                     on_metrics=kill_at(3))
    assert (tmp_path / "broken" / "checkpoints" / "step-00000002" / "DONE").is_file()
    assert not (tmp_path / "broken" / "final").exists()

    resumed = train_policy(config, PROMPTS, short_replies, tmp_path / "broken", artifact_root=artifact_root)
    assert resumed.resumed_from == 2 and resumed.steps == 4 == unbroken.steps
    assert metric_steps(tmp_path / "broken") == [1, 2, 3, 4]  # the killed run's step 3 is logged once
    a, b = load_file(unbroken.model_path / "model.safetensors"), load_file(resumed.model_path / "model.safetensors")
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=0, atol=1e-6)
    assert resumed.metrics["rl/reward"] == pytest.approx(unbroken.metrics["rl/reward"], abs=1e-6)


def test_reward_model_run_resumes_at_the_saved_step_and_matches_an_unbroken_run(tiny_model_dir, artifact_root, tmp_path):
    examples = [PreferenceExample(f"Human: question {i}?", f"Helpful answer {i}.", f"Rude answer {i}!", p=0.8 if i % 2 else 0.3)
                for i in range(12)]
    config = RewardConfig(model=str(tiny_model_dir), lora=True, batch_size=4, epochs=2, checkpoint_every=2, seed=5)
    unbroken = train_reward_model(config, examples, tmp_path / "unbroken", artifact_root=artifact_root)

    with pytest.raises(Killed):
        train_reward_model(config, examples, tmp_path / "broken", artifact_root=artifact_root, on_metrics=kill_at(5))
    resumed = train_reward_model(config, examples, tmp_path / "broken", artifact_root=artifact_root)
    assert (unbroken.steps, resumed.steps, resumed.resumed_from) == (6, 6, 4)
    assert metric_steps(tmp_path / "broken") == [1, 2, 3, 4, 5, 6]
    head_a = torch.load(unbroken.model_path / "reward_head.pt")
    head_b = torch.load(resumed.model_path / "reward_head.pt")
    torch.testing.assert_close(head_a["weight"], head_b["weight"], rtol=0, atol=1e-6)
    assert resumed.metrics["loss/train"] == pytest.approx(unbroken.metrics["loss/train"], abs=1e-6)
