"""DPO with a ``max_length`` no prompt fits in would train on nothing (TRL's num_samples=0, no
error): it is refused before training, naming the field, its value and the prompts' lengths,
and it leaves no checkpoint behind."""

import pytest

from pipeline.configs import DPOConfig
from pipeline.dpo import train_dpo
from pipeline.reward import PreferencePair, build_examples


def test_a_max_length_below_every_prompt_is_refused_with_the_prompt_lengths(tiny_model_dir, artifact_root, tmp_path):
    pairs = [PreferencePair(f"Human: please explain, at some length, how step {i} of the recipe works?",
                            "Gladly: mix it.", "No.", human_choice=1) for i in range(4)]
    config = DPOConfig(policy=str(tiny_model_dir), lora=True, batch_size=2, max_steps=2, max_length=8)
    with pytest.raises(ValueError) as refused:
        train_dpo(config, build_examples(pairs, "human"), tmp_path / "dpo", artifact_root=artifact_root)
    message = str(refused.value)
    assert "dpo.max_length is 8 tokens" in message
    assert "shortest" in message and "typical" in message and "longest" in message
    assert not (tmp_path / "dpo" / "final").exists() and not (tmp_path / "dpo" / "trl").exists()
