"""A worker that cannot load the labeler fails its chunk with the loader's message; after the last
try the stage fails with it. The chunks stored before stay stored, and a retry (once the model
spec is right again) labels only the rest."""

import pytest

from tests.orchestration.conftest import TINY
from webapp.pipeline.models import AILabel, LabelingRun, PipelineStage, StageChunk, Status
from webapp.pipeline.services import fanout, labeling, orchestration, stages

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
MISSING = "no-such-labeler-model"


def test_a_missing_labeler_fails_the_stage_with_the_loaders_message_and_a_retry_resumes(tiny_experiment, bundled_lm):
    run = orchestration.pipeline_run_create(experiment=tiny_experiment, arms=["rlaif"], overrides=TINY, enqueue=False)
    stages.pipeline_stage_execute(stage_id=PipelineStage.objects.get(pipeline=run, name="prepare-models").pk, advance=False)
    labels_stage = PipelineStage.objects.get(pipeline=run, name="ai-labels")

    def model_removed_after_the_first_chunk(progress):
        """From the second chunk on, the run names a labeler no worker can load."""
        if progress.done == 2:
            LabelingRun.objects.update(model_spec=MISSING)

    failed = stages.pipeline_stage_execute(stage_id=labels_stage.pk, on_progress=model_removed_after_the_first_chunk, advance=False)

    with pytest.raises(Exception) as loader:  # noqa: PT011 - whatever the loader raises, its message is the stage's
        labeling.load_labeler(MISSING, "exact")
    assert failed.status == Status.FAILED
    assert "chunk 1 (pairs 2-3) failed 3 times" in failed.error and str(loader.value) in failed.error
    assert LabelingRun.objects.get().status == Status.FAILED
    chunk = StageChunk.objects.get(stage=failed, index=1)
    assert chunk.status == Status.FAILED and chunk.attempts == fanout.MAX_CHUNK_ATTEMPTS and str(loader.value) in chunk.error
    assert AILabel.objects.count() == 2  # the first chunk's labels stay

    LabelingRun.objects.update(model_spec=labels_stage.model_spec)  # staff put the right spec back
    assert orchestration.pipeline_stage_retry(stage=failed, enqueue=False)
    resumed = stages.pipeline_stage_execute(stage_id=labels_stage.pk, advance=False)
    assert resumed.status == Status.SUCCEEDED and resumed.error == ""
    assert AILabel.objects.count() == AILabel.objects.values("pair").distinct().count() == 4
