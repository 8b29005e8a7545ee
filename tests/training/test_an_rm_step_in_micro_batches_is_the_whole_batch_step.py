"""A reward-model step can run its batch in micro-batches (``micro_batch_size``), holding the
activations of a few pairs at a time: each part's loss is weighted by its share of the batch, so
the trained model is the one the whole-batch step gives, up to float rounding. A micro-batch of
fewer than one pair is refused."""

import pytest
import torch

from pipeline.configs import RewardConfig
from pipeline.reward import PreferenceExample, train_reward_model
from pipeline.reward.train import build_reward_model


def trained(tiny_model_dir, artifact_root, out, micro: int | None):
    examples = [PreferenceExample(f"Human: question {i}?", f"a helpful answer {i}" * (1 + i % 3), f"no {i}", p=0.2 + 0.1 * i)
                for i in range(6)]
    config = RewardConfig(model=str(tiny_model_dir), batch_size=6, micro_batch_size=micro, lr=1e-3, max_steps=2,
                          checkpoint_every=0, device="cpu", seed=3)
    return train_reward_model(config, examples, out, artifact_root=artifact_root)


def test_micro_batches_of_one_and_of_four_train_the_whole_batch_model(tiny_model_dir, artifact_root, tmp_path):
    whole = trained(tiny_model_dir, artifact_root, tmp_path / "whole", None)
    torch.manual_seed(3)
    untrained = build_reward_model(RewardConfig(model=str(tiny_model_dir), device="cpu", seed=3), artifact_root)
    assert not torch.allclose(whole.model.head.weight, untrained.head.weight, atol=1e-4)  # the steps moved it
    for micro in (1, 4):
        parts = trained(tiny_model_dir, artifact_root, tmp_path / f"micro{micro}", micro)
        for (name, a), (_, b) in zip(whole.model.state_dict().items(), parts.model.state_dict().items()):
            assert torch.allclose(a, b, atol=1e-5), name
        assert parts.metrics["loss/train"] == pytest.approx(whole.metrics["loss/train"], abs=1e-5)


def test_a_micro_batch_below_one_pair_is_refused():
    with pytest.raises(ValueError, match="micro_batch_size must be >= 1"):
        RewardConfig(micro_batch_size=0)
