"""RM accuracy on held-out human pairs: ties are wrong, and a 95% Wilson interval comes with it."""

import pytest

from pipeline.reward import accuracy_from_scores
from pipeline.stats import wilson_interval


def test_ties_count_as_wrong():
    result = accuracy_from_scores([1.0, 0.0, 0.5, 2.0], [0.0, 1.0, 0.5, 1.0], [1, 2, 1, 2])
    assert (result.correct, result.n, result.ties) == (2, 4, 1)
    assert result.accuracy == 0.5


def test_the_interval_is_wilsons():
    # Reference values: statsmodels.stats.proportion.proportion_confint(81, 100, method="wilson").
    low, high = wilson_interval(81, 100)
    assert (low, high) == (pytest.approx(0.7222, abs=1e-4), pytest.approx(0.8749, abs=1e-4))
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
