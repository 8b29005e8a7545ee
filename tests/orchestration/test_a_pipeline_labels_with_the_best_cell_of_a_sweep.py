"""A pipeline can label its pairs with the best cell of a labeling sweep (highest alignment with
the human labels), from ``run_experiment --labeling-from-sweep`` and from the run form; the run
page names the labeling prompt each labeling stage uses; an explicit ``--set labeling.*`` wins;
a sweep that does not exist or has no finished cell is refused, starting nothing."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.urls import reverse

from tests.orchestration.lab import import_tiny_demo
from webapp.pipeline.models import LabelingRun, LabelingSweep, PipelineRun

pytestmark = pytest.mark.django_db

# Cells of a finished sweep as label_sweep stores them: (preamble, shots, cot, alignment).
CELLS = [("base", 0, False, 0.61), ("detailed", 1, True, 0.74), ("detailed", 2, False, 0.74), ("base", 1, True, 0.55)]


@pytest.fixture
def swept(tmp_path):
    experiment = import_tiny_demo("swept", tmp_path, train=4, test=2)
    sweep = LabelingSweep.objects.create(experiment=experiment, split="train", limit=4, model_spec="smollm2-135m-instruct")
    for preamble, shots, cot, alignment in CELLS:
        LabelingRun.objects.create(experiment=experiment, sweep=sweep, model_spec=sweep.model_spec, status="succeeded",
                                   config={"task": "helpful", "preamble": preamble, "shots": shots, "cot": cot, "swap": True},
                                   metrics={"n": 4, "alignment": alignment})
    return experiment, sweep


def _labeling_config(run: PipelineRun) -> dict:
    return run.stages.get(kind="labeling").config["config"]


def test_the_command_labels_with_the_best_cell_and_an_explicit_setting_wins(swept):
    experiment, sweep = swept
    call_command("run_experiment", "swept", "--arms", "rlaif", "--labeling-from-sweep", str(sweep.pk), verbosity=0)
    # Two cells share the best alignment: the first listed (fewer shots) is taken.
    config = _labeling_config(PipelineRun.objects.latest("id"))
    assert (config["preamble"], config["shots"], config["cot"]) == ("detailed", 1, True)
    assert config["batch_size"] == 8  # the size's own settings stay

    call_command("run_experiment", "swept", "--arms", "rlaif", "--labeling-from-sweep", str(sweep.pk),
                 "--set", "labeling.shots=0", verbosity=0)
    config = _labeling_config(PipelineRun.objects.latest("id"))
    assert (config["preamble"], config["shots"], config["cot"]) == ("detailed", 0, True)


def test_the_run_form_offers_the_sweep_and_the_run_page_names_the_labeling_prompt(swept, client):
    experiment, sweep = swept
    boss = User.objects.create_superuser("boss", password="run-pass-123")
    client.force_login(boss)
    form = client.get(reverse("pipeline:run_new", args=["swept"])).content.decode()
    assert f"Best cell of sweep #{sweep.pk} (smollm2-135m-instruct): detailed, 1-shot, CoT, alignment 74.0 %" in form

    assert 'name="ai_judge"' in form
    response = client.post(reverse("pipeline:run_new", args=["swept"]),
                           {"arms": ["rlaif"], "size": "demo", "labeling_sweep": str(sweep.pk), "ai_judge": "on"})
    run = PipelineRun.objects.latest("id")
    assert response.status_code == 302 and _labeling_config(run)["preamble"] == "detailed"
    assert run.ai_judge and run.stages.filter(kind="judge", depends_on=["evaluation-round"]).exists()
    page = client.get(reverse("pipeline:run_detail", args=["swept", run.pk])).content.decode()
    assert "Labeling prompt: detailed preamble, 1-shot, chain of thought" in page


def test_a_missing_or_unfinished_sweep_is_refused_and_starts_nothing(swept):
    experiment, sweep = swept
    with pytest.raises(CommandError, match="swept has no labeling sweep #999999"):
        call_command("run_experiment", "swept", "--arms", "rlaif", "--labeling-from-sweep", "999999", verbosity=0)
    pending = LabelingSweep.objects.create(experiment=experiment, split="train", limit=4, model_spec="x")
    LabelingRun.objects.create(experiment=experiment, sweep=pending, model_spec="x", status="pending",
                               config={"preamble": "base", "shots": 0, "cot": False}, metrics={})
    with pytest.raises(CommandError, match=f"labeling sweep #{pending.pk} has no finished cell with an alignment yet"):
        call_command("run_experiment", "swept", "--arms", "rlaif", "--labeling-from-sweep", str(pending.pk), verbosity=0)
    assert not PipelineRun.objects.exists()
