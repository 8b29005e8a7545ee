"""The report's bootstrap columns ("as in the paper") draw enough resamples for their endpoints
to stay put when only the seed changes: the Monte Carlo sd of a 2.5 % endpoint is about
2.67·SE/√B, 0.06·SE at the default B = 2,000 against 0.19·SE at the old B = 200."""

from __future__ import annotations

import numpy as np

from pipeline.stats import bradley_terry_strengths, win_rate
from pipeline.stats.winrate import DEFAULT_N_BOOT

SEEDS = range(12)


def _spread(rankings, n_boot: int) -> float:
    """The larger sd over seeds of the two endpoints, in units of the rate's bootstrap SE."""
    ends = np.array([[r.bootstrap.low, r.bootstrap.high] for r in
                     (win_rate(rankings, "rlaif", "sft", n_boot=n_boot, seed=s) for s in SEEDS)])
    se = (ends[:, 1] - ends[:, 0]).mean() / (2 * 1.96)
    return float(ends.std(axis=0, ddof=1).max() / se)


def test_win_rate_endpoints_move_by_a_small_fraction_of_their_se_at_the_default_draws(rankings_maker):
    rankings = rankings_maker(5, n_prompts=240, raters=3)
    assert DEFAULT_N_BOOT == 2000
    assert _spread(rankings, DEFAULT_N_BOOT) < 0.11
    assert _spread(rankings, 200) > 0.12  # the old default: endpoints moved with the seed


def test_bradley_terry_endpoints_hold_still_too(rankings_maker):
    rankings = rankings_maker(6, n_prompts=240, raters=3)
    fits = [bradley_terry_strengths(rankings, seed=s) for s in SEEDS]
    low = np.array([[st.interval.low for st in fit.strengths] for fit in fits])
    high = np.array([[st.interval.high for st in fit.strengths] for fit in fits])
    se = (high - low).mean(axis=0) / (2 * 1.96)
    assert np.all(low.std(axis=0, ddof=1) / se < 0.11) and np.all(high.std(axis=0, ddof=1) / se < 0.11)
