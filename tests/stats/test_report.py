"""compute_report assembles every table consistently, serialises to JSON, and never imports Django."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from pipeline.stats import (
    Interval,
    Ranking,
    bradley_terry_strengths,
    compute_report,
    crossed_harmless,
    crossed_win_rates,
    encode_harm_labels,
    encode_rankings,
    harmless_rates,
    length_table,
    win_rate_table,
)
from pipeline.stats.bradley_terry import bradley_terry_crossed
from pipeline.stats.simulate import simulate_harm_labels, simulate_rankings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data():
    strengths = {"sft": 0.0, "rlhf": 0.9, "rlaif": 0.85, "reference": 0.4}
    rankings = simulate_rankings(strengths, n_prompts=80, raters_per_prompt=3, n_raters=6, seed=3, item_sd=0.5,
                                 length_means={"sft": 60, "rlhf": 85, "rlaif": 80, "reference": 70})
    labels = simulate_harm_labels({"sft": 0.64, "rlhf": 0.76, "rlaif": 0.88, "reference": 0.8},
                                  n_prompts=80, raters_per_prompt=3, n_raters=6, seed=3)
    return rankings, labels


@pytest.fixture(scope="module")
def report(data):
    rankings, labels = data
    return compute_report(rankings, labels, baseline="sft", n_boot=150, seed=7)


def test_the_report_has_every_table_for_four_policies(report):
    assert report.policies == ("reference", "rlaif", "rlhf", "sft")
    assert (report.n_rankings, report.n_prompts, report.n_raters, report.n_harm_labels) == (240, 80, 6, 960)
    assert len(report.win_rates) == 12 and len(report.length) == 12
    assert [r.a for r in report.vs_baseline] == ["reference", "rlaif", "rlhf"]
    assert {(c.first[0], c.second[0]) for c in report.baseline_comparisons} == {
        ("reference", "rlaif"), ("reference", "rlhf"), ("rlaif", "rlhf")}
    assert [h.policy for h in report.harmless] == list(report.policies)
    assert len(report.harmless_tests) == 6
    assert [s.policy for s in report.bradley_terry.strengths] == list(report.policies)
    assert report.ranking_agreement.level == "ordinal" and report.harm_agreement.level == "nominal"


def test_report_tables_equal_the_functions_they_come_from(data, report):
    rankings, labels = data
    # The report adds to each row the statistic valid for crossed raters x items; the rest is the function's.
    assert tuple(replace(r, crossed=None) for r in report.win_rates) == win_rate_table(rankings, n_boot=150, seed=7)
    assert tuple(replace(h, crossed=None) for h in report.harmless) == harmless_rates(labels)
    cw, ch = crossed_win_rates(encode_rankings(rankings)), crossed_harmless(encode_harm_labels(labels))
    for r in report.win_rates:
        assert r.crossed == cw.rate(r.a, r.b).with_p_holm(r.crossed.p_holm)
    assert [h.crossed for h in report.harmless] == [ch.rate(h.policy) for h in report.harmless]
    assert report.bradley_terry == bradley_terry_crossed(bradley_terry_strengths(rankings, n_boot=150, seed=7),
                                                         encode_rankings(rankings), report.baseline)
    assert len(length_table(rankings)) == len(report.length)


def test_the_report_is_json_serialisable_without_nan(report):
    text = json.dumps(report.to_dict(), allow_nan=False)
    back = json.loads(text)
    assert back["baseline"] == "sft"
    assert back["win_rates"][0]["wilson"].keys() == {"low", "high"}
    assert all(isinstance(v, (float, type(None))) for v in back["vs_baseline"][0]["bootstrap"].values())


def test_nan_and_numpy_values_become_plain_json():
    import numpy as np

    assert Interval(float("nan"), np.float64(0.5)).to_dict() == {"low": None, "high": 0.5}
    assert type(Interval(np.float32(0.25), math.inf).to_dict()["low"]) is float


def test_the_same_seed_gives_the_same_report(data, report):
    rankings, labels = data
    again = compute_report(rankings, labels, baseline="sft", n_boot=150, seed=7)
    assert again.to_dict() == report.to_dict()


def test_a_baseline_nobody_ranked_is_an_error(data):
    with pytest.raises(ValueError, match="baseline 'gpt4'"):
        compute_report(data[0], baseline="gpt4", n_boot=0)


def test_an_empty_report_still_computes():
    report = compute_report([], [], n_boot=10)
    assert report.n_rankings == 0 and report.win_rates == () and report.bradley_terry is None
    json.dumps(report.to_dict(), allow_nan=False)


def test_rankings_may_arrive_as_dicts():
    rows = [{"item_id": k, "prompt_id": k // 2, "rater_id": "r", "order": ("rlaif", "sft")} for k in range(6)]
    report = compute_report(rows, n_boot=20)
    assert report.win_rate("rlaif", "sft").rate == 1.0
    assert compute_report([Ranking(**r) for r in rows], n_boot=20).to_dict() == report.to_dict()


def test_the_statistics_package_never_imports_django():
    code = ("import sys; import pipeline.stats, pipeline.stats.report, pipeline.stats.simulate; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'rest_framework', 'celery')); "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
