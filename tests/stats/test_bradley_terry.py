"""Bradley–Terry strengths match a direct likelihood maximisation and recover planted strengths."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import optimize

from pipeline.stats import Ranking, bradley_terry_strengths, fit_bradley_terry
from pipeline.stats.simulate import simulate_rankings


def pairwise_wins(rankings, names):
    wins = np.zeros((len(names), len(names)))
    for r in rankings:
        for hi, lo in itertools.combinations(r.order, 2):
            wins[names.index(hi), names.index(lo)] += 1
    return wins


def scipy_fit(wins):
    """Maximise Σ W_ij·log σ(θ_i − θ_j) with θ_0 = 0, then centre."""
    k = wins.shape[0]

    def nll(free):
        theta = np.concatenate([[0.0], free])
        diff = theta[:, None] - theta[None, :]
        return float((wins * np.logaddexp(0.0, -diff)).sum())

    res = optimize.minimize(nll, np.zeros(k - 1), method="BFGS", options={"gtol": 1e-10})
    theta = np.concatenate([[0.0], res.x])
    return theta - theta.mean()


def test_strengths_match_a_scipy_maximum_likelihood_fit(rankings_maker):
    rankings = rankings_maker(31, n_prompts=50)
    result = bradley_terry_strengths(rankings, n_boot=0)
    names = [s.policy for s in result.strengths]
    expected = scipy_fit(pairwise_wins(rankings, names))
    assert result.converged and not result.regularized
    assert [s.log_strength for s in result.strengths] == pytest.approx(list(expected), abs=1e-5)
    assert sum(s.log_strength for s in result.strengths) == pytest.approx(0.0, abs=1e-12)


def test_planted_strengths_are_recovered_with_bootstrap_intervals():
    planted = {"sft": -0.6, "rlhf": 0.3, "rlaif": 0.4, "reference": -0.1}
    rankings = simulate_rankings(planted, n_prompts=400, raters_per_prompt=3, n_raters=10, seed=2)
    result = bradley_terry_strengths(rankings, n_boot=200, seed=1)
    for s in result.strengths:
        assert s.interval.low < s.log_strength < s.interval.high
        assert s.log_strength == pytest.approx(planted[s.policy], abs=0.15)
    assert result.win_probability("rlaif", "sft") == pytest.approx(1 / (1 + np.exp(-1.0)), abs=0.05)


def test_a_policy_that_never_loses_is_regularised_instead_of_diverging():
    rankings = [Ranking(f"i{k}", f"p{k}", "r", ("best", "mid", "low") if k % 3 else ("best", "low", "mid"))
                for k in range(30)]
    result = bradley_terry_strengths(rankings, n_boot=20)
    assert result.regularized and result.converged
    theta = {s.policy: s.log_strength for s in result.strengths}
    assert np.isfinite(list(theta.values())).all()
    assert theta["best"] > theta["mid"] > theta["low"]


def test_many_win_matrices_are_fitted_at_once_like_one_at_a_time():
    rng = np.random.default_rng(4)
    batch = rng.integers(1, 30, size=(5, 4, 4)).astype(float)
    together, _, _, _ = fit_bradley_terry(batch)
    for b in range(5):
        alone, _, _, _ = fit_bradley_terry(batch[b])
        assert together[b] == pytest.approx(alone, abs=1e-9)
