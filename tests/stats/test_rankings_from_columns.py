"""Rankings given as flat columns (as the reports read them from a database) encode to the same
table as Ranking objects, with the same refusals (ties, gaps, a policy twice, a rater ranking an item twice)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.stats import encode_rankings
from pipeline.stats.tables import encode_ranking_flat

from .conftest import make_rankings


def as_columns(rankings, rng, *, lengths=True):
    """Each ranking as shown to its rater: policies shuffled, with their 1-based ranks."""
    policy_rows, rank_rows, length_rows = [], [], []
    for r in rankings:
        shown = rng.permutation(len(r.order))
        policy_rows.append([r.order[i] for i in shown])
        rank_rows.append([int(i) + 1 for i in shown])
        length_rows.append([r.lengths[i] for i in shown] if lengths and r.lengths is not None else None)
    return ([r.item_id for r in rankings], [r.prompt_id for r in rankings], [r.rater_id for r in rankings],
            policy_rows, rank_rows, length_rows)


def encode_ranking_columns(item_ids, prompt_ids, rater_ids, policy_rows, rank_rows, length_rows=None):
    """Rows of (policies, ranks, lengths or None) laid out flat, NaN for a row without lengths."""
    sizes = [len(row) for row in policy_rows]
    lengths = None if length_rows is None else np.array(
        [x for row, k in zip(length_rows, sizes) for x in (row if row is not None else [np.nan] * k)], dtype=float)
    return encode_ranking_flat(item_ids, prompt_ids, rater_ids, np.array(sizes),
                               [p for row in policy_rows for p in row], np.array([r for row in rank_rows for r in row]),
                               lengths)


def assert_same_table(a, b):
    assert a.policies == b.policies and a.items == b.items and a.raters == b.raters and a.prompts == b.prompts
    np.testing.assert_array_equal(a.rank, b.rank)
    np.testing.assert_array_equal(a.length, b.length)
    for name in ("prompt", "item", "rater"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


@settings(max_examples=25, deadline=None, database=None)
@given(seed=st.integers(0, 10_000), partial=st.booleans(), with_lengths=st.booleans())
def test_columns_encode_to_the_same_table_as_ranking_objects(seed, partial, with_lengths):
    rankings = make_rankings(seed, n_prompts=12, partial=partial, with_lengths=with_lengths)
    columns = as_columns(rankings, np.random.default_rng(seed))
    assert_same_table(encode_ranking_columns(*columns), encode_rankings(rankings))


def test_rows_without_lengths_leave_nan_only_in_their_own_rows():
    rankings = make_rankings(3, n_prompts=6)
    columns = list(as_columns(rankings, np.random.default_rng(3)))
    columns[5] = [None if i % 2 else row for i, row in enumerate(columns[5])]
    table = encode_ranking_columns(*columns)
    reference = encode_rankings(rankings).length
    np.testing.assert_array_equal(table.length[0::2], reference[0::2])
    assert np.isnan(table.length[1::2]).all()


def one_row(policies, ranks, item="item-1", rater="ann"):
    return [item], ["prompt-1"], [rater], [policies], [ranks]


def test_a_tie_in_the_columns_is_rejected_and_named():
    with pytest.raises(ValueError, match="item 'item-1' by rater 'ann': tie"):
        encode_ranking_columns(*one_row(["sft", "rlhf", "rlaif"], [1, 1, 3]))


def test_a_gap_in_the_ranks_is_rejected():
    with pytest.raises(ValueError, match=r"ranks must be 1..3"):
        encode_ranking_columns(*one_row(["sft", "rlhf", "rlaif"], [1, 2, 4]))


def test_a_policy_shown_twice_is_rejected():
    with pytest.raises(ValueError, match="more than once"):
        encode_ranking_columns(*one_row(["sft", "sft", "rlaif"], [1, 2, 3]))


def test_a_single_response_is_not_a_ranking():
    with pytest.raises(ValueError, match="at least two"):
        encode_ranking_columns(*one_row(["sft"], [1]))


def test_a_rater_ranking_an_item_twice_is_rejected():
    columns = [a + b for a, b in zip(one_row(["sft", "rlhf"], [1, 2]), one_row(["sft", "rlhf"], [2, 1]))]
    with pytest.raises(ValueError, match="ranked item 'item-1' more than once"):
        encode_ranking_columns(*columns)
