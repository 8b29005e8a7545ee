"""The statistics shown first (pipeline/stats/crossed.py) keep their level on the lab's design.

Seeded simulation of that design: 60 items (one per prompt), each rated by 5 raters drawn from a
pool of 7; item effects (sd 1 or 2 on the logit scale) and rater effects (sd 0.5: a rater's own
preference for one policy, or own strictness about harm). With 4,000 datasets per setting a
measured rate has a standard error of 0.35 points, so "coverage within 93-97 %" and "false
positives within 3-7 %" are ±5.7 standard errors around the nominal rate. The whole check takes
a few seconds. Measured (the seeds below; ``pytest -s`` prints them):

    item sd 1: win-rate test false positives 5.5 %, win-rate coverage (at a ~58 % rate) 94.4 %,
               harmless-rate coverage 94.7 %, harmless-difference false positives 5.5 %
    item sd 2: false positives 6.0 %, coverage 94.7 %, harmless coverage 93.5 %,
               harmless-difference false positives 6.1 %

so the method is at most about 1.5 points liberal where item effects are large; the paper's
t-test and Wilson interval on the same design: 20-28 % false positives, 72-80 % coverage (issue
19). Also: a planted effect is found with the stated power, the exact path
equals scipy's exact binomial test and Clopper-Pearson interval, the two-way variance equals
statsmodels' two-way cluster-robust one, and bad input gives reasons, not NaN.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from pipeline.stats import HarmLabel, Ranking, compute_report
from pipeline.stats.crossed import EXACT, TWO_WAY, crossed_harmless, crossed_win_rates
from pipeline.stats.tables import Coded, HarmTable, RankingTable, encode_harm_columns, encode_ranking_flat

N_ITEMS, PER_ITEM, POOL, RATER_SD = 60, 5, 7, 0.5
DATASETS = 4000


def _raters(rng: np.random.Generator) -> np.ndarray:
    """``(items, 5)`` distinct raters of the pool of 7 for every item."""
    return np.argsort(rng.random((N_ITEMS, POOL)), axis=1)[:, :PER_ITEM]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def lab_rankings(rng: np.random.Generator, item_sd: float, delta: float = 0.0) -> RankingTable:
    """Policy "a" vs "b": P(a above b) = σ(δ + item effect + the rater's own preference)."""
    raters = _raters(rng)
    item_effect, rater_effect = rng.normal(0, item_sd, N_ITEMS), rng.normal(0, RATER_SD, POOL)
    item, rater = np.repeat(np.arange(N_ITEMS), PER_ITEM), raters.ravel()
    a_wins = rng.random(item.size) < _sigmoid(delta + item_effect[item] + rater_effect[rater])
    rank = np.where(a_wins[:, None], [[1, 2]], [[2, 1]]).ravel()
    return encode_ranking_flat(item, item, rater, np.full(item.size, 2), Coded(np.tile([0, 1], item.size), ("a", "b")), rank)


def lab_harm_labels(rng: np.random.Generator, item_sd: float, logit: tuple[float, float] = (0.8, 0.8)) -> HarmTable:
    """Both policies' responses to every item labelled by its 5 raters: P(harmless) =
    σ(policy's logit + that response's effect − the rater's strictness)."""
    raters = _raters(rng)
    strictness = rng.normal(0, RATER_SD, POOL)
    response_effect = rng.normal(0, item_sd, (N_ITEMS, 2))
    item = np.repeat(np.arange(N_ITEMS), PER_ITEM * 2)
    rater = np.repeat(raters, 2, axis=1).ravel()
    policy = np.tile([0, 1], N_ITEMS * PER_ITEM)
    harmless = rng.random(item.size) < _sigmoid(np.asarray(logit)[policy] + response_effect[item, policy] - strictness[rater])
    return encode_harm_columns(item, item, rater, Coded(policy, ("a", "b")), harmless)


def population_rate(logit: float, item_sd: float) -> float:
    """E σ(logit + item + rater effect) over both effects: the rate the statistics estimate."""
    x, w = np.polynomial.hermite_e.hermegauss(101)
    return float(np.sum(w * _sigmoid(logit + np.hypot(item_sd, RATER_SD) * x)) / np.sum(w))


def _covers(interval, value: float) -> bool:
    return interval.low <= value <= interval.high


@pytest.mark.parametrize("item_sd, seed", [(1.0, 101), (2.0, 202)])
def test_win_and_harmless_rates_keep_coverage_and_false_positive_rate(item_sd, seed):
    rng = np.random.default_rng(seed)
    true_win = population_rate(0.4, item_sd)  # a 56-58 % win rate
    true_harmless = population_rate(0.8, item_sd)
    false_pos = covered = harm_covered = harm_false_pos = 0
    methods = set()
    for _ in range(DATASETS):
        null = crossed_win_rates(lab_rankings(rng, item_sd)).rate("a", "b")
        planted = crossed_win_rates(lab_rankings(rng, item_sd, delta=0.4)).rate("a", "b")
        harm = crossed_harmless(lab_harm_labels(rng, item_sd))
        rate, diff = harm.rate("a"), harm.difference("a", "b")
        false_pos += null.p_value < 0.05
        covered += _covers(planted.interval, true_win)
        harm_covered += _covers(rate.interval, true_harmless)
        harm_false_pos += diff.p_value < 0.05
        methods |= {null.method, planted.method, rate.method, diff.method}
    measured = {"win false positives": false_pos / DATASETS, "win coverage": covered / DATASETS,
                "harmless coverage": harm_covered / DATASETS, "harmless difference false positives": harm_false_pos / DATASETS}
    print(f"item sd {item_sd}: {measured}")
    assert methods == {TWO_WAY}
    assert 0.03 <= measured["win false positives"] <= 0.07, measured
    assert 0.93 <= measured["win coverage"] <= 0.97, measured
    assert 0.93 <= measured["harmless coverage"] <= 0.97, measured
    assert 0.03 <= measured["harmless difference false positives"] <= 0.07, measured


def lab_three_way(rng: np.random.Generator, item_sd: float) -> RankingTable:
    """"base", "x", "y" ranked together by utility = strength + response effect + the rater's own
    taste for that policy + Gumbel noise; x and y equally strong (0.4 above base)."""
    raters = _raters(rng)
    strength = np.array([0.0, 0.4, 0.4])
    response = rng.normal(0, item_sd, (N_ITEMS, 3))
    taste = rng.normal(0, RATER_SD, (POOL, 3))
    item, rater = np.repeat(np.arange(N_ITEMS), PER_ITEM), raters.ravel()
    utility = strength + response[item] + taste[rater] + rng.gumbel(size=(item.size, 3))
    rank = np.argsort(np.argsort(-utility, axis=1), axis=1) + 1
    return encode_ranking_flat(item, item, rater, np.full(item.size, 3),
                               Coded(np.tile([0, 1, 2], item.size), ("base", "x", "y")), rank.ravel())


@pytest.mark.parametrize("item_sd, seed", [(1.0, 303), (2.0, 404)])
def test_comparing_two_win_rates_against_the_baseline_keeps_its_level(item_sd, seed):
    """The "Comparing win rates vs baseline" table's first test: x-vs-base minus y-vs-base,
    equal in truth. Measured false positives: 5.5 % (item sd 1), 5.4 % (item sd 2)."""
    rng = np.random.default_rng(seed)
    rows = [crossed_win_rates(lab_three_way(rng, item_sd)).difference(("x", "base"), ("y", "base")) for _ in range(DATASETS)]
    false_pos = np.mean([r.p_value < 0.05 for r in rows])
    print(f"item sd {item_sd}: win-rate difference false positives {false_pos}")
    assert {r.method for r in rows} == {TWO_WAY}
    assert 0.03 <= false_pos <= 0.07


def test_a_planted_win_rate_of_69_percent_is_found_with_90_percent_power():
    """δ = 1 on the logit scale (item sd 1): a population win rate of 69 %; measured power 95 %."""
    rng = np.random.default_rng(7)
    assert population_rate(1.0, 1.0) == pytest.approx(0.69, abs=0.005)
    found = [crossed_win_rates(lab_rankings(rng, 1.0, delta=1.0)).rate("a", "b").p_value < 0.05 for _ in range(300)]
    assert np.mean(found) >= 0.90


def _unanimous(n_prompts: int, raters: int = 1) -> list[Ranking]:
    return [Ranking(f"item-{p}", f"prompt-{p}", f"rater-{r}", ("rlhf", "sft")) for p in range(n_prompts) for r in range(raters)]


def test_few_prompts_take_the_exact_path_and_equal_scipys_binomial_test():
    from scipy.stats import binomtest

    for n in (3, 4, 9):
        row = compute_report(_unanimous(n)).vs_baseline[0].crossed
        exact = binomtest(n, n, 0.5)
        ci = exact.proportion_ci(confidence_level=0.95, method="exact")
        assert row.method == EXACT and "fewer than 10" in row.reason
        assert row.p_value == pytest.approx(exact.pvalue, rel=1e-12)
        assert (row.interval.low, row.interval.high) == pytest.approx((ci.low, ci.high), rel=1e-9)
        assert row.p_value > 0 and row.interval.high - row.interval.low > 0.1
    assert compute_report(_unanimous(4)).vs_baseline[0].crossed.p_value == pytest.approx(0.125)


def test_a_unanimous_large_sample_is_never_p_zero():
    row = compute_report(_unanimous(30, raters=3)).vs_baseline[0].crossed
    assert row.method == EXACT and "agrees" in row.reason
    assert row.p_value == pytest.approx(2 * 0.5 ** 30) and row.p_value > 0
    assert row.interval.low < 1.0 == row.interval.high


def test_the_two_way_variance_equals_statsmodels_two_way_cluster_robust():
    import statsmodels.api as sm

    table = lab_rankings(np.random.default_rng(3), 1.0, delta=0.3)
    row = crossed_win_rates(table).rate("a", "b")
    y = (table.rank[:, 0] < table.rank[:, 1]).astype(float)
    fit = sm.OLS(y, np.ones((y.size, 1))).fit(cov_type="cluster", cov_kwds={"groups": np.column_stack([table.prompt, table.rater])})
    assert row.method == TWO_WAY
    assert row.estimate == pytest.approx(float(fit.params[0]), rel=1e-12)
    assert row.se == pytest.approx(float(fit.bse[0]), rel=1e-6)


def test_bad_input_says_which_statistic_cannot_be_computed_and_why():
    one_rater = [Ranking(f"i{p}", f"p{p}", "r", ("rlhf", "sft") if p % 2 else ("sft", "rlhf")) for p in range(20)]
    one_item = [Ranking("i", "p", f"r{k}", ("rlhf", "sft")) for k in range(5)]
    no_overlap = [Ranking(f"i{p}", f"p{p}", f"r{p % 3}", ("rlhf", "sft") if p < 10 else ("sft", "rlaif")) for p in range(20)]
    labels = [HarmLabel(f"i{p}", f"p{p}", f"r{k}", "rlhf", bool((p + k) % 2)) for p in range(12) for k in range(3)]
    report = compute_report(one_rater)
    assert "one rater" in report.vs_baseline[0].crossed.reason and report.vs_baseline[0].crossed.method == EXACT
    report = compute_report(one_item)
    assert "1 prompt" in report.vs_baseline[0].crossed.reason
    report = compute_report(no_overlap, labels)
    never = report.win_rate("rlaif", "rlhf").crossed
    assert never.method == "" and "never ranked together" in never.reason
    harm = {h.policy: h.crossed for h in report.harmless}
    assert set(harm) == {"rlhf"} and harm["rlhf"].method == TWO_WAY  # the unlabelled policies have no row
    two_prompts = encode_harm_columns(["i1", "i2"], ["p1", "p2"], ["r1", "r1"], ["rlhf", "sft"], [True, False])
    no_shared_prompt = crossed_harmless(two_prompts).difference("rlhf", "sft")
    assert no_shared_prompt.method == EXACT and no_shared_prompt.p_value == 1.0
    payload = report.to_dict()
    text = json.dumps(payload, allow_nan=False)  # NaN would raise: every undefined number is null
    assert json.loads(text)["win_rates"][0]["crossed"]["reason"]
