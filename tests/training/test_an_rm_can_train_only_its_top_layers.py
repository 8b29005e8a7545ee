"""An RM can fine-tune only its top transformer blocks: the rest is frozen and stays unchanged,
so a step costs about one forward pass (how the real-data RM accuracy runs fit a 2-core CPU)."""

import pytest
import torch

from pipeline.configs import RewardConfig
from pipeline.lora import is_peft, train_only_top_layers
from pipeline.reward import PreferenceExample, train_reward_model
from pipeline.reward.train import build_reward_model


def test_only_the_top_blocks_the_final_norm_and_the_head_train(tiny_model_dir, artifact_root):
    rm = build_reward_model(RewardConfig(model=str(tiny_model_dir), train_top_layers=1, device="cpu"), artifact_root)
    blocks = rm.body.layers
    trainable = {n for n, p in rm.named_parameters() if p.requires_grad}
    assert not is_peft(rm.body)
    assert trainable and all(n.startswith((f"body.layers.{len(blocks) - 1}.", "body.norm.", "head.")) for n in trainable)
    assert any(n.startswith("body.norm.") for n in trainable) and any(n.startswith("head.") for n in trainable)
    assert not any(p.requires_grad for p in rm.body.get_input_embeddings().parameters())


def test_training_changes_the_top_block_and_leaves_the_rest_alone(tiny_model_dir, artifact_root, tmp_path):
    examples = [PreferenceExample(f"Human: q{i}", f"good {i}", f"bad {i}", p=1.0) for i in range(8)]
    before = build_reward_model(RewardConfig(model=str(tiny_model_dir), device="cpu"), artifact_root).body.state_dict()
    before = {k.replace("base_model.model.", ""): v.clone() for k, v in before.items() if "lora_" not in k}
    result = train_reward_model(
        RewardConfig(model=str(tiny_model_dir), train_top_layers=1, batch_size=4, lr=1e-3, checkpoint_every=0, device="cpu"),
        examples, tmp_path / "rm", artifact_root=artifact_root,
    )
    after = result.model.body.state_dict()
    top = f"layers.{len(result.model.body.layers) - 1}."
    changed = {k for k, v in after.items() if k in before and not torch.equal(v, before[k].to(v.dtype))}
    assert changed and all(k.startswith(top) or k.startswith("norm.") for k in changed)


def test_asking_for_more_blocks_than_the_model_has_is_refused(tiny_model_dir, artifact_root):
    rm = build_reward_model(RewardConfig(model=str(tiny_model_dir), lora=False, device="cpu"), artifact_root)
    with pytest.raises(ValueError, match="between 1 and the model's"):
        train_only_top_layers(rm.body, 10_000)
