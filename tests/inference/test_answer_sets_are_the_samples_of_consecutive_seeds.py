"""Several answers per context (what self-generated pairs need) decode in one batch with each
prompt prefilled once, and answer j is exactly the sample ``generate_samples`` gives with seed
``seed + j``: pairs stored by either way are the same pairs."""

from itertools import islice

import pytest

from pipeline.configs import GenerationConfig
from pipeline.data import read
from pipeline.generation import generate_answer_sets, generate_samples

pytestmark = pytest.mark.slow


def test_answer_j_is_the_sample_of_seed_plus_j_in_input_order(bundled_lm, hh_path):
    contexts = [record.context for record in islice(read(hh_path, "hh"), 3)]
    config = GenerationConfig(max_new_tokens=8, temperature=1.0, seed=5, batch_size=2, max_prompt_tokens=256)
    sets = generate_answer_sets(bundled_lm.model, bundled_lm.tokenizer, contexts, config, answers=2)
    first = generate_samples(bundled_lm.model, bundled_lm.tokenizer, contexts, config)
    second = generate_samples(bundled_lm.model, bundled_lm.tokenizer, contexts, config.replace(seed=6))
    assert [[a.context for a in answers] for answers in sets] == [[c, c] for c in contexts]
    assert [answers[0] for answers in sets] == first
    assert [answers[1] for answers in sets] == second
    assert first != second  # two seeds, two different answer sets
