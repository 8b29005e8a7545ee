"""A sampling stage splits its test prompts into fixed chunks and works through them (here in one
process); it ends once, with one response per prompt, and those responses are the same whether
the stage ran as one chunk or one chunk per prompt (each is seeded by its prompt's text, not
its place in a batch). The run page shows its one progress bar and the worker that took part."""

import pytest

from tests.orchestration.chunks import assert_the_run_page_shows_one_bar_and_this_worker
from tests.orchestration.conftest import TINY
from tests.orchestration.lab import import_tiny_demo
from webapp.experiments.models import PolicyResponse
from webapp.pipeline.models import PipelineStage, StageChunk, Status
from webapp.pipeline.services import fanout, orchestration, stages

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
PROMPTS = 5


def sampled(experiment, chunk_size: int) -> PipelineStage:
    """A new pipeline run's SFT sampling stage, executed here with ``chunk_size`` prompts per chunk."""
    overrides = {**TINY, "sampling": {"max_new_tokens": 8, "chunk_size": chunk_size}}
    run = orchestration.pipeline_run_create(experiment=experiment, arms=["sft"], overrides=overrides, enqueue=False)
    stages.pipeline_stage_execute(stage_id=PipelineStage.objects.get(pipeline=run, name="prepare-models").pk, advance=False)
    return stages.pipeline_stage_execute(stage_id=PipelineStage.objects.get(pipeline=run, name="samples-sft").pk, advance=False)


def test_one_chunk_and_one_chunk_per_prompt_sample_the_same_responses(tmp_path, bundled_lm, client):
    experiment = import_tiny_demo("tiny-sampled", tmp_path, train=2, test=PROMPTS)

    whole = sampled(experiment, chunk_size=PROMPTS)
    sliced = sampled(experiment, chunk_size=1)

    for stage, chunks in ((whole, 1), (sliced, PROMPTS)):
        assert stage.status == Status.SUCCEEDED and stage.sampling_run.status == Status.SUCCEEDED
        assert list(StageChunk.objects.filter(stage=stage).values_list("status", flat=True)) == ["succeeded"] * chunks
        assert stage.progress_done == stage.progress_total == PROMPTS
        assert stage.metrics["responses"] == PROMPTS and stage.metrics["workers"] == 1
    second = f"sft-run{sliced.pipeline_id}"
    assert sliced.sampling_run.policy == second  # "sft" was taken by the first run
    one = dict(PolicyResponse.objects.filter(policy="sft").values_list("prompt_id", "text"))
    many = dict(PolicyResponse.objects.filter(policy=second).values_list("prompt_id", "text"))
    assert len(one) == PROMPTS and all(one.values()) and one == many
    assert all(r.length_tokens is not None for r in PolicyResponse.objects.all())  # the report's lengths, stored at the end
    # The stage ended once: a late chunk message (a duplicate delivery) neither works nor ends it again.
    assert fanout.stage_chunks_run(stage_id=sliced.pk) == 0 and not fanout.stage_finish_if_done(stage_id=sliced.pk)

    assert_the_run_page_shows_one_bar_and_this_worker(client, experiment.slug, sliced.pipeline_id, "samples-sft", PROMPTS)
