"""Win rates from strict rankings: counted like a brute-force loop, mirrored, relabelled, intervals."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.proportion import proportion_confint

from pipeline.stats import Ranking, encode_rankings, win_rate, win_rate_table, win_rates_vs

NAMES = ("a", "b", "c", "d")

orders = st.permutations(NAMES).flatmap(lambda p: st.integers(2, len(p)).map(lambda k: tuple(p[:k])))
ranking_lists = st.lists(st.tuples(st.integers(0, 5), orders), min_size=1, max_size=25)


def build(rows):
    return [Ranking(f"item-{k}", f"prompt-{prompt}", f"rater-{k % 3}", order) for k, (prompt, order) in enumerate(rows)]


def brute_force(rankings, a, b):
    wins = n = 0
    for r in rankings:
        if a in r.order and b in r.order:
            n += 1
            wins += r.order.index(a) < r.order.index(b)
    return wins, n


def test_the_win_rate_matches_a_brute_force_count_over_rankings(rankings_maker):
    rankings = rankings_maker(7, n_prompts=40, raters=5)
    table = win_rate_table(rankings, n_boot=50, seed=1)
    assert len(table) == 4 * 3
    for row in table:
        wins, n = brute_force(rankings, row.a, row.b)
        assert (row.wins, row.n) == (wins, n)
        assert row.rate == pytest.approx(wins / n)


@settings(max_examples=40, deadline=None, database=None)
@given(rows=ranking_lists)
def test_a_win_rate_and_its_mirror_sum_to_one(rows):
    rankings = build(rows)
    by_pair = {(r.a, r.b): r for r in win_rate_table(rankings, n_boot=20, seed=3)}
    for (a, b), row in by_pair.items():
        mirror = by_pair[(b, a)]
        assert row.n == mirror.n and row.wins + mirror.wins == row.n
        if row.n:
            assert row.rate + mirror.rate == pytest.approx(1.0, abs=1e-12)
            assert row.wilson.low + mirror.wilson.high == pytest.approx(1.0, abs=1e-12)
            assert row.bootstrap.low + mirror.bootstrap.high == pytest.approx(1.0, abs=1e-12)
            assert row.p_value == pytest.approx(mirror.p_value, nan_ok=True)


@settings(max_examples=40, deadline=None, database=None)
@given(rows=ranking_lists, perm=st.permutations(NAMES))
def test_relabelling_the_policies_permutes_the_win_rate_table(rows, perm):
    rename = dict(zip(NAMES, perm))
    original = {(r.a, r.b): r for r in win_rate_table(build(rows), n_boot=20, seed=5)}
    relabelled_rows = [(prompt, tuple(rename[p] for p in order)) for prompt, order in rows]
    relabelled = {(r.a, r.b): r for r in win_rate_table(build(relabelled_rows), n_boot=20, seed=5)}
    assert set(relabelled) == {(rename[a], rename[b]) for a, b in original}
    for (a, b), row in original.items():
        other = relabelled[(rename[a], rename[b])]
        assert (other.wins, other.n) == (row.wins, row.n)
        for x, y in [(row.rate, other.rate), (row.bootstrap.low, other.bootstrap.low),
                     (row.bootstrap.high, other.bootstrap.high), (row.p_holm, other.p_holm)]:
            assert x == pytest.approx(y, abs=1e-12, nan_ok=True)


def test_the_wilson_interval_matches_statsmodels(rankings_maker):
    for row in win_rate_table(rankings_maker(11), n_boot=0):
        low, high = proportion_confint(row.wins, row.n, alpha=0.05, method="wilson")
        assert (row.wilson.low, row.wilson.high) == pytest.approx((low, high), abs=1e-12)


def test_the_prompt_bootstrap_is_reproducible_with_a_seed_and_brackets_the_rate(rankings_maker):
    rankings = rankings_maker(12, n_prompts=60)
    first = win_rate(rankings, "rlaif", "sft", n_boot=300, seed=9)
    again = win_rate(rankings, "rlaif", "sft", n_boot=300, seed=9)
    other = win_rate(rankings, "rlaif", "sft", n_boot=300, seed=10)
    assert first == again
    assert first.bootstrap != other.bootstrap
    assert first.bootstrap.low < first.rate < first.bootstrap.high


def test_one_win_rate_agrees_with_its_row_in_the_table(rankings_maker):
    rankings = rankings_maker(13)
    table = {(r.a, r.b): r for r in win_rate_table(rankings, n_boot=100, seed=4)}
    for a, b in itertools.permutations(("sft", "rlaif", "reference"), 2):
        single = win_rate(rankings, a, b, n_boot=100, seed=4)
        row = table[(a, b)]
        assert (single.wins, single.n, single.rate, single.wilson) == (row.wins, row.n, row.rate, row.wilson)
        assert single.bootstrap.low == pytest.approx(row.bootstrap.low, abs=1e-12)
        assert single.p_value == row.p_value


def test_table_p_values_are_holm_adjusted_over_distinct_pairs(rankings_maker):
    from statsmodels.stats.multitest import multipletests

    table = win_rate_table(rankings_maker(14), n_boot=0)
    distinct = [r for r in table if r.a < r.b]
    expected = multipletests([r.p_value for r in distinct], method="holm")[1]
    assert [r.p_holm for r in distinct] == pytest.approx(list(expected), abs=1e-12)


def test_win_rates_vs_the_baseline_cover_every_other_policy(rankings_maker):
    rows = win_rates_vs(rankings_maker(15), "sft", n_boot=0)
    assert sorted(r.a for r in rows) == ["reference", "rlaif", "rlhf"]
    assert all(r.b == "sft" for r in rows)


def test_an_unknown_policy_is_reported_by_name(rankings_maker):
    with pytest.raises(ValueError, match="'gpt'"):
        win_rate(rankings_maker(16), "gpt", "sft")


def test_a_pair_never_ranked_together_has_no_rate():
    rankings = [Ranking("i1", "p", "r", ("a", "b")), Ranking("i2", "p", "r", ("c", "d"))]
    row = win_rate(encode_rankings(rankings), "a", "c", n_boot=10)
    assert row.n == 0 and row.rate != row.rate
    assert row.to_dict()["rate"] is None
