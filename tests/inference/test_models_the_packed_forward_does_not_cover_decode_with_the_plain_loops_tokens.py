"""Models the packed forward does not cover still decode through ``decode_prompts``: another
architecture (a small random GPT-2) on the padded engine, a bfloat16 model on the plain
transformers loop; on each, seeded samples are the plain loop's tokens."""

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from pipeline.generation import decode_prompts, generation_engine, sample
from pipeline.inference.sampling import seeded_generators
from pipeline.tokens import eos_ids, pad_left
from tests.inference.hh_prompts import hh_prompts

pytestmark = pytest.mark.slow

SEEDS = [3, 4, 5, 6]


@pytest.fixture(scope="module")
def gpt2(bundled_lm):
    torch.manual_seed(0)
    tokenizer = bundled_lm.tokenizer
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=512, n_embd=64, n_layer=2, n_head=4,
                        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    return GPT2LMHeadModel(config).eval()


def plain(model, tokenizer, prompts, **kwargs):
    ids, mask = pad_left(prompts, tokenizer.pad_token_id, torch.device("cpu"))
    return sample(model, ids, mask, eos=eos_ids(model, tokenizer), pad_id=tokenizer.pad_token_id, temperature=1.0,
                  generators=seeded_generators(SEEDS, torch.device("cpu")), repeats=2, **kwargs)


def test_another_architecture_decodes_on_the_padded_engine(gpt2, bundled_lm, hh_path):
    tokenizer = bundled_lm.tokenizer
    prompts = hh_prompts(hh_path, tokenizer, 2)
    assert type(generation_engine(gpt2, tokenizer, 4)).__name__ == "PaddedEngine"
    ours = decode_prompts(gpt2, tokenizer, prompts, max_new_tokens=10, temperature=1.0, seeds=SEEDS, repeats=2)
    assert torch.equal(ours.tokens, plain(gpt2, tokenizer, prompts, max_new_tokens=10).tokens)


def test_a_bfloat16_model_decodes_on_the_plain_loop(gpt2, bundled_lm, hh_path):
    tokenizer = bundled_lm.tokenizer
    prompts = hh_prompts(hh_path, tokenizer, 2)
    half = GPT2LMHeadModel(gpt2.config).to(torch.bfloat16).eval()
    half.load_state_dict(gpt2.state_dict())
    assert generation_engine(half, tokenizer, 4) is None
    ours = decode_prompts(half, tokenizer, prompts, max_new_tokens=6, temperature=1.0, seeds=SEEDS, repeats=2)
    assert ours.tokens.shape == (4, 6)
    assert torch.equal(ours.tokens, plain(half, tokenizer, prompts, max_new_tokens=6).tokens)
