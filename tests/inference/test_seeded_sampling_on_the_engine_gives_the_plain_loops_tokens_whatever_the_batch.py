"""Seeded sampling on the engine (each prompt prefilled once for its samples, rows decoded
together) gives the plain transformers loop's tokens in float32 from the same seeds, and a
row's tokens do not depend on the prompts and samples decoded beside it. A minimum length
holds EOS back on both paths alike."""

import pytest
import torch

from pipeline.generation import decode_prompts, sample
from pipeline.inference.sampling import seeded_generators
from pipeline.tokens import eos_ids, pad_left
from tests.inference.hh_prompts import hh_prompts

pytestmark = pytest.mark.slow

SEEDS = [11, 12, 21, 22, 31, 32]  # two samples of each of three prompts


@pytest.fixture(scope="module")
def prompts(bundled_lm, hh_path):
    return hh_prompts(hh_path, bundled_lm.tokenizer, 3)


def plain(lm, prompts, seeds, **kwargs):
    ids, mask = pad_left(prompts, lm.tokenizer.pad_token_id, torch.device("cpu"))
    return sample(lm.model, ids, mask, eos=eos_ids(lm.model, lm.tokenizer), pad_id=lm.tokenizer.pad_token_id,
                  temperature=1.0, generators=seeded_generators(seeds, torch.device("cpu")), repeats=2, **kwargs)


def test_the_same_seeds_give_the_plain_loops_tokens(bundled_lm, prompts):
    ours = decode_prompts(bundled_lm.model, bundled_lm.tokenizer, prompts, max_new_tokens=24, temperature=1.0,
                          seeds=SEEDS, repeats=2)
    reference = plain(bundled_lm, prompts, SEEDS, max_new_tokens=24)
    assert torch.equal(ours.tokens, reference.tokens)
    assert torch.equal(ours.mask, reference.mask)
    assert torch.equal(ours.finished, reference.finished)
    assert len({tuple(row) for row in ours.tokens.tolist()}) == len(SEEDS)  # the seeds do differ


def test_a_row_samples_the_same_alone_as_in_its_batch(bundled_lm, prompts):
    together = decode_prompts(bundled_lm.model, bundled_lm.tokenizer, prompts, max_new_tokens=16, temperature=1.0,
                              seeds=SEEDS, repeats=2)
    alone = decode_prompts(bundled_lm.model, bundled_lm.tokenizer, prompts[1:2], max_new_tokens=16, temperature=1.0,
                           seeds=SEEDS[2:4], repeats=2)
    for row in range(2):
        n = int(alone.mask[row].sum())
        assert together.tokens[2 + row, :n].tolist() == alone.tokens[row, :n].tolist()
        assert int(together.mask[2 + row].sum()) == n


def test_a_minimum_length_holds_eos_back_on_both_paths(bundled_lm, prompts):
    ours = decode_prompts(bundled_lm.model, bundled_lm.tokenizer, prompts, max_new_tokens=12, min_new_tokens=12,
                          temperature=1.0, seeds=SEEDS, repeats=2)
    reference = plain(bundled_lm, prompts, SEEDS, max_new_tokens=12, min_new_tokens=12)
    assert ours.tokens.shape == (6, 12) and bool(ours.mask.all()) and not bool(ours.finished.any())
    assert torch.equal(ours.tokens, reference.tokens)
