"""A worker that cannot load the policy fails its sampling chunk with the loader's message; after
the last try the stage fails with it. The responses stored before stay stored, and a retry (once
the model spec is right again) answers only the rest."""

import pytest
from django.conf import settings

from pipeline import registry
from tests.orchestration.conftest import TINY
from webapp.experiments.models import PolicyResponse
from webapp.pipeline.models import PipelineStage, SamplingRun, StageChunk, Status
from webapp.pipeline.services import fanout, orchestration, stages

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
MISSING = "no-such-policy-model"


def test_a_missing_policy_fails_the_stage_with_the_loaders_message_and_a_retry_resumes(tiny_experiment, bundled_lm):
    overrides = {**TINY, "sampling": {**TINY["sampling"], "chunk_size": 1}}
    run = orchestration.pipeline_run_create(experiment=tiny_experiment, arms=["sft"], overrides=overrides, enqueue=False)
    stages.pipeline_stage_execute(stage_id=PipelineStage.objects.get(pipeline=run, name="prepare-models").pk, advance=False)
    samples_stage = PipelineStage.objects.get(pipeline=run, name="samples-sft")

    def model_removed_after_the_first_chunk(progress):
        """From the second chunk on, the run names a policy no worker can load."""
        if progress.done == 1:
            SamplingRun.objects.update(model_spec=MISSING)

    failed = stages.pipeline_stage_execute(stage_id=samples_stage.pk, on_progress=model_removed_after_the_first_chunk, advance=False)

    with pytest.raises(Exception) as loader:  # noqa: PT011 - whatever the loader raises, its message is the stage's
        registry.load_causal_lm(MISSING, settings.ARTIFACT_LOCAL)
    assert failed.status == Status.FAILED
    assert "chunk 1 (prompts 1-1) failed 3 times" in failed.error and str(loader.value) in failed.error
    assert SamplingRun.objects.get().status == Status.FAILED
    chunk = StageChunk.objects.get(stage=failed, index=1)
    assert chunk.status == Status.FAILED and chunk.attempts == fanout.MAX_CHUNK_ATTEMPTS and str(loader.value) in chunk.error
    assert PolicyResponse.objects.filter(policy="sft").count() == 1  # the first chunk's response stays

    SamplingRun.objects.update(model_spec=tiny_experiment.policy_model)  # staff put the right spec back
    assert orchestration.pipeline_stage_retry(stage=failed, enqueue=False)
    resumed = stages.pipeline_stage_execute(stage_id=samples_stage.pk, advance=False)
    assert resumed.status == Status.SUCCEEDED and resumed.error == "" and resumed.sampling_run.status == Status.SUCCEEDED
    assert PolicyResponse.objects.filter(policy="sft").count() == PolicyResponse.objects.filter(policy="sft").values("prompt").distinct().count() == 2
