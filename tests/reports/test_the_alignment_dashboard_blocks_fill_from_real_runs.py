"""The alignment dashboard's labeling-runs, calibration, reward-model and training blocks, built
by the real commands on the bundled model (a `label` run, a reward model, one RLHF step), show
exactly what those runs stored: nothing here is written by hand."""

import json

import pytest
from django.core.management import call_command
from django.urls import reverse

from webapp.experiments import services
from webapp.experiments.models import Experiment
from webapp.pipeline.models import LabelingRun, TrainingMetric, TrainingRun
from webapp.reports import run_selectors

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture(autouse=True)
def runs_root(settings, tmp_path):
    settings.RUNS_ROOT = str(tmp_path / "runs")


def last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_every_run_block_shows_what_the_real_runs_stored(bundled_lm, client, staff, capsys):
    services.demo_load()
    experiment = Experiment.objects.get(slug="demo")
    call_command("label", "--experiment", "demo", "--split", "test", "--limit", "4", "--shots", "1", "--json", verbosity=0)
    labeling = LabelingRun.objects.get(pk=last_json(capsys)["run_id"])
    call_command("train_reward", "--experiment", "demo", "--labels", "human", "--max-steps", "1",
                 "--batch-size", "2", "--max-length", "128", "--json", verbosity=0)
    reward = TrainingRun.objects.get(pk=last_json(capsys)["run_id"])
    call_command("train_policy", "--experiment", "demo", "--arm", "rlhf", "--steps", "2", "--batch-size", "2",
                 "--max-new-tokens", "4", "--json", verbosity=0)
    policy = TrainingRun.objects.get(pk=last_json(capsys)["run_id"])

    report = run_selectors.alignment_report(experiment)
    [row] = report["labeling_runs"]
    m = labeling.metrics
    assert (row["run_id"], row["n"], row["config"]) == (labeling.pk, m["n"], "base, 1-shot")
    assert (row["alignment"], row["position1_rate"], row["label_mass"], row["copy_rate"]) == (
        m["alignment"], m["position1_rate"], m["label_mass"], m["copy_rate"])
    bins = [b for b in report["calibration"] if b["run_id"] == labeling.pk]
    assert sum(b["count"] for b in bins) == m["n"] == 4
    assert [b["count"] for b in bins] == [b["count"] for b in m["calibration"]]

    [rm_row] = report["reward_models"]
    assert (rm_row["run_id"], rm_row["label_source"]) == (reward.pk, "human")
    assert rm_row["accuracy"] == reward.metrics["reward/accuracy"]
    assert [rm_row["accuracy_low"], rm_row["accuracy_high"]] == reward.metrics["reward/accuracy_ci"]

    training = {r["run_id"]: r for r in run_selectors.training_report(experiment)["runs"]}
    assert set(training) == {reward.pk, policy.pk}
    series = {s["key"]: s for s in training[policy.pk]["series"]}
    stored = list(TrainingMetric.objects.filter(run=policy).order_by("step"))
    assert series["rl/reward"]["steps"] == [p.step for p in stored]
    assert series["rl/reward"]["values"] == [p.values["rl/reward"] for p in stored]
    assert {"rl/kl", "rl/value_loss"} <= set(series)

    client.force_login(staff)
    page = client.get(reverse("reports:alignment", args=["demo"])).content.decode()
    for run in (labeling, reward, policy):
        assert f">{run.pk}<" in page or f"#{run.pk}" in page, f"run {run.pk} is on the page"
    assert "No labeling sweep yet" in page, "the sweep block still says how to fill it"
