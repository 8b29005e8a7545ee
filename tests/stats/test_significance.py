"""Our t-tests and Holm correction agree with scipy and statsmodels on the same data."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from pipeline.stats import (
    compare_win_rates,
    holm,
    outcomes,
    t_test_one_sample,
    t_test_one_sample_counts,
    t_test_paired,
    t_test_two_sample,
    t_test_two_sample_counts,
)


@pytest.mark.parametrize("seed", range(5))
def test_the_one_sample_t_test_of_a_win_rate_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    x = (rng.random(int(rng.integers(5, 300))) < rng.uniform(0.2, 0.8)).astype(float)
    expected = stats.ttest_1samp(x, 0.5)
    for ours in (t_test_one_sample(x, 0.5), t_test_one_sample_counts(x.sum(), x.size, 0.5)):
        assert ours.statistic == pytest.approx(expected.statistic, rel=1e-10)
        assert ours.p_value == pytest.approx(expected.pvalue, rel=1e-9)
        assert ours.df == expected.df


@pytest.mark.parametrize("equal_var", [True, False])
@pytest.mark.parametrize("seed", range(5))
def test_student_and_welch_two_sample_tests_match_scipy(seed, equal_var):
    rng = np.random.default_rng(100 + seed)
    x = (rng.random(int(rng.integers(5, 300))) < 0.7).astype(float)
    y = (rng.random(int(rng.integers(5, 300))) < 0.6).astype(float)
    expected = stats.ttest_ind(x, y, equal_var=equal_var)
    for ours in (t_test_two_sample(x, y, equal_var), t_test_two_sample_counts(x.sum(), x.size, y.sum(), y.size, equal_var)):
        assert ours.statistic == pytest.approx(expected.statistic, rel=1e-10)
        assert ours.p_value == pytest.approx(expected.pvalue, rel=1e-9)
        assert ours.df == pytest.approx(expected.df, rel=1e-10)


def test_the_paired_t_test_matches_scipy():
    rng = np.random.default_rng(3)
    x = rng.random(40)
    y = x + rng.normal(0.05, 0.2, 40)
    expected = stats.ttest_rel(x, y)
    ours = t_test_paired(x, y)
    assert (ours.statistic, ours.p_value) == pytest.approx((expected.statistic, expected.pvalue), rel=1e-10)


def test_comparing_two_win_rates_matches_scipy_on_the_same_outcomes(rankings_maker):
    rankings = rankings_maker(21, n_prompts=60, raters=5)
    first, second = ("rlaif", "sft"), ("rlhf", "sft")
    result = compare_win_rates(rankings, first, second)
    x, y = outcomes(rankings, *first), outcomes(rankings, *second)
    for ours, equal_var in ((result.student, True), (result.welch, False)):
        expected = stats.ttest_ind(x, y, equal_var=equal_var)
        assert (ours.statistic, ours.p_value) == pytest.approx((expected.statistic, expected.pvalue), rel=1e-9)
    assert result.difference == pytest.approx(x.mean() - y.mean())


def test_the_paired_prompt_test_uses_per_prompt_mean_wins_on_shared_prompts(rankings_maker):
    rankings = rankings_maker(22, n_prompts=60, raters=3)
    first, second = ("rlaif", "sft"), ("reference", "rlhf")

    def per_prompt(a, b):
        tally = {}
        for r in rankings:
            if a in r.order and b in r.order:
                won, seen = tally.get(r.prompt_id, (0, 0))
                tally[r.prompt_id] = (won + (r.order.index(a) < r.order.index(b)), seen + 1)
        return {p: won / seen for p, (won, seen) in tally.items()}

    m1, m2 = per_prompt(*first), per_prompt(*second)
    shared = sorted(set(m1) & set(m2))
    expected = stats.ttest_rel([m1[p] for p in shared], [m2[p] for p in shared])
    paired = compare_win_rates(rankings, first, second).paired
    assert paired.n1 == len(shared)
    assert (paired.statistic, paired.p_value) == pytest.approx((expected.statistic, expected.pvalue), rel=1e-9)


@pytest.mark.parametrize("seed", range(5))
def test_holm_matches_statsmodels(seed):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0, 0.2, int(rng.integers(1, 15))) ** 2
    p[rng.random(p.size) < 0.2] = p[0]  # ties among p-values
    assert holm(p) == pytest.approx(multipletests(p, method="holm")[1], abs=1e-15)


def test_holm_leaves_missing_p_values_out_of_the_family():
    adjusted = holm([0.01, float("nan"), 0.04])
    assert np.isnan(adjusted[1])
    assert adjusted[[0, 2]] == pytest.approx(multipletests([0.01, 0.04], method="holm")[1])


def test_a_unanimous_win_is_infinitely_significant_like_scipy():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scipy's zero-variance precision note
        expected = stats.ttest_1samp(np.ones(10), 0.5)
    ours = t_test_one_sample_counts(10, 10)
    assert ours.statistic == expected.statistic == np.inf
    assert ours.p_value == expected.pvalue == 0.0
