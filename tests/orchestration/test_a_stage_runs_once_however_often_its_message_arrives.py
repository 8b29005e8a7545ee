"""Each stage is claimed with one conditional UPDATE: duplicate, early and stale messages do nothing,
a dependant is queued once, and a claim is only taken from a worker that is dead."""

import socket
import subprocess

import pytest

from tests.orchestration.conftest import TINY, messages_in, sent_stages
from webapp.experiments.models import PolicyResponse
from webapp.pipeline import runs
from webapp.pipeline.models import PipelineStage, Status
from webapp.pipeline.services import orchestration, stages
from webapp.rating.models import Round

# Transactional: messages are sent on commit, as in production.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def stage(run, name):
    return PipelineStage.objects.get(pipeline=run, name=name)


def test_duplicates_and_early_messages_are_no_ops_and_each_dependant_is_queued_once(tiny_experiment, isolated_broker, bundled_lm):
    run = orchestration.pipeline_run_create(experiment=tiny_experiment, arms=["sft"], overrides=TINY)
    assert [s.name for s in run.stages.all()] == ["prepare-models", "samples-sft", "evaluation-round"]
    assert messages_in(isolated_broker) == [{"task": "pipeline.stage", "args": repr((stage(run, "prepare-models").pk,)), "queue": "default"}]
    run.refresh_from_db()
    assert run.status == "pending" and run.get_status_display() == "Queued"

    # The round's message arriving before its samples exist changes nothing.
    assert stages.pipeline_stage_execute(stage_id=stage(run, "evaluation-round").pk) is None
    assert stage(run, "evaluation-round").status == Status.PENDING and stage(run, "evaluation-round").attempts == 0

    prepare = stages.pipeline_stage_execute(stage_id=stage(run, "prepare-models").pk)
    assert prepare.status == Status.SUCCEEDED and prepare.attempts == 1 and prepare.metrics == {"models": ["smollm2-135m-instruct"]}
    assert stages.pipeline_stage_execute(stage_id=prepare.pk) is None  # delivered twice
    assert stage(run, "prepare-models").attempts == 1
    orchestration.pipeline_advance(pipeline_id=run.pk)  # a second advance (another stage finishing) sends nothing new
    assert sent_stages(isolated_broker) == [("prepare-models", "default"), ("samples-sft", "gpu")]

    samples = stages.pipeline_stage_execute(stage_id=stage(run, "samples-sft").pk)
    assert samples.status == Status.SUCCEEDED and samples.sampling_run.policy == "sft"
    assert stages.pipeline_stage_execute(stage_id=samples.pk) is None
    assert PolicyResponse.objects.filter(policy="sft", prompt__experiment=tiny_experiment).count() == 2
    assert samples.progress_done == samples.progress_total == 2 and "2/2 prompts" in samples.log

    final = stages.pipeline_stage_execute(stage_id=stage(run, "evaluation-round").pk)
    assert final.status == Status.SUCCEEDED and final.round.policies == ["sft"]
    assert final.round.mode == "harmless" and final.round.is_open  # one policy: judged for harm only
    assert stages.pipeline_stage_execute(stage_id=final.pk) is None
    assert Round.objects.filter(experiment=tiny_experiment).count() == 1
    assert sent_stages(isolated_broker) == [("prepare-models", "default"), ("samples-sft", "gpu"), ("evaluation-round", "default")]
    run.refresh_from_db()
    assert run.status == "succeeded" and run.get_status_display() == "Finished"
    assert run.finished_at is not None and run.wall_seconds > 0


def test_a_live_claim_is_left_alone_and_a_dead_ones_is_taken_over(tiny_experiment):
    run = orchestration.pipeline_run_create(experiment=tiny_experiment, arms=["sft"], overrides=TINY, enqueue=False)
    prepare = stage(run, "prepare-models")
    assert runs.run_claim(model=PipelineStage, run_id=prepare.pk, worker="gpu-box-7:4242:1") is not None
    assert stages.pipeline_stage_execute(stage_id=prepare.pk) is None  # another machine's fresh claim
    assert stage(run, "prepare-models").claimed_by == "gpu-box-7:4242:1"

    gone = subprocess.Popen(["true"])
    gone.wait()
    PipelineStage.objects.filter(pk=prepare.pk).update(claimed_by=f"{socket.gethostname()}:{gone.pid}:1")
    taken = stages.pipeline_stage_execute(stage_id=prepare.pk, advance=False)
    assert taken.status == Status.SUCCEEDED and taken.attempts == 2
    assert "had died" in taken.log


def test_a_failed_stage_keeps_its_error_blocks_its_dependants_and_runs_again_only_when_retried(tiny_experiment, isolated_broker):
    tiny_experiment.policy_model = "nobody/no-such-model"
    tiny_experiment.save()
    run = orchestration.pipeline_run_create(experiment=tiny_experiment, arms=["sft"], overrides=TINY)
    prepare = stage(run, "prepare-models")
    with pytest.raises(Exception, match="not found"):
        stages.pipeline_stage_execute(stage_id=prepare.pk)
    prepare.refresh_from_db()
    assert prepare.status == Status.FAILED and "nobody/no-such-model" in prepare.error and "failed:" in prepare.log
    run.refresh_from_db()
    assert run.status == "failed" and run.finished_at is not None
    assert stages.pipeline_stage_execute(stage_id=prepare.pk) is None  # a duplicate message does not re-run it
    assert stage(run, "samples-sft").status == Status.PENDING

    tiny_experiment.policy_model = "smollm2-135m-instruct"
    tiny_experiment.save()
    assert orchestration.pipeline_stage_retry(stage=prepare)
    assert not orchestration.pipeline_stage_retry(stage=prepare)  # already pending
    run.refresh_from_db()
    assert run.status == "running"
    assert sent_stages(isolated_broker) == [("prepare-models", "default")] * 2
    again = stages.pipeline_stage_execute(stage_id=prepare.pk, advance=False)
    assert again.status == Status.SUCCEEDED and again.error == "" and again.attempts == 2
