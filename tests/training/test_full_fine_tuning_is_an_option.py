"""LoRA is the CPU default; full fine-tuning works for the RM and the policy when configured."""

import pytest
import torch

from pipeline.configs import RewardConfig, RLConfig
from pipeline.lora import is_peft, use_lora
from pipeline.reward import PreferenceExample, train_reward_model
from pipeline.reward.train import build_reward_model
from pipeline.rl import train_policy


def test_lora_is_on_by_default_on_cpu_only():
    assert use_lora(None, torch.device("cpu")) is True
    assert use_lora(None, torch.device("cuda")) is False
    assert use_lora(False, torch.device("cpu")) is False


def test_default_rm_on_cpu_trains_only_adapters_and_head(tiny_model_dir, artifact_root):
    rm = build_reward_model(RewardConfig(model=str(tiny_model_dir), device="cpu"), artifact_root)
    trainable = [n for n, p in rm.named_parameters() if p.requires_grad]
    assert is_peft(rm.body) and all("lora_" in n or n.startswith("head.") for n in trainable)


def test_full_fine_tuning_of_the_rm_and_the_policy(tiny_model_dir, artifact_root, tmp_path):
    examples = [PreferenceExample(f"Human: q{i}", f"good {i}", f"bad {i}", p=1.0) for i in range(8)]
    rm = train_reward_model(RewardConfig(model=str(tiny_model_dir), lora=False, batch_size=4, lr=1e-4, checkpoint_every=0),
                            examples, tmp_path / "rm", artifact_root=artifact_root)
    assert rm.steps == 2 and not is_peft(rm.model.body)

    logged = {}
    policy = train_policy(RLConfig(policy=str(tiny_model_dir), lora=False, steps=2, batch_size=2, max_new_tokens=4,
                                   lr=1e-4, checkpoint_every=0),
                          ["Say hi.", "Name a fruit."], rm.model.as_reward_fn(), tmp_path / "rl",
                          artifact_root=artifact_root, on_metrics=lambda s, m: logged.setdefault(s, m))
    assert policy.steps == 2
    assert logged[1]["rl/kl"] == pytest.approx(0.0, abs=1e-5)  # the frozen reference copy equals the start policy
