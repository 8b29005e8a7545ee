"""Greedy policy decoding (RL rollouts, samples for raters) runs on the engine's packed forward
and gives, row for row, the tokens ``model.generate`` gives on the plain transformers model,
EOS included, with the rollout's mask and finished flags describing them."""

import pytest
import torch

from pipeline.generation import decode_prompts, generation_engine
from pipeline.tokens import eos_ids
from tests.inference.hh_prompts import hh_prompts

pytestmark = pytest.mark.slow


def test_greedy_rows_are_model_generates_tokens(bundled_lm, hh_path):
    model, tokenizer = bundled_lm.model, bundled_lm.tokenizer
    prompts = hh_prompts(hh_path, tokenizer, 4)
    assert type(generation_engine(model, tokenizer, len(prompts))).__name__ == "PackedEngine"
    stop = eos_ids(model, tokenizer)

    roll = decode_prompts(model, tokenizer, prompts, max_new_tokens=32, temperature=0.0)

    assert roll.tokens.shape[0] == roll.mask.shape[0] == roll.finished.shape[0] == len(prompts)
    for row, prompt in enumerate(prompts):
        with torch.inference_mode():
            expected = model.generate(torch.tensor([prompt]), attention_mask=torch.ones(1, len(prompt), dtype=torch.long),
                                      do_sample=False, max_new_tokens=32, eos_token_id=stop,
                                      pad_token_id=tokenizer.pad_token_id)[0, len(prompt):].tolist()
        n = int(roll.mask[row].sum())
        assert roll.tokens[row, :n].tolist() == expected
        assert bool(roll.finished[row]) == (expected[-1] in stop)
        assert (roll.tokens[row, n:] == tokenizer.pad_token_id).all()
