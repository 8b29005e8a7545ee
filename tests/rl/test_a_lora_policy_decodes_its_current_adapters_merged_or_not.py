"""An RL policy is the SFT model plus LoRA adapters. Its rollouts decode on the packed engine
while the adapters are merged (``lora_merged``, as the loop does on a CPU) and on the padded
engine while they are not; both give the tokens the plain loop gives through peft's forward,
and after the adapters change (a training step) the packed engine decodes the new weights,
not a stale copy."""

import pytest
import torch

from pipeline import registry
from pipeline.configs import LoraSettings
from pipeline.generation import decode_prompts, generation_engine, sample
from pipeline.inference.sampling import seeded_generators
from pipeline.lora import add_lora, lora_merged
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


def test_merged_and_unmerged_adapters_decode_the_plain_loops_tokens(tiny_model_dir, artifact_root, hh_path):
    loaded = registry.load_causal_lm(str(tiny_model_dir), artifact_root)
    tokenizer = loaded.tokenizer
    policy = add_lora(loaded.model, LoraSettings(r=4, alpha=8), causal_lm=True).eval()
    prompts = hh_prompts(hh_path, tokenizer, 2)
    for step in range(2):  # the second round decodes adapters changed in place
        nudge_adapters(policy, step)
        expected = plain(policy, tokenizer, prompts)
        assert type(generation_engine(policy, tokenizer, 4)).__name__ == "PaddedEngine"
        assert torch.equal(ours(policy, tokenizer, prompts), expected)
        with lora_merged(policy):
            assert type(generation_engine(policy, tokenizer, 4)).__name__ == "PackedEngine"
            assert torch.equal(ours(policy, tokenizer, prompts), expected)
    assert not torch.equal(expected, plain(add_lora(registry.load_causal_lm(str(tiny_model_dir), artifact_root).model,
                                                    LoraSettings(r=4, alpha=8), causal_lm=True).eval(), tokenizer, prompts))
