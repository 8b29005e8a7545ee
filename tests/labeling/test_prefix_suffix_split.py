"""The part both candidate orders share is a prefix string, and splitting there changes no token."""

import pytest

from pipeline.configs import LabelingConfig
from pipeline.labeling.prompts import PromptBuilder

CONFIGS = [
    LabelingConfig(),
    LabelingConfig(preamble="detailed", shots=2),
    LabelingConfig(task="helpful", shots=1, cot=True),
]


def ids(tokenizer, text):
    return tokenizer(text, add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize("config", CONFIGS, ids=["base-0shot", "detailed-2shot", "helpful-cot-1shot"])
def test_tokenizing_prefix_and_suffix_apart_gives_the_tokens_of_the_whole_prompt(tokenizer, hh_pairs, config):
    builder = PromptBuilder(config, tokenizer)
    steps = ["rationale", "cot-answer"] if config.cot else ["answer"]
    for sample, _ in hh_pairs[:40]:
        prefix = builder.prefix(sample.context)
        assert prefix.startswith(builder.head)
        for step in steps:
            for first, second in [(sample.candidate_1, sample.candidate_2), (sample.candidate_2, sample.candidate_1)]:
                suffix = builder.suffix(first, second, step=step, rationale="Response 1 is safer.")
                assert ids(tokenizer, prefix) + ids(tokenizer, suffix) == ids(tokenizer, prefix + suffix)
        # the head (shared by every pair) splits cleanly too
        assert ids(tokenizer, builder.head) + ids(tokenizer, prefix[len(builder.head):]) == ids(tokenizer, prefix)


def test_the_split_sits_just_before_a_newline_that_follows_text(tokenizer, hh_pairs):
    builder = PromptBuilder(LabelingConfig(), tokenizer)
    sample = hh_pairs[0][0]
    prefix, suffix = builder.prefix(sample.context), builder.suffix(sample.candidate_1, sample.candidate_2)
    assert not prefix[-1].isspace() and suffix.startswith("\n")
    assert not builder.head[-1].isspace() and prefix[len(builder.head)] == "\n"
