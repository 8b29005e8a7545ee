"""A stage's message goes to the queue stored on its row (the one the run page shows), whatever
its kind, with the time limits of that queue; a stage on ``default`` never reaches ``gpu``."""

import json

import pytest
from django.conf import settings

from tests.orchestration.conftest import TINY, messages_in, sent_stages
from webapp.pipeline.models import PipelineStage, Status
from webapp.pipeline.services import orchestration

# Transactional: messages are sent on commit, as in production.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def stage(run, name):
    return PipelineStage.objects.get(pipeline=run, name=name)


def prepared(run):
    """The models are ready (what the prepare stage would do, without loading them here)."""
    PipelineStage.objects.filter(pipeline=run, name="prepare-models").update(status=Status.SUCCEEDED)


def time_limits(queue_dir):
    return [json.loads(path.read_text())["headers"]["timelimit"] for path in sorted(queue_dir.glob("*.msg"))]


def test_each_stage_lands_on_its_stored_queue_and_default_work_never_on_gpu(tiny_experiment, isolated_broker):
    run = orchestration.pipeline_run_create(experiment=tiny_experiment, arms=["sft"], overrides=TINY)
    assert {s.name: s.queue for s in run.stages.all()} == {
        "prepare-models": "default", "samples-sft": "gpu", "evaluation-round": "default"}
    assert sent_stages(isolated_broker) == [("prepare-models", "default")]
    assert [m for m in messages_in(isolated_broker) if m["queue"] == "gpu"] == []
    assert time_limits(isolated_broker) == [[1900, 1800]]

    # The stored queue decides, not the kind: an operator who moves the sampling to `default`
    # (a CPU box) gets it there, and the page that says "default queue" is right.
    PipelineStage.objects.filter(pk=stage(run, "samples-sft").pk).update(queue="default")
    prepared(run)
    orchestration.pipeline_advance(pipeline_id=run.pk)
    assert sent_stages(isolated_broker) == [("prepare-models", "default"), ("samples-sft", "default")]
    assert {m["queue"] for m in messages_in(isolated_broker)} == {"default"}


def test_gpu_stages_go_to_gpu_with_the_long_time_limit_and_recovery_keeps_the_queue(tiny_experiment, isolated_broker):
    run = orchestration.pipeline_run_create(experiment=tiny_experiment, arms=["sft"], overrides=TINY, enqueue=False)
    prepared(run)
    assert messages_in(isolated_broker) == []

    orchestration.pipeline_recover()  # the ready sampling stage lost its message: sent again, to its queue
    assert sent_stages(isolated_broker) == [("samples-sft", "gpu")]
    assert time_limits(isolated_broker) == [[settings.PIPELINE_TIME_LIMIT + 120, settings.PIPELINE_TIME_LIMIT]]
