"""The exact tests and interval the report falls back on equal scipy's own exact ones:
``binomtest`` for the binomial and sign tests and the Clopper–Pearson interval,
``permutation_test`` (every permutation enumerated) for the two-sample test of 0/1 outcomes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from pipeline.stats.exact import EXACT_BELOW, binomial_p, clopper_pearson, permutation_p, sign_test
from pipeline.stats.significance import paired_prompt_t_test, prompt_t_test, two_sample_win_test, win_test_counts


@pytest.mark.parametrize(("k", "n", "p0"), [(4, 4, 0.5), (0, 4, 0.5), (3, 9, 0.5), (7, 12, 0.3), (1, 1, 0.5),
                                            (17, 29, 0.5), (25, 60, 0.7), (0, 1, 0.2)])
def test_the_binomial_test_is_scipys_binomtest(k, n, p0):
    assert binomial_p(k, n, p0) == pytest.approx(stats.binomtest(k, n, p0).pvalue, rel=1e-9)


def test_four_wins_of_four_give_the_exact_binomial_p_not_zero():
    result = win_test_counts(4, 4)
    assert result.p_value == pytest.approx(0.125, rel=1e-12) == stats.binomtest(4, 4).pvalue
    assert result.kind == "exact binomial"


def test_the_paper_t_test_is_kept_from_30_outcomes_that_vary():
    for wins, n in ((18, 30), (40, 70)):
        x = np.r_[np.ones(wins), np.zeros(n - wins)]
        assert win_test_counts(wins, n).p_value == pytest.approx(stats.ttest_1samp(x, 0.5).pvalue, rel=1e-9)
    below = win_test_counts(18, EXACT_BELOW - 1)
    assert below.p_value == pytest.approx(stats.binomtest(18, EXACT_BELOW - 1).pvalue, rel=1e-9)
    unanimous = win_test_counts(50, 50).p_value
    assert unanimous == pytest.approx(stats.binomtest(50, 50).pvalue, rel=1e-9)
    assert unanimous > 0


@pytest.mark.parametrize(("k1", "n1", "k2", "n2"), [(4, 4, 0, 4), (3, 5, 1, 6), (0, 3, 0, 2), (6, 7, 2, 9), (2, 2, 2, 2)])
def test_the_two_sample_test_is_scipys_exact_permutation_test(k1, n1, k2, n2):
    x, y = np.r_[np.ones(k1), np.zeros(n1 - k1)], np.r_[np.ones(k2), np.zeros(n2 - k2)]
    expected = stats.permutation_test((x, y), lambda a, b, axis: a.mean(axis=axis) - b.mean(axis=axis),
                                      permutation_type="independent", n_resamples=np.inf, vectorized=True).pvalue
    assert permutation_p(k1, n1, k2, n2) == pytest.approx(expected, rel=1e-9)
    for equal_var in (True, False):
        test = two_sample_win_test(k1, n1, k2, n2, equal_var=equal_var)
        assert (test.kind, test.p_value) == ("exact permutation", pytest.approx(expected, rel=1e-9))
        assert test.p_value > 0


def test_three_unanimous_prompts_give_the_sign_test_and_a_clopper_pearson_interval():
    wins, n = np.array([3.0, 3.0, 3.0]), np.array([3.0, 3.0, 3.0])
    result = prompt_t_test(wins, n)
    assert result.kind == "exact sign test over prompts"
    assert result.p_value == pytest.approx(stats.binomtest(3, 3).pvalue) == pytest.approx(0.25)
    interval = clopper_pearson(3, 3, 0.95)
    expected = stats.binomtest(3, 3).proportion_ci(0.95, method="exact")
    assert (interval.low, interval.high) == pytest.approx((expected.low, expected.high), rel=1e-9)
    assert interval.high - interval.low > 0.7


def test_the_sign_test_over_prompts_equals_scipys_sign_flip_permutation_test_when_values_are_equal_in_size():
    d = np.array([0.5, 0.5, -0.5, 0.5, 0.5, 0.5])
    expected = stats.permutation_test((d,), np.mean, permutation_type="samples", n_resamples=np.inf).pvalue
    assert sign_test(d, 0.0) == pytest.approx(expected, rel=1e-9) == pytest.approx(stats.binomtest(5, 6).pvalue)


def test_a_paired_comparison_on_few_prompts_is_the_exact_sign_test():
    wins1, n1 = np.array([2.0, 3, 1, 3]), np.array([3.0, 3, 3, 3])
    wins2, n2 = np.array([0.0, 1, 1, 0]), np.array([3.0, 3, 3, 3])
    result = paired_prompt_t_test(wins1, n1, wins2, n2)
    assert result.kind == "exact sign test over prompts"
    assert result.p_value == pytest.approx(stats.binomtest(3, 3).pvalue)  # the tied prompt is dropped
