"""PPI++ estimates (pipeline/stats/ppi.py) keep their level on the lab's design with a biased judge.

Seeded simulation: 60 prompts rated by 5 raters of a pool of 7 (item sd 1 or 2, rater sd 0.5,
as in the crossed-statistics suite), plus 240 prompts only the AI judge scored. The judge sees
each prompt's true quality through noise (sd 0.5 on the logit scale) and is biased +0.6 logits
(9-11 points on the rate: it favours one side, as a length-biased judge favours longer answers).
2,000 datasets per setting (a measured rate's standard error is 0.5 points). Measured with the
seeds below (``pytest -s`` prints them):

    item sd 1: coverage 94.7 %, false positives 4.8 %, judge bias +11.1 points, the judge
               worth 1.17x the 300 human judgements (median effective / actual)
    item sd 2: coverage 94.5 %, false positives 5.4 %, judge bias +8.6 points, worth 1.62x

while the judge's own rate falls inside the PPI interval only about half the time. Also: equal
to ppi-python where its estimator applies, and reasons instead of NaN.
"""

from __future__ import annotations

import numpy as np
import ppi_py
import pytest

from pipeline.stats.ppi import PPI, ppi_rate

N_RATED, PER_ITEM, POOL, RATER_SD, N_AI_ONLY, BIAS, JUDGE_NOISE = 60, 5, 7, 0.5, 240, 0.6, 0.5
DATASETS = 2000


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def population_rate(logit: float, item_sd: float) -> float:
    """E σ(logit + item + rater effect): the rate the human judgements estimate."""
    x, w = np.polynomial.hermite_e.hermegauss(101)
    return float(np.sum(w * _sigmoid(logit + np.hypot(item_sd, RATER_SD) * x)) / np.sum(w))


def lab_with_judge(rng: np.random.Generator, logit: float, item_sd: float):
    """(prompt, rater, y, f, f_unlabeled) of one simulated evaluation round with its AI judge."""
    quality = rng.normal(0, item_sd, N_RATED + N_AI_ONLY)
    judge = _sigmoid(logit + quality + BIAS + rng.normal(0, JUDGE_NOISE, quality.size))
    raters = np.argsort(rng.random((N_RATED, POOL)), axis=1)[:, :PER_ITEM]
    taste = rng.normal(0, RATER_SD, POOL)
    prompt, rater = np.repeat(np.arange(N_RATED), PER_ITEM), raters.ravel()
    y = (rng.random(prompt.size) < _sigmoid(logit + quality[prompt] + taste[rater])).astype(float)
    return prompt, rater, y, judge[prompt], judge[N_RATED:]


@pytest.mark.parametrize("item_sd, seed", [(1.0, 505), (2.0, 606)])
def test_ppi_keeps_coverage_and_false_positive_rate_and_is_worth_more_human_ratings(item_sd, seed):
    rng = np.random.default_rng(seed)
    truth = population_rate(0.4, item_sd)
    covered = false_pos = ai_covered = 0
    bias = []
    worth = []
    for _ in range(DATASETS):
        planted = ppi_rate(*lab_with_judge(rng, 0.4, item_sd))
        null = ppi_rate(*lab_with_judge(rng, 0.0, item_sd), null=0.5)
        assert planted.method == null.method == PPI
        covered += planted.interval.low <= truth <= planted.interval.high
        false_pos += null.p_value < 0.05
        ai_covered += planted.interval.low <= planted.ai_only <= planted.interval.high
        bias.append(planted.ai_only - truth)
        worth.append(planted.effective_human / planted.n_human)
    measured = {"coverage": covered / DATASETS, "false positives": false_pos / DATASETS,
                "judge's own rate inside the PPI interval": ai_covered / DATASETS,
                "judge bias": float(np.mean(bias)), "worth": float(np.median(worth))}
    print(f"item sd {item_sd}: {measured}")
    assert 0.93 <= measured["coverage"] <= 0.97, measured
    assert 0.03 <= measured["false positives"] <= 0.07, measured
    assert measured["judge bias"] > 0.05, measured
    assert measured["worth"] > 1.1, measured


def test_the_estimate_equals_ppi_python_where_its_estimator_applies():
    # One judgement per prompt, every rater distinct: the crossed variance is then the plain one,
    # ppi-python's setting. Its interval uses n (not n − 1) and the normal quantile, hence rtol.
    rng = np.random.default_rng(7)
    n, n_u = 4000, 20000
    quality = rng.normal(0, 1, n + n_u)
    f = _sigmoid(quality + 0.3 + rng.normal(0, 0.5, n + n_u))
    y = (rng.random(n) < _sigmoid(quality[:n])).astype(float)
    ids = np.arange(n)
    for lam in (0.0, 0.5, 1.0):
        ours = ppi_rate(ids, ids, y, f[:n], f[n:], lam=lam)
        low, high = ppi_py.ppi_mean_ci(y, f[:n], f[n:], alpha=0.05, lam=lam)
        assert ours.estimate == pytest.approx(float(ppi_py.ppi_mean_pointestimate(y, f[:n], f[n:], lam=lam)[0]), abs=1e-12)
        assert (ours.interval.low, ours.interval.high) == pytest.approx((float(low[0]), float(high[0])), rel=1e-3)
    tuned = ppi_rate(ids, ids, y, f[:n], f[n:])
    reference = float(ppi_py.ppi_mean_pointestimate(y, f[:n], f[n:])[0])
    assert tuned.estimate == pytest.approx(reference, abs=2e-4)
    assert 0.0 < tuned.lam <= 1.0


def test_with_every_prompt_rated_the_judge_adds_nothing():
    rng = np.random.default_rng(3)
    prompt, rater, y, f, _ = lab_with_judge(rng, 0.4, 1.0)
    alone = ppi_rate(prompt, rater, y, f, np.zeros(0))
    assert alone.lam == 0.0
    assert alone.estimate == pytest.approx(y.mean())
    assert alone.effective_human == pytest.approx(alone.n_human)


@pytest.mark.parametrize("keep, why", [(slice(0, 15), "3 human-rated prompts"), (None, "one rater")])
def test_too_little_human_data_gives_a_reason_not_a_number(keep, why):
    rng = np.random.default_rng(4)
    prompt, rater, y, f, fu = lab_with_judge(rng, 0.4, 1.0)
    if keep is not None:
        prompt, rater, y, f = prompt[keep], rater[keep], y[keep], f[keep]
    else:
        rater = np.zeros_like(rater)
    result = ppi_rate(prompt, rater, y, f, fu)
    assert result.method == "" and why in result.reason
    assert result.to_dict()["estimate"] is None
    assert result.human_only == pytest.approx(y.mean())


def test_a_judge_score_that_is_not_a_number_is_refused():
    with pytest.raises(ValueError, match="finite"):
        ppi_rate(np.arange(3), np.arange(3), np.ones(3), np.array([0.5, np.nan, 0.2]), np.ones(4))
