"""The length-adjusted win rate's interval and test shown first (two-way clustered sandwich,
``pipeline/stats/length.py``) keep their level on the lab's design, where the model-based Wald
interval (every comparison independent) does not.

Seeded simulation: 60 items, each ranked by 5 raters of a pool of 7; the two responses of an
item differ in length by N(0, 40²) tokens and raters prefer the longer one by 1 logit per 100
tokens; item effects (sd 1, 2) and rater tastes (sd 0.5). 2,000 datasets per setting. The truth
is the population value of the fitted intercept, from one fit on 400,000 comparisons. Measured
with the seeds below (``pytest -s`` prints them):

    item sd 1: false positives 6.1 % (Wald 28.2 %), coverage 94.4 % (Wald 72.0 %)
    item sd 2: false positives 4.9 % (Wald 28.8 %), coverage 94.7 % (Wald 70.9 %)
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from pipeline.stats.crossed import TWO_WAY
from pipeline.stats.length import fit_logistic, length_control
from pipeline.stats.tables import Coded, encode_ranking_flat

N_ITEMS, PER_ITEM, POOL, RATER_SD, GAP_SD, PER_100 = 60, 5, 7, 0.5, 40.0, 1.0
DATASETS = 2000


def lab_with_lengths(rng: np.random.Generator, item_sd: float, delta: float, n_items: int = N_ITEMS, pool: int = POOL):
    raters = np.argsort(rng.random((n_items, pool)), axis=1)[:, :min(PER_ITEM, pool)]
    taste, quality = rng.normal(0, RATER_SD, pool), rng.normal(0, item_sd, n_items)
    gap = rng.normal(0, GAP_SD, n_items)
    item, rater = np.repeat(np.arange(n_items), raters.shape[1]), raters.ravel()
    a_wins = rng.random(item.size) < special.expit(delta + PER_100 * gap[item] / 100 + quality[item] + taste[rater])
    rank = np.where(a_wins[:, None], [[1, 2]], [[2, 1]]).ravel()
    length = np.column_stack([300 + gap[item], np.full(item.size, 300.0)]).ravel()
    return encode_ranking_flat(item, item, rater, np.full(item.size, 2), Coded(np.tile([0, 1], item.size), ("a", "b")),
                               rank, length)


def population_adjusted_rate(delta: float, item_sd: float, rng: np.random.Generator) -> float:
    """σ(β₀) of the logistic fit the estimator converges to, from one very large sample."""
    n = 400_000
    gap = rng.normal(0, GAP_SD, n)
    y = rng.random(n) < special.expit(delta + PER_100 * gap / 100 + rng.normal(0, item_sd, n) + rng.normal(0, RATER_SD, n))
    return float(special.expit(fit_logistic(gap, y.astype(float)).intercept))


@pytest.mark.parametrize("item_sd, seed", [(1.0, 707), (2.0, 808)])
def test_the_clustered_interval_keeps_coverage_and_false_positive_rate(item_sd, seed):
    rng = np.random.default_rng(seed)
    truth = population_adjusted_rate(0.4, item_sd, rng)
    counts = dict.fromkeys(("false positives", "coverage", "Wald false positives", "Wald coverage"), 0)
    for _ in range(DATASETS):
        null = length_control(lab_with_lengths(rng, item_sd, 0.0), "a", "b")
        planted = length_control(lab_with_lengths(rng, item_sd, 0.4), "a", "b")
        assert null.crossed is not None and planted.crossed is not None
        assert null.crossed.method == planted.crossed.method == TWO_WAY
        counts["false positives"] += null.crossed.p_value < 0.05
        counts["Wald false positives"] += not (null.adjusted_ci.low <= 0.5 <= null.adjusted_ci.high)
        counts["coverage"] += planted.crossed.interval.low <= truth <= planted.crossed.interval.high
        counts["Wald coverage"] += planted.adjusted_ci.low <= truth <= planted.adjusted_ci.high
    measured = {k: v / DATASETS for k, v in counts.items()}
    print(f"item sd {item_sd}: truth {truth:.3f}, {measured}")
    assert 0.03 <= measured["false positives"] <= 0.07, measured
    assert 0.93 <= measured["coverage"] <= 0.97, measured
    assert measured["Wald coverage"] < 0.9, measured  # what the shown-first interval replaces


def test_the_mirror_reflects_the_clustered_interval():
    table = lab_with_lengths(np.random.default_rng(1), 1.0, 0.4)
    ab, ba = length_control(table, "a", "b"), length_control(table, "b", "a")
    assert ab.crossed is not None and ba.crossed is not None
    assert ab.crossed.estimate + ba.crossed.estimate == pytest.approx(1.0)
    assert ab.crossed.interval.low + ba.crossed.interval.high == pytest.approx(1.0)
    assert ab.crossed.p_value == pytest.approx(ba.crossed.p_value)


def test_few_prompts_or_one_rater_say_why_instead_of_a_number():
    rng = np.random.default_rng(2)
    few = length_control(lab_with_lengths(rng, 1.0, 0.4, n_items=6), "a", "b").crossed
    assert few is not None and few.method == "" and "6 prompts (fewer than 10)" in few.reason
    assert few.to_dict()["estimate"] is None
    one = length_control(lab_with_lengths(rng, 1.0, 0.4, pool=1), "a", "b").crossed
    assert one is not None and one.method == "" and "one rater" in one.reason
