"""A trainer SIGKILLed after a step is trained but before its checkpoint is written: the run's
recorded progress (what the run page and the API show as done) is exactly the step the resume
continues from, and the step that was only trained shows as running ahead, not as done."""

import json
import signal
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

# The trainer of a reward run, with a progress hook that stops the process between "step 3
# trained" and "checkpoint 4 saved" (checkpoints every 2 steps), the way a kill would find it.
PAUSED_TRAINER = """
import sys, time
from pathlib import Path
import django
django.setup()
from pipeline.configs import RewardConfig
from webapp.experiments.models import Experiment
from webapp.pipeline.services import training

marker, model = Path(sys.argv[1]), sys.argv[2]
config = RewardConfig(model=model, batch_size=2, max_length=160, max_steps=4, checkpoint_every=2)
run = training.reward_run_create(experiment=Experiment.objects.get(slug="tiny"), label_source="human", config=config)

def pause_before_the_checkpoint(progress):
    if progress.phase == "training" and progress.phase_done == 3:
        marker.write_text(str(run.pk))
        time.sleep(600)

training.training_run_execute(run_id=run.pk, on_progress=pause_before_the_checkpoint)
"""


def test_the_recorded_progress_is_the_step_the_resume_continues_from(lab, tiny_model_dir):
    lab.import_tiny(train=8, test=2)
    marker = lab.folder / "paused"
    # The tiny random model: the mechanics are the trainer's, and seconds of CPU keep the test
    # far from its time limits on a loaded machine.
    trainer = lab.start("trainer", sys.executable, "-c", PAUSED_TRAINER, str(marker), str(tiny_model_dir))
    lab.wait_for(marker.is_file, timeout=600, every=0.5, what="the trainer to pause after step 3")
    lab.kill(trainer, signal.SIGKILL)

    run_id = int(marker.read_text())
    [(status, done, total, phase, trained)] = lab.sql(
        f"SELECT status, progress_done, progress_total, phase, phase_done FROM pipeline_trainingrun WHERE id = {run_id}")
    assert status == "running"  # claimed by a dead process: resumable
    assert (done, total, phase, trained) == (2, 4, "training", 3)  # 2 saved, 3 trained

    resumed = lab.manage("train_reward", "--experiment", "tiny", "--resume", str(run_id), "--json")
    assert json.loads(resumed.stdout.strip().splitlines()[-1])["status"] == "succeeded"
    [folder] = lab.query("from webapp.pipeline.models import TrainingRun\nfrom webapp.pipeline.runs import run_dir\n"
                         f"result = [str(run_dir(TrainingRun.objects.get(pk={run_id})))]")
    result = json.loads((Path(folder) / "result.json").read_text())
    assert result["resumed_from"] == done and result["steps"] == 4
    [(done, total)] = lab.sql(f"SELECT progress_done, progress_total FROM pipeline_trainingrun WHERE id = {run_id}")
    assert (done, total) == (4, 4)
