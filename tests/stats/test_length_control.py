"""Length control: the logistic fit matches statsmodels, removes a planted length bias, and survives separation."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import statsmodels.api as sm

from pipeline.stats import fit_logistic, length_control, length_table
from pipeline.stats.simulate import simulate_rankings


def test_the_logistic_fit_matches_statsmodels_logit():
    rng = np.random.default_rng(0)
    x = rng.normal(10, 40, 500).round()
    y = (rng.random(500) < 1 / (1 + np.exp(-(0.3 + 0.02 * x)))).astype(float)
    expected = sm.Logit(y, sm.add_constant(x)).fit(disp=0)
    ours = fit_logistic(x, y)
    assert ours.converged and not ours.penalized
    assert (ours.intercept, ours.slope) == pytest.approx(tuple(expected.params), rel=1e-7)
    assert (ours.se_intercept, ours.se_slope) == pytest.approx(tuple(expected.bse), rel=1e-6)


def test_grouped_counts_give_the_same_fit_as_raw_rows():
    rng = np.random.default_rng(1)
    x = rng.integers(-5, 6, 300).astype(float)
    y = (rng.random(300) < 0.6).astype(float)
    raw = fit_logistic(x, y)
    keys, counts = np.unique(np.column_stack([x, y]), axis=0, return_counts=True)
    grouped = fit_logistic(keys[:, 0], keys[:, 1], counts)
    assert (grouped.intercept, grouped.slope, grouped.se_intercept) == pytest.approx(
        (raw.intercept, raw.slope, raw.se_intercept), rel=1e-9)


def test_the_length_adjusted_win_rate_removes_a_planted_length_preference():
    # "long" is no better than "sft" but writes 100 tokens more, and raters like length.
    rankings = simulate_rankings({"sft": 0.0, "long": 0.0}, n_prompts=3000, raters_per_prompt=1, seed=5,
                                 length_means={"sft": 50, "long": 150}, length_sd=40, length_effect=1.0)
    row = length_control(rankings, "long", "sft")
    assert row.mean_gap == pytest.approx(100, abs=5)
    assert row.raw_rate > 0.65
    assert row.adjusted_ci.low < 0.5 < row.adjusted_ci.high
    assert row.slope_per_100_tokens == pytest.approx(1.0, abs=0.35)


@pytest.mark.parametrize("y_of", [lambda x: (x > 0).astype(float), lambda x: np.ones_like(x)])
def test_perfect_separation_is_fitted_with_a_penalty_and_said_so(y_of):
    x = np.arange(-20.0, 21.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = fit_logistic(x, y_of(x))
    assert fit.penalized and "separated" in fit.note
    assert np.isfinite([fit.intercept, fit.slope, fit.se_intercept]).all()


def test_equal_lengths_fall_back_to_an_intercept_only_fit():
    fit = fit_logistic(np.zeros(10), np.array([1.0] * 7 + [0.0] * 3))
    assert fit.slope == 0.0 and "intercept-only" in fit.note
    assert 1 / (1 + np.exp(-fit.intercept)) == pytest.approx(0.7)


def test_length_rows_mirror_each_other(rankings_maker):
    rows = {(r.a, r.b): r for r in length_table(rankings_maker(8, n_prompts=40))}
    for (a, b), row in rows.items():
        mirror = rows[(b, a)]
        assert row.mean_gap == pytest.approx(-mirror.mean_gap)
        assert row.adjusted_rate + mirror.adjusted_rate == pytest.approx(1.0)
        assert row.adjusted_ci.low + mirror.adjusted_ci.high == pytest.approx(1.0)


def test_rankings_without_lengths_give_an_empty_length_row(rankings_maker):
    row = length_control(rankings_maker(9, with_lengths=False), "rlaif", "sft")
    assert row.n == 0 and row.note == "no length data"
    assert row.to_dict()["adjusted_rate"] is None
