"""Label sources: human hard labels, AI soft labels, and a seeded human + AI mix with a chosen share."""

from itertools import islice

import pytest

from pipeline.data import read
from pipeline.reward import LabelSource, PreferencePair, build_examples, preference_pair

PAIRS = [PreferencePair(f"c{i}", f"a{i}", f"b{i}", human_choice=1 + i % 2, ai_p1=0.1 * (i % 10)) for i in range(40)]


def test_label_sources_parse_from_the_command_line_form():
    assert LabelSource.parse("human") == LabelSource("human", 1.0)
    assert LabelSource.parse("ai:17") == LabelSource("ai", 0.0, "17")
    assert LabelSource.parse("mixed:0.25").human_share == 0.25 and str(LabelSource.parse("mixed:0.25")) == "mixed:0.25"
    with pytest.raises(ValueError):
        LabelSource.parse("mixed:1.5")
    with pytest.raises(ValueError):
        LabelSource.parse("crowd")


def test_human_labels_are_hard_and_ai_labels_soft():
    human = build_examples(PAIRS, "human")
    assert [e.p for e in human[:2]] == [1.0, 0.0] and {e.source for e in human} == {"human"}
    ai = build_examples(PAIRS, "ai")
    assert ai[3].p == pytest.approx(0.3) and {e.source for e in ai} == {"ai"}
    hard = build_examples(PAIRS, "ai", hard=True)
    assert {e.p for e in hard} == {0.0, 1.0} and len(hard) == 36  # the four p = 0.5 pairs are dropped


def test_a_mix_takes_the_chosen_share_from_humans_reproducibly():
    mixed = build_examples(PAIRS, "mixed:0.25", seed=3)
    assert len(mixed) == 40 and sum(e.source == "human" for e in mixed) == 10
    assert mixed == build_examples(PAIRS, "mixed:0.25", seed=3)
    assert mixed != build_examples(PAIRS, "mixed:0.25", seed=4)
    for pair, example in zip(PAIRS, mixed):  # each pair once, with its own label of that source
        assert example.context == pair.context
        expected = (1.0 if pair.human_choice == 1 else 0.0) if example.source == "human" else pair.ai_p1
        assert example.p == pytest.approx(expected)


def test_real_hh_pairs_split_into_context_and_replies_in_random_order(hh_path):
    pairs = [preference_pair(record) for record in islice(read(hh_path, "hh"), 200)]
    assert len(pairs) == 200
    assert all(p.context.startswith("Human:") and not p.context.endswith("Assistant:") for p in pairs)
    assert 70 < sum(p.human_choice == 1 for p in pairs) < 130
