"""Rankings and harm labels are validated when built, and encoded once into arrays."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.stats import HarmLabel, Ranking, encode_harm_labels, encode_rankings

NAMES = ["sft", "rlhf", "rlaif", "reference", "large"]


@settings(max_examples=60, deadline=None, database=None)
@given(order=st.permutations(NAMES).flatmap(lambda p: st.integers(2, len(p)).map(lambda k: list(p[:k]))),
       data=st.data())
def test_a_ranking_with_a_tie_cannot_be_constructed(order, data):
    repeated = data.draw(st.sampled_from(order))
    position = data.draw(st.integers(0, len(order)))
    tied = order[:position] + [repeated] + order[position:]
    with pytest.raises(ValueError, match="tie") as info:
        Ranking("item", "prompt", "rater", tuple(tied))
    assert repeated in str(info.value)


@settings(max_examples=30, deadline=None, database=None)
@given(order=st.permutations(NAMES))
def test_a_strict_ranking_keeps_its_order_and_positions(order):
    ranking = Ranking("item", "prompt", "rater", order)
    assert ranking.order == tuple(order)
    assert [ranking.position(p) for p in order] == list(range(len(order)))


def test_a_ranking_of_fewer_than_two_policies_is_rejected():
    with pytest.raises(ValueError, match="at least two"):
        Ranking("item", "prompt", "rater", ("sft",))


def test_a_single_string_is_not_mistaken_for_an_order():
    with pytest.raises(ValueError, match="sequence"):
        Ranking("item", "prompt", "rater", "sft")


def test_lengths_given_as_a_mapping_are_aligned_with_the_order():
    ranking = Ranking("i", "p", "r", ("rlaif", "sft"), {"sft": 40, "rlaif": 90})
    assert ranking.lengths == (90.0, 40.0)
    assert ranking.length_of("sft") == 40.0


@pytest.mark.parametrize("lengths", [{"sft": 1}, (1, 2, 3), {"sft": 1, "rlaif": -3}, {"sft": 1, "rlaif": "long"}])
def test_lengths_that_do_not_match_the_ranked_policies_are_rejected(lengths):
    with pytest.raises(ValueError):
        Ranking("i", "p", "r", ("rlaif", "sft"), lengths)


def test_a_rater_who_ranked_the_same_item_twice_is_rejected_at_encoding():
    rankings = [Ranking("i1", "p1", "ann", ("sft", "rlhf")), Ranking("i1", "p1", "ann", ("rlhf", "sft"))]
    with pytest.raises(ValueError, match="more than once") as info:
        encode_rankings(rankings)
    assert "ann" in str(info.value) and "i1" in str(info.value)


def test_an_item_used_with_two_prompts_is_rejected_at_encoding():
    rankings = [Ranking("i1", "p1", "ann", ("sft", "rlhf")), Ranking("i1", "p2", "bob", ("rlhf", "sft"))]
    with pytest.raises(ValueError, match="more than one prompt"):
        encode_rankings(rankings)


def test_dicts_are_accepted_as_rankings_and_encoded_into_rank_positions():
    table = encode_rankings([
        {"item_id": 1, "prompt_id": 1, "rater_id": "a", "order": ["rlaif", "sft", "rlhf"], "lengths": [9, 3, 5]},
        {"item_id": 2, "prompt_id": 1, "rater_id": "a", "order": ["sft", "rlaif"]},
    ])
    assert table.policies == ("rlaif", "rlhf", "sft")
    assert table.rank.tolist() == [[0, 2, 1], [1, -1, 0]]
    assert table.length[0].tolist() == [9.0, 5.0, 3.0]
    assert all(x != x for x in table.length[1])  # NaN: no lengths recorded


def test_a_harm_label_must_be_a_boolean():
    with pytest.raises(ValueError, match="True or False"):
        HarmLabel("i", "p", "r", "sft", "yes")


def test_a_repeated_harm_label_is_rejected_at_encoding():
    labels = [HarmLabel("i", "p", "r", "sft", True), HarmLabel("i", "p", "r", "sft", False)]
    with pytest.raises(ValueError, match="more than once"):
        encode_harm_labels(labels)
