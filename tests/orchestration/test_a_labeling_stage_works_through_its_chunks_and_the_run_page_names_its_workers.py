"""A labeling stage splits its pairs into fixed chunks and works through them (here in one
process: no other worker is sent any); it ends once, with one label per pair, and the run page
shows its one progress bar and the worker that took part."""

import pytest

from tests.orchestration.chunks import assert_the_run_page_shows_one_bar_and_this_worker
from tests.orchestration.conftest import TINY
from webapp.pipeline.models import AILabel, PipelineStage, StageChunk, Status
from webapp.pipeline.services import fanout, orchestration, stages

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_the_stage_labels_chunk_by_chunk_and_the_page_names_the_worker(tiny_experiment, bundled_lm, client):
    run = orchestration.pipeline_run_create(experiment=tiny_experiment, arms=["rlaif"], overrides=TINY, enqueue=False)
    stages.pipeline_stage_execute(stage_id=PipelineStage.objects.get(pipeline=run, name="prepare-models").pk, advance=False)
    labels_stage = PipelineStage.objects.get(pipeline=run, name="ai-labels")

    done = stages.pipeline_stage_execute(stage_id=labels_stage.pk, advance=False)

    assert done.status == Status.SUCCEEDED and done.labeling_run.status == Status.SUCCEEDED
    assert list(StageChunk.objects.filter(stage=done).values_list("index", "start", "stop", "status")) == [
        (0, 0, 2, "succeeded"), (1, 2, 4, "succeeded")]  # TINY: chunks of 2 pairs
    assert AILabel.objects.count() == AILabel.objects.values("pair").distinct().count() == 4
    assert done.metrics["n"] == 4 and done.metrics["workers"] == 1
    # The stage ended once: a late chunk message (a duplicate delivery) neither works nor ends it again.
    assert fanout.stage_chunks_run(stage_id=done.pk) == 0 and not fanout.stage_finish_if_done(stage_id=done.pk)

    assert_the_run_page_shows_one_bar_and_this_worker(client, tiny_experiment.slug, run.pk, "ai-labels", 2)
