"""Cancelling a running stage stops its work at the next chunk (the labeling run is cancelled with
it); retrying it continues from the labels already saved, and each pair ends with one label."""

import pytest

from tests.orchestration.conftest import TINY
from webapp.pipeline.models import AILabel, LabelingRun, PipelineStage, Status
from webapp.pipeline.services import orchestration, stages

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_cancel_mid_labeling_then_retry_labels_only_the_rest(tiny_experiment, bundled_lm):
    run = orchestration.pipeline_run_create(experiment=tiny_experiment, arms=["rlaif"], overrides=TINY, enqueue=False)
    stages.pipeline_stage_execute(stage_id=PipelineStage.objects.get(pipeline=run, name="prepare-models").pk, advance=False)
    labels_stage = PipelineStage.objects.get(pipeline=run, name="ai-labels")

    def staff_cancel_after_the_first_chunk(progress):
        if progress.done == 2:
            assert orchestration.pipeline_stage_cancel(stage=PipelineStage.objects.get(pk=labels_stage.pk), user="boss")

    stages.pipeline_stage_execute(stage_id=labels_stage.pk, on_progress=staff_cancel_after_the_first_chunk, advance=False)
    labels_stage.refresh_from_db()
    labeling_run = LabelingRun.objects.get()
    assert labels_stage.status == Status.CANCELLED and labeling_run.status == Status.CANCELLED
    assert AILabel.objects.count() == 2  # the second chunk was never labelled
    assert "cancelled by boss" in labels_stage.log
    run.refresh_from_db()
    assert run.status == "running"  # the SFT samples do not need labels: that branch goes on
    assert [s.name for s in orchestration.ready_stages(run)] == ["samples-sft"]

    assert orchestration.pipeline_stage_retry(stage=labels_stage, enqueue=False)
    resumed = stages.pipeline_stage_execute(stage_id=labels_stage.pk, advance=False)
    assert resumed.status == Status.SUCCEEDED and resumed.labeling_run == labeling_run and resumed.attempts == 2
    assert "2/4 pairs" in resumed.log.split("retry requested")[1]  # the second attempt started from the saved chunk
    assert AILabel.objects.count() == AILabel.objects.values("pair").distinct().count() == 4
    assert resumed.metrics["n"] == 4 and 0 <= resumed.metrics["alignment"] <= 1
    assert [s.name for s in orchestration.ready_stages(run)] == ["reward-ai", "samples-sft"]
