"""A stage whose inputs (data, configs, models, upstream stages) did not change is not run again;
changing any input runs it, and its samples get a name of their own beside the old ones."""

import json

import pytest
from django.core.management import call_command

from tests.orchestration.conftest import TINY, overrides_args
from webapp.experiments.models import PolicyResponse, PreferencePair
from webapp.pipeline.models import PipelineRun, PipelineStage, Status
from webapp.pipeline.services import orchestration

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def run_here(capsys, *args) -> dict:
    """run_experiment in this process; returns its last line, the JSON summary."""
    call_command("run_experiment", "tiny", "--arms", "sft", "--wait", "--in-process", "--json", *overrides_args(TINY), *args, verbosity=0)
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_a_second_run_reuses_everything_unchanged_and_a_changed_config_runs_again(tiny_experiment, bundled_lm, capsys):
    first = run_here(capsys)
    assert first["status"] == "succeeded" and set(first["stages"].values()) == {"succeeded"}
    assert first["wall_seconds"] > 0 and set(first) == {"run_id", "experiment", "stages", "wall_seconds", "status", "algorithm",
                                                            "mixed_share", "iterations"}

    second = run_here(capsys)
    assert second["stages"] == {"prepare-models": "succeeded", "samples-sft": "reused", "evaluation-round": "reused"}
    reused = PipelineStage.objects.get(pipeline_id=second["run_id"], name="samples-sft")
    original = PipelineStage.objects.get(pipeline_id=first["run_id"], name="samples-sft")
    assert reused.reused_from == original and reused.sampling_run == original.sampling_run and reused.attempts == 0

    third = run_here(capsys, "--set", "sampling.temperature=0.9")
    assert third["stages"] == {"prepare-models": "succeeded", "samples-sft": "succeeded", "evaluation-round": "succeeded"}
    fresh = PipelineStage.objects.get(pipeline_id=third["run_id"], name="samples-sft")
    assert fresh.sampling_run.policy == f"sft-run{third['run_id']}"  # "sft" already names the first run's samples
    assert PolicyResponse.objects.filter(policy="sft").count() == PolicyResponse.objects.filter(policy=fresh.sampling_run.policy).count() == 2


def test_changed_data_changes_every_fingerprint(tiny_experiment):
    before = orchestration.pipeline_run_create(experiment=tiny_experiment, arms=["rlaif"], enqueue=False)
    pair = PreferencePair.objects.filter(prompt__experiment=tiny_experiment).first()
    pair.human_choice = 3 - pair.human_choice
    pair.save()
    after = orchestration.pipeline_run_create(experiment=tiny_experiment, arms=["rlaif"], enqueue=False)
    old = dict(before.stages.values_list("name", "fingerprint"))
    new = dict(after.stages.values_list("name", "fingerprint"))
    assert old.keys() == new.keys() and all(old[name] != new[name] for name in old if name != "prepare-models")


def test_if_none_starts_nothing_when_a_run_exists(tiny_experiment, capsys):
    call_command("run_experiment", "tiny", "--arms", "sft", verbosity=0)
    call_command("run_experiment", "tiny", "--if-none", "--json", verbosity=0)
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert PipelineRun.objects.count() == 1 and out["run_id"] == PipelineRun.objects.get().pk
    assert out["status"] == "pending" and out["wall_seconds"] is None
    assert PipelineRun.objects.get().stages.filter(status=Status.PENDING).count() == 3


def test_a_misspelt_setting_or_arm_is_refused_before_anything_starts(tiny_experiment):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="unknown rl settings: stepz"):
        call_command("run_experiment", "tiny", "--arms", "rlhf", "--set", "rl.stepz=2", verbosity=0)
    with pytest.raises(CommandError, match="unknown arm 'rlhf2'"):
        call_command("run_experiment", "tiny", "--arms", "rlhf2", verbosity=0)
    with pytest.raises(CommandError, match="write KIND.FIELD=VALUE"):
        call_command("run_experiment", "tiny", "--set", "steps=2", verbosity=0)
    assert not PipelineRun.objects.exists()
