"""Bad decoding requests are refused with a message naming what is wrong, before any forward."""

import pytest

from pipeline.generation import decode_prompts, generation_engine

pytestmark = pytest.mark.slow

PROMPT = [1, 2, 3, 4]


def test_sampling_without_a_seed_per_row_is_refused(bundled_lm):
    with pytest.raises(ValueError, match="one seed per row: 4 rows, 2 seeds"):
        decode_prompts(bundled_lm.model, bundled_lm.tokenizer, [PROMPT, PROMPT], max_new_tokens=4, temperature=1.0,
                       seeds=[1, 2], repeats=2)
    with pytest.raises(ValueError, match="one seed per row: 1 rows, 0 seeds"):
        decode_prompts(bundled_lm.model, bundled_lm.tokenizer, [PROMPT], max_new_tokens=4, temperature=0.7)


def test_a_minimum_length_above_the_maximum_is_refused(bundled_lm):
    engine = generation_engine(bundled_lm.model, bundled_lm.tokenizer, 1)
    assert engine is not None
    before = engine.stats.forward_calls
    with pytest.raises(ValueError, match=r"min_new_tokens must be in \[0, max_new_tokens = 4\], got 5"):
        engine.decode([PROMPT], [[]], [0], 4, min_new_tokens=5)
    assert engine.stats.forward_calls == before


def test_an_unknown_decoding_precision_is_refused_by_the_decoder_and_the_rl_config(bundled_lm):
    from pipeline.configs import RLConfig

    with pytest.raises(ValueError, match=r"unknown decoding precision 'fp8': use one of \('exact', 'bf16'\)"):
        decode_prompts(bundled_lm.model, bundled_lm.tokenizer, [PROMPT], max_new_tokens=4, temperature=0.0, precision="fp8")
    with pytest.raises(ValueError, match="rollout_precision must be one of"):
        RLConfig(rollout_precision="bf16-mlp")
