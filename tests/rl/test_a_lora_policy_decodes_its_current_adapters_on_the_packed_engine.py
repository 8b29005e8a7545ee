"""An RL policy is the SFT model plus LoRA adapters that change at every step. Its rollouts
decode on the packed engine with the adapters' terms added live (``inference.adapters``):
the same tokens as the plain loop through peft's forward, unmerged or merged; after the
adapters change in place the engine decodes the new ones, without rebuilding its packed base
copy; adapters it does not compute (dropout) take the padded engine."""

import pytest
import torch

from pipeline import registry
from pipeline.configs import LoraSettings
from pipeline.generation import decode_prompts, generation_engine, sample
from pipeline.inference.sampling import seeded_generators
from pipeline.lora import add_lora
from pipeline.tokens import eos_ids, pad_left
from tests.inference.hh_prompts import hh_prompts

pytestmark = pytest.mark.slow

SEEDS = [7, 8, 9, 10]


def nudge_adapters(policy, seed):
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, p in policy.named_parameters():
            if "lora_B" in name:
                p.add_(torch.randn_like(p) * 0.5)


def plain(policy, tokenizer, prompts):
    ids, mask = pad_left(prompts, tokenizer.pad_token_id, torch.device("cpu"))
    return sample(policy, ids, mask, max_new_tokens=8, eos=eos_ids(policy, tokenizer), pad_id=tokenizer.pad_token_id,
                  temperature=1.0, generators=seeded_generators(SEEDS, torch.device("cpu")), repeats=2).tokens


def ours(policy, tokenizer, prompts):
    return decode_prompts(policy, tokenizer, prompts, max_new_tokens=8, temperature=1.0, seeds=SEEDS, repeats=2).tokens


def test_changing_adapters_decode_the_plain_loops_tokens_on_one_packed_base(tiny_model_dir, artifact_root, hh_path):
    loaded = registry.load_causal_lm(str(tiny_model_dir), artifact_root)
    tokenizer = loaded.tokenizer
    policy = add_lora(loaded.model, LoraSettings(r=4, alpha=8), causal_lm=True).eval()
    prompts = hh_prompts(hh_path, tokenizer, 2)
    decoders = set()
    for step in range(2):  # the second round decodes adapters changed in place
        nudge_adapters(policy, step)
        expected = plain(policy, tokenizer, prompts)
        engine = generation_engine(policy, tokenizer, 4)
        assert type(engine).__name__ == "PackedEngine"
        decoders.add(id(engine.fused))
        assert torch.equal(ours(policy, tokenizer, prompts), expected)
    assert len(decoders) == 1  # the packed base copy was built once, the adapters read live
    policy.merge_adapter()  # merged: the terms are in the (changed) base weights, not added twice
    try:
        assert type(generation_engine(policy, tokenizer, 4)).__name__ == "PackedEngine"
        assert torch.equal(ours(policy, tokenizer, prompts), expected)
    finally:
        policy.unmerge_adapter()
    with policy.disable_adapter():  # the SFT reference: no terms at all
        assert torch.equal(ours(policy, tokenizer, prompts), plain(policy, tokenizer, prompts))
    assert not torch.equal(expected, plain(add_lora(registry.load_causal_lm(str(tiny_model_dir), artifact_root).model,
                                                    LoraSettings(r=4, alpha=8), causal_lm=True).eval(), tokenizer, prompts))


def test_adapters_with_dropout_decode_on_the_padded_engine(tiny_model_dir, artifact_root):
    loaded = registry.load_causal_lm(str(tiny_model_dir), artifact_root)
    policy = add_lora(loaded.model, LoraSettings(r=4, alpha=8, dropout=0.1), causal_lm=True).eval()
    assert type(generation_engine(policy, loaded.tokenizer, 4)).__name__ == "PaddedEngine"
