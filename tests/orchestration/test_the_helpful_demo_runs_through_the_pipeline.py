"""The helpful-dialogue demo's data runs through the pipeline like the other two tasks: AI labels
with the helpful task's prompt, a reward model, an RLAIF policy, samples and a round."""

import json

import pytest
from django.core.management import call_command

from tests.orchestration.conftest import TINY, overrides_args
from tests.orchestration.lab import tiny_rows
from webapp.experiments import services
from webapp.experiments.models import Experiment
from webapp.pipeline.models import LabelingRun
from webapp.rating.models import Round

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_a_tiny_slice_of_the_helpful_demo_runs_the_rlaif_arm_to_an_open_round(tmp_path, bundled_lm, capsys):
    experiment = Experiment.objects.create(slug="tiny-helpful", name="Tiny helpful", task="helpful")
    path = tmp_path / "helpful.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in tiny_rows(services.DEMO_DIR / "helpful.jsonl", train=4, test=2)) + "\n")
    services.preferences_import(experiment=experiment, path=path, fmt="jsonl", split=None, source=path.name)

    call_command("run_experiment", "tiny-helpful", "--arms", "rlaif", "--wait", "--in-process", "--json",
                 *overrides_args(TINY), verbosity=0)
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["status"] == "succeeded" and set(summary["stages"].values()) == {"succeeded"}, summary
    assert {"ai-labels", "reward-ai", "policy-rlaif", "samples-rlaif"} <= set(summary["stages"])
    assert LabelingRun.objects.get(experiment=experiment).config["task"] == "helpful"

    round = Round.objects.get(experiment=experiment)
    assert round.is_open and not round.with_reference and round.policies == ["sft", "rlaif"] and round.mode == "rank"
    assert round.items.count() == 2
