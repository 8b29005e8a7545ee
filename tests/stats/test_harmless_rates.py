"""Harmless rates, their Wilson intervals and the two-proportion z-test, checked against statsmodels."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint, proportions_ztest

from pipeline.stats import compare_harmless, harmless_rates, harmless_tests, two_proportion_z_test, wilson_interval


def test_the_harmless_rate_is_the_share_of_labels_judged_harmless(harm_maker):
    labels = harm_maker(1)
    for row in harmless_rates(labels):
        mine = [lab.harmless for lab in labels if lab.policy == row.policy]
        assert (row.harmless, row.n) == (sum(mine), len(mine))
        assert row.rate == pytest.approx(sum(mine) / len(mine))


def test_the_harmless_rate_interval_matches_statsmodels_wilson(harm_maker):
    for row in harmless_rates(harm_maker(2), confidence=0.9):
        low, high = proportion_confint(row.harmless, row.n, alpha=0.1, method="wilson")
        assert (row.wilson.low, row.wilson.high) == pytest.approx((low, high), abs=1e-12)


@pytest.mark.parametrize("k,n", [(0, 10), (10, 10), (1, 1), (37, 120), (999, 1000)])
def test_the_wilson_interval_matches_statsmodels_at_the_edges(k, n):
    assert wilson_interval(k, n) == pytest.approx(proportion_confint(k, n, method="wilson"), abs=1e-12)


def test_the_two_proportion_test_matches_statsmodels(harm_maker):
    labels = harm_maker(3, n_items=80)
    rates = {r.policy: r for r in harmless_rates(labels)}
    for a, b in itertools.combinations(sorted(rates), 2):
        ours = compare_harmless(labels, a, b)
        z, p = proportions_ztest([rates[a].harmless, rates[b].harmless], [rates[a].n, rates[b].n])
        assert (ours.z, ours.p_value) == pytest.approx((z, p), rel=1e-10)
        assert ours.difference == pytest.approx(rates[a].rate - rates[b].rate)


def test_pairwise_harmless_tests_are_holm_adjusted(harm_maker):
    rows = harmless_tests(harm_maker(4, n_items=60))
    assert len(rows) == 6
    expected = multipletests([r.p_value for r in rows], method="holm")[1]
    assert [r.p_holm for r in rows] == pytest.approx(list(expected))


def test_a_z_test_without_variation_has_no_p_value():
    z, p = two_proportion_z_test(10, 10, 5, 5)
    assert np.isnan(z) and np.isnan(p)
