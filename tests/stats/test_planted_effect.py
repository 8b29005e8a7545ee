"""A seeded experiment finds a planted 70 % win rate and does not find a difference that is not there."""

from __future__ import annotations

import math

import numpy as np

from pipeline.stats import compare_win_rates, compute_report, t_test_one_sample_counts, win_rate
from pipeline.stats.simulate import simulate_rankings

LOGIT_70 = math.log(0.7 / 0.3)


def test_a_planted_win_rate_against_sft_is_significant_and_a_null_pair_is_not():
    # rlaif and rlhf are drawn from the same distribution; both beat sft ~70 % of the time.
    strengths = {"sft": 0.0, "rlaif": LOGIT_70, "rlhf": LOGIT_70}
    rankings = simulate_rankings(strengths, n_prompts=150, raters_per_prompt=2, n_raters=8, seed=2023)
    report = compute_report(rankings, baseline="sft", n_boot=200, seed=1)

    planted = report.win_rate("rlaif", "sft")
    assert 0.62 < planted.rate < 0.78
    assert planted.p_holm < 0.05
    assert planted.bootstrap.low > 0.5 and planted.wilson.low > 0.5

    null = report.win_rate("rlaif", "rlhf")
    assert null.p_value > 0.05
    assert null.wilson.low < 0.5 < null.wilson.high

    (comparison,) = report.baseline_comparisons
    assert comparison.student.p_value > 0.05
    assert comparison.welch.p_value > 0.05
    assert comparison.paired.p_value > 0.05


def test_the_null_is_rejected_about_five_percent_of_the_time():
    rejected = 0
    experiments = 300
    for seed in range(experiments):
        rankings = simulate_rankings({"a": 0.0, "b": 0.0}, n_prompts=60, raters_per_prompt=1, seed=seed)
        row = win_rate(rankings, "a", "b", n_boot=0)
        rejected += row.p_value < 0.05
    assert 0.02 <= rejected / experiments <= 0.09


def test_two_win_rates_twenty_points_apart_are_told_apart():
    rankings = simulate_rankings({"sft": 0.0, "strong": LOGIT_70, "weak": 0.0}, n_prompts=300,
                                 raters_per_prompt=1, seed=11)
    result = compare_win_rates(rankings, ("strong", "sft"), ("weak", "sft"))
    assert result.difference > 0.1
    assert result.welch.p_value < 0.05 and result.student.p_value < 0.05 and result.paired.p_value < 0.05
    # And a fair coin against itself stays unremarkable.
    assert t_test_one_sample_counts(np.int64(50), 100).p_value == 1.0
