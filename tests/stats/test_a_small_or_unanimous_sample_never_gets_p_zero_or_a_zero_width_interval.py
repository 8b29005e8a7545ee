"""A finite sample never gets p = 0 or a zero-width interval anywhere in the report: small and
unanimous samples fall back on exact tests and intervals (scipy's ``binomtest`` and
``permutation_test`` are the independent check of the numbers)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from pipeline.stats import HarmLabel, Ranking, compute_report


def _problems(node, path="report") -> list[str]:
    """Every p-value that is 0 and every interval whose ends meet, anywhere in the report's JSON."""
    found = []
    if isinstance(node, dict):
        low, high = node.get("low"), node.get("high")
        if isinstance(low, float) and isinstance(high, float) and not high > low:
            found.append(f"{path}: zero-width interval [{low}, {high}]")
        for key, value in node.items():
            if key.startswith("p") and "value" in key or key in ("p_holm", "p_prompt", "p_prompt_holm", "p_student_holm",
                                                                 "p_welch_holm", "p_paired_holm"):
                if value == 0:
                    found.append(f"{path}.{key} = 0")
            found += _problems(value, f"{path}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _problems(value, f"{path}[{i}]")
    return found


def _unanimous(n_prompts: int, raters: int, order=("rlaif", "sft"), first: int = 0) -> list[Ranking]:
    return [Ranking(f"item-{p}", f"prompt-{p}", f"rater-{r}", order)
            for p in range(first, first + n_prompts) for r in range(raters)]


def test_four_wins_of_four_give_the_exact_binomial_p_and_a_non_degenerate_interval():
    report = compute_report(_unanimous(4, 1), baseline="sft")
    row = next(r for r in report.vs_baseline if r.a == "rlaif")
    assert row.p_value == pytest.approx(stats.binomtest(4, 4).pvalue) == pytest.approx(0.125)
    assert row.p_prompt == pytest.approx(0.125)
    assert row.crossed is not None and row.crossed.p_value == pytest.approx(0.125)
    expected = stats.binomtest(4, 4).proportion_ci(0.95, method="exact")
    assert (row.bootstrap.low, row.bootstrap.high) == pytest.approx((expected.low, expected.high))
    assert _problems(report.to_dict()) == []


def test_three_unanimous_prompts_give_a_non_degenerate_interval_and_no_zero_p():
    report = compute_report(_unanimous(3, 3), baseline="sft")
    row = next(r for r in report.vs_baseline if r.a == "rlaif")
    assert row.p_value == pytest.approx(stats.binomtest(9, 9).pvalue)  # nine rankings, exact
    assert row.p_prompt == pytest.approx(0.25)  # three prompts, exact sign test
    assert row.bootstrap.low == pytest.approx(stats.binomtest(3, 3).proportion_ci(method="exact").low)
    assert row.crossed is not None and row.crossed.interval.high > row.crossed.interval.low
    assert _problems(report.to_dict()) == []


def test_a_unanimous_sample_of_many_prompts_is_exact_too():
    """Every prompt unanimous: resamples all agree, so the bootstrap would be [100 %, 100 %]."""
    report = compute_report(_unanimous(40, 2), baseline="sft")
    row = next(r for r in report.vs_baseline if r.a == "rlaif")
    assert row.bootstrap.high > row.bootstrap.low and row.p_value > 0 and row.p_prompt > 0
    assert _problems(report.to_dict()) == []


def test_comparing_two_small_win_rates_is_the_exact_permutation_test():
    rankings = _unanimous(4, 1, ("rlaif", "sft", "rlhf")) + _unanimous(2, 1, ("rlhf", "sft", "rlaif"), first=4)
    report = compute_report(rankings, baseline="sft")
    comparison = report.baseline_comparisons[0]
    assert (comparison.first, comparison.second) == (("rlaif", "sft"), ("rlhf", "sft"))
    x = np.r_[np.ones(4), np.zeros(2)]  # rlaif over sft: 4 of 6
    y = np.r_[np.ones(2), np.zeros(4)]  # rlhf over sft: 2 of 6
    expected = stats.permutation_test((x, y), lambda a, b, axis: a.mean(axis=axis) - b.mean(axis=axis),
                                      permutation_type="independent", n_resamples=np.inf, vectorized=True).pvalue
    assert comparison.student.p_value == pytest.approx(expected) == comparison.welch.p_value
    assert _problems(report.to_dict()) == []


def test_small_harmless_samples_get_the_exact_permutation_test_not_the_z_test():
    labels = [HarmLabel(f"item-{i}", f"prompt-{i}", f"rater-{r}", policy, policy == "rlaif")
              for i in range(3) for r in range(2) for policy in ("rlaif", "sft")]
    report = compute_report(_unanimous(3, 2), labels, baseline="sft")
    test = report.harmless_tests[0]
    x, y = np.ones(6), np.zeros(6)
    expected = stats.permutation_test((x, y), lambda a, b, axis: a.mean(axis=axis) - b.mean(axis=axis),
                                      permutation_type="independent", n_resamples=np.inf, vectorized=True).pvalue
    assert test.p_value == pytest.approx(expected)
    assert _problems(report.to_dict()) == []


def test_one_prompt_and_one_rater_leave_no_zero_anywhere():
    labels = [HarmLabel("item-0", "prompt-0", "rater-0", policy, True) for policy in ("rlaif", "sft")]
    report = compute_report(_unanimous(1, 1), labels, baseline="sft")
    assert _problems(report.to_dict()) == []
