"""The alignment dashboard: Table 2 from a labeling sweep, Table 3 by labeler model, position
bias and calibration per run, reward-model accuracy vs training pairs, training curves. Run
metrics in either the flat or the nested form are read; missing ones show as empty."""

from __future__ import annotations

import pytest
from django.urls import reverse

from webapp.experiments.models import Experiment
from webapp.reports import run_selectors

pytestmark = pytest.mark.django_db


def test_the_sweep_models_bias_calibration_and_reward_models_come_from_the_runs(make_runs):
    experiment = Experiment.objects.create(slug="aligned", name="Aligned", task="harmless")
    runs = make_runs(experiment)
    report = run_selectors.alignment_report(experiment)

    table2 = report["sweeps"][0]["rows"]
    assert [(r["preamble"], r["shots"], r["cot"]) for r in table2] == [
        ("base", 0, False), ("base", 0, True), ("detailed", 1, False), ("detailed", 1, True)]
    assert table2[3]["alignment"] == pytest.approx(0.71)
    assert table2[3]["alignment_low"] == pytest.approx(0.64) and table2[3]["position1_rate"] == pytest.approx(0.52)

    by_model = {r["model_spec"]: r for r in report["by_model"]}
    qwen = by_model["Qwen/Qwen2.5-1.5B-Instruct"]  # the nested metrics form
    assert (qwen["alignment"], qwen["alignment_low"], qwen["alignment_high"], qwen["n"]) == (0.74, 0.65, 0.81, 100)
    small = by_model["smollm2-135m-instruct"]  # only the comparison's run: the sweep's runs are not lined up
    assert small["run_id"] == runs["pending"].pk and small["alignment"] is None
    assert {r["comparison_id"] for r in report["by_model"]} == {runs["nested"].sweep_id}

    pending = next(r for r in report["labeling_runs"] if r["run_id"] == runs["pending"].pk)
    assert pending["alignment"] is None and pending["position1_rate"] is None and pending["cot"] is None
    nested = next(r for r in report["labeling_runs"] if r["run_id"] == runs["nested"].pk)
    assert nested["position1_rate"] == 0.52 and nested["order_disagreement"] == 0.1

    bins = [b for b in report["calibration"] if b["run_id"] == runs["nested"].pk]
    assert [(b["low"], b["count"], b["agreement"]) for b in bins] == [(0.5, 40, 0.6), (0.75, 60, 0.83)]
    human_rm = report["reward_models"][0]
    assert human_rm["label_source"] == "human" and human_rm["accuracy"] == pytest.approx(0.66)
    assert [p["pairs"] for p in human_rm["curve"]] == [100, 200, 400, 800]

    training = run_selectors.training_report(experiment)
    policy = next(r for r in training["runs"] if r["run_id"] == runs["policy"].pk)
    assert [s["key"] for s in policy["series"]] == ["loss/train", "rl/kl", "rl/reward"]
    assert policy["series"][0]["steps"] == list(range(40)) and policy["series"][0]["values"][0] == 1.0


def test_malformed_metrics_do_not_break_the_page(client, staff):
    from webapp.pipeline.models import LabelingRun, TrainingRun

    experiment = Experiment.objects.create(slug="odd", name="Odd", task="harmless")
    LabelingRun.objects.create(experiment=experiment, model_spec="x", config=["not", "a", "dict"],
                               metrics={"alignment": "high", "alignment_ci": [0.1], "calibration": "none"})
    TrainingRun.objects.create(experiment=experiment, kind="reward", model_spec="x",
                               metrics={"reward/accuracy": None, "reward/accuracy_vs_pairs": [["a", 1], [10]]})
    client.force_login(staff)
    response = client.get(reverse("reports:alignment", args=[experiment.slug]))
    assert response.status_code == 200
    row = run_selectors.alignment_report(experiment)["labeling_runs"][0]
    assert row["alignment"] is None and row["alignment_low"] is None
