"""A worker that cannot load the stage's model (the labeler of a labeling stage, the policy of a
sampling stage) fails its chunk with the loader's message; after the last try the stage fails
with it. What the chunks before stored stays stored, and a retry (once the model spec is right
again) does only the rest."""

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.conf import settings

from pipeline import registry
from tests.orchestration.conftest import TINY
from webapp.experiments.models import PolicyResponse
from webapp.pipeline.models import AILabel, LabelingRun, PipelineStage, SamplingRun, StageChunk, Status
from webapp.pipeline.services import fanout, labeling, orchestration, stages

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@dataclass
class Kind:
    arm: str
    stage: str
    run: type  # the stage's run model, whose model_spec the workers load
    missing: str  # a spec no worker can load
    load: Callable[[str], object]  # the loader the workers call
    chunk_size: int
    broken_after: int  # items done when the spec goes bad (the first chunk)
    failure: str  # how the stage's error names the failed chunk
    stored: Callable[[], tuple[int, int]]  # (results stored, distinct items they answer)
    total: int


LABELING = Kind("rlaif", "ai-labels", LabelingRun, "no-such-labeler-model", lambda spec: labeling.load_labeler(spec, "exact"),
                2, 2, "chunk 1 (pairs 2-3) failed 3 times",
                lambda: (AILabel.objects.count(), AILabel.objects.values("pair").distinct().count()), 4)
SAMPLING = Kind("sft", "samples-sft", SamplingRun, "no-such-policy-model",
                lambda spec: registry.load_causal_lm(spec, settings.ARTIFACT_LOCAL),
                1, 1, "chunk 1 (prompts 1-1) failed 3 times",
                lambda: (PolicyResponse.objects.filter(policy="sft").count(),
                         PolicyResponse.objects.filter(policy="sft").values("prompt").distinct().count()), 2)


@pytest.mark.parametrize("kind", [LABELING, SAMPLING], ids=["labeling", "sampling"])
def test_a_missing_model_fails_the_stage_with_the_loaders_message_and_a_retry_resumes(tiny_experiment, bundled_lm, kind):
    section = "labeling" if kind is LABELING else "sampling"
    overrides = {**TINY, section: {**TINY.get(section, {}), "chunk_size": kind.chunk_size}}
    run = orchestration.pipeline_run_create(experiment=tiny_experiment, arms=[kind.arm], overrides=overrides, enqueue=False)
    stages.pipeline_stage_execute(stage_id=PipelineStage.objects.get(pipeline=run, name="prepare-models").pk, advance=False)
    stage = PipelineStage.objects.get(pipeline=run, name=kind.stage)

    original = []

    def model_removed_after_the_first_chunk(progress):
        """From the second chunk on, the run names a model no worker can load."""
        if progress.done == kind.broken_after and not original:
            original.append(kind.run.objects.get().model_spec)
            kind.run.objects.update(model_spec=kind.missing)

    failed = stages.pipeline_stage_execute(stage_id=stage.pk, on_progress=model_removed_after_the_first_chunk, advance=False)

    with pytest.raises(Exception) as loader:  # noqa: PT011 - whatever the loader raises, its message is the stage's
        kind.load(kind.missing)
    assert failed.status == Status.FAILED
    assert kind.failure in failed.error and str(loader.value) in failed.error
    assert kind.run.objects.get().status == Status.FAILED
    chunk = StageChunk.objects.get(stage=failed, index=1)
    assert chunk.status == Status.FAILED and chunk.attempts == fanout.MAX_CHUNK_ATTEMPTS and str(loader.value) in chunk.error
    assert kind.stored() == (kind.broken_after, kind.broken_after)  # the first chunk's results stay

    kind.run.objects.update(model_spec=original[0])  # staff put the right spec back
    assert orchestration.pipeline_stage_retry(stage=failed, enqueue=False)
    resumed = stages.pipeline_stage_execute(stage_id=stage.pk, advance=False)
    assert resumed.status == Status.SUCCEEDED and resumed.error == ""
    assert kind.run.objects.get().status == Status.SUCCEEDED
    assert kind.stored() == (kind.total, kind.total)
