"""A reward-curve stage cancelled while its second model trains (the way a killed worker's stage is taken
over: the same claim and resume code) resumes on retry from the models already trained: the
finished size's checkpoint is kept, not trained again, and the curve ends with every size."""

import pytest

from tests.orchestration.conftest import TINY
from webapp.pipeline import runs
from webapp.pipeline.models import PipelineStage, Status, TrainingRun
from webapp.pipeline.services import orchestration, stages

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_cancel_after_the_first_model_then_retry_trains_only_the_rest(tiny_experiment, bundled_lm):
    overrides = {**TINY, "curve": {"sizes": [2, 4], "labels": ["human"]}}
    run = orchestration.pipeline_run_create(experiment=tiny_experiment, arms=["sft"], overrides=overrides, enqueue=False,
                                            reward_curve=True)
    stages.pipeline_stage_execute(stage_id=PipelineStage.objects.get(pipeline=run, name="prepare-models").pk, advance=False)
    curve_stage = PipelineStage.objects.get(pipeline=run, name="reward-curve-human")
    assert (curve_stage.kind, curve_stage.queue, curve_stage.progress_total) == ("reward-curve", "gpu", 2)

    def staff_cancel_while_the_second_model_trains(progress):
        # one model finished (done), the next has trained its one step (TINY's max_steps) but not saved it
        if progress.done == 1 and progress.phase == "training" and progress.phase_done == progress.phase_total == 1:
            orchestration.pipeline_stage_cancel(stage=PipelineStage.objects.get(pk=curve_stage.pk), user="boss")

    stages.pipeline_stage_execute(stage_id=curve_stage.pk, on_progress=staff_cancel_while_the_second_model_trains, advance=False)
    curve_stage.refresh_from_db()
    training_run = TrainingRun.objects.get()
    assert curve_stage.status == Status.CANCELLED and training_run.status == Status.CANCELLED
    assert training_run.arm == "rm-curve" and training_run.config["curve_sizes"] == [2, 4]
    first = runs.run_dir(training_run) / "n-2" / "checkpoints" / "step-00000001" / "state.pt"
    kept = (first.stat().st_ino, first.stat().st_mtime_ns)

    assert orchestration.pipeline_stage_retry(stage=curve_stage, enqueue=False)
    resumed = stages.pipeline_stage_execute(stage_id=curve_stage.pk, advance=False)
    assert resumed.status == Status.SUCCEEDED and resumed.training_run == training_run and resumed.attempts == 2
    assert (first.stat().st_ino, first.stat().st_mtime_ns) == kept  # the finished model was not trained again
    training_run.refresh_from_db()
    assert [point[0] for point in training_run.metrics["reward/accuracy_vs_pairs"]] == [2, 4]
    assert (resumed.progress_done, resumed.progress_total) == (2, 2)
