"""A training run spread over two torchrun processes (``train_reward --processes 2``) never
leaves a process behind: when the process holding the claim is SIGKILLed the training
processes die with it and the run resumes from its last checkpoint; when staff cancel the run
its processes are stopped; when a process fails, the run fails with that process's error."""

import json
import signal
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

TRAIN = ("--experiment", "tiny", "--batch-size", "2", "--max-length", "160", "--checkpoint-every", "1", "--processes", "2")


def training_processes(lab) -> list[bytes]:
    """The command lines of this lab's torchrun and train_rank processes (their --errors folder
    is under the lab's folder)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"train_rank" in args and any(str(lab.folder).encode() in a for a in args):
            found.append(b" ".join(args))
    return found


def start_training(lab, steps: int, epochs: int = 1):
    trainer = lab.start("trainer", sys.executable, "manage.py", "train_reward", *TRAIN, "--max-steps", str(steps),
                        "--epochs", str(epochs), "--json")
    # progress_done counts saved steps only: waiting for it is waiting for a checkpoint on disk.
    lab.wait_for(lambda: lab.sql("SELECT progress_done FROM pipeline_trainingrun")[0][0] >= 1 if lab.sql(
        "SELECT count(*) FROM pipeline_trainingrun")[0][0] else False, timeout=300, what="the first saved checkpoint")
    ranks = [p for p in training_processes(lab) if b"torch.distributed.run" not in p]
    assert len(ranks) == 2, training_processes(lab)  # two training processes under one torchrun
    return trainer


@pytest.fixture
def tiny_lab(lab):
    lab.import_tiny(train=8, test=2)
    return lab


def test_killing_the_claim_holder_kills_its_processes_and_the_run_resumes(tiny_lab):
    lab = tiny_lab
    trainer = start_training(lab, steps=3)
    lab.kill(trainer, signal.SIGKILL)
    lab.wait_for(lambda: not training_processes(lab), timeout=60, what="the training processes to die with the launcher")
    [(run_id, status, done)] = lab.sql("SELECT id, status, progress_done FROM pipeline_trainingrun")
    assert status == "running" and 1 <= done < 3  # left claimed by a dead process: resumable

    resumed = lab.manage("train_reward", "--experiment", "tiny", "--resume", str(run_id), "--processes", "2", "--json")
    summary = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert summary["status"] == "succeeded" and summary["train/processes"] == 2
    [(attempts, folder)] = lab.query(
        "from webapp.pipeline.models import TrainingRun\nfrom webapp.pipeline.runs import run_dir\n"
        f"run = TrainingRun.objects.get(pk={run_id})\nresult = [[run.attempts, str(run_dir(run))]]")
    assert attempts == 2
    result = json.loads((Path(folder) / "result.json").read_text())
    # Never behind what the run showed as done (a checkpoint may land between the last report and the kill).
    assert result["resumed_from"] >= done and result["steps"] == 3
    steps = [row[0] for row in lab.sql(f"SELECT step FROM pipeline_trainingmetric WHERE run_id = {run_id} ORDER BY step")]
    assert steps == sorted(set(steps)) and steps[-1] == 3


def test_cancelling_the_run_stops_every_process(tiny_lab):
    lab = tiny_lab
    # Far more steps than the test waits for (an epoch of 8 pairs is a few steps): the
    # run cannot finish before the cancel lands, as one epoch could while `manage.py shell`
    # started up to cancel it.
    trainer = start_training(lab, steps=10_000, epochs=5_000)
    lab.query("from webapp.pipeline import runs\nfrom webapp.pipeline.models import TrainingRun\n"
              "result = runs.run_cancel(model=TrainingRun, run_id=TrainingRun.objects.get().pk)")
    started = time.monotonic()
    lab.wait_for(lambda: trainer.poll() is not None and not training_processes(lab), timeout=60,
                 what="the launcher and its processes to stop")
    assert time.monotonic() - started < 45
    [(status, done)] = lab.sql("SELECT status, progress_done FROM pipeline_trainingrun")
    assert status == "cancelled" and done < 10_000


def test_a_failing_process_fails_the_run_with_its_own_error(tiny_lab):
    lab = tiny_lab
    missing = lab.folder / "no-such-model"
    failed = lab.manage("train_reward", *TRAIN, "--max-steps", "1", "--model", str(missing), check=False)
    assert failed.returncode != 0
    assert "process " in failed.stderr and f"model spec '{missing}' not found" in failed.stderr
    assert "Traceback" not in failed.stderr  # a summary for the person; the run keeps the details
    [(status, error)] = lab.sql("SELECT status, error FROM pipeline_trainingrun")
    assert status == "failed" and "ModelNotFound" in error and "train_rank" in error  # the failing process's traceback
    assert not training_processes(lab)
