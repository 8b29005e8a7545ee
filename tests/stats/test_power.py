"""Sample sizes from the power formulas give roughly the requested power when simulated."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.stats import (
    plan_sample_size,
    power_one_sample,
    power_two_sample,
    sample_size_one_sample,
    sample_size_two_sample,
    t_test_one_sample_counts,
    t_test_two_sample_counts,
)

REPS = 400


def test_the_one_sample_size_for_a_planned_effect_gives_the_requested_power_in_simulation():
    n = sample_size_one_sample(0.6, 0.5, alpha=0.05, power=0.8)
    assert 190 <= n <= 200  # textbook value for 0.6 vs 0.5 is 194
    wins = np.random.default_rng(0).binomial(n, 0.6, REPS)
    power = np.mean([t_test_one_sample_counts(k, n).p_value < 0.05 for k in wins])
    assert power == pytest.approx(0.8, abs=0.06)


def test_the_two_sample_size_for_a_planned_difference_gives_the_requested_power_in_simulation():
    n = sample_size_two_sample(0.71, 0.61, alpha=0.05, power=0.8)
    rng = np.random.default_rng(1)
    first, second = rng.binomial(n, 0.71, REPS), rng.binomial(n, 0.61, REPS)
    power = np.mean([t_test_two_sample_counts(a, n, b, n, equal_var=False).p_value < 0.05
                     for a, b in zip(first, second)])
    assert power == pytest.approx(0.8, abs=0.06)


@pytest.mark.parametrize("p1", [0.55, 0.63, 0.71, 0.35])
def test_power_for_the_planned_size_reaches_the_target_and_one_less_falls_short(p1):
    n = sample_size_one_sample(p1, power=0.9)
    assert power_one_sample(p1, n) >= 0.9 - 1e-9
    assert power_one_sample(p1, n - 1) < 0.9 + 1e-3
    m = sample_size_two_sample(p1, 0.5, power=0.9)
    assert power_two_sample(p1, 0.5, m) >= 0.9 - 1e-9


def test_clustered_ratings_need_more_items_by_the_design_effect():
    plain = plan_sample_size(0.6)
    clustered = plan_sample_size(0.6, design_effect=1.5)
    assert clustered.n == pytest.approx(1.5 * plain.n, abs=2)
    assert clustered.achieved_power >= 0.8
    assert plan_sample_size(0.7, 0.6, two_sample=True).design == "two-sample"


def test_no_effect_cannot_be_planned():
    with pytest.raises(ValueError, match="no effect"):
        sample_size_one_sample(0.5)
