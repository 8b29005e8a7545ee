"""With TRAINING_PROCESSES=2 a real worker trains each training stage data-parallel in two
torchrun processes (gloo on this CPU; one per GPU on a GPU worker): our own loops (the reward
model, REINFORCE) and TRL's DPO (accelerate inside the trainer). Process 0 records every
metric and the result once, the worker mirrors the progress onto the stage, and the pipeline
goes on to samples and the evaluation round as with one process.

Runs on the embedded lab in `make test`, and on PostgreSQL + Redis in CI's integration pass."""

import json
from pathlib import Path

import pytest

from tests.orchestration.conftest import TINY, overrides_args

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_every_training_stage_runs_in_two_processes_and_records_once(lab):
    lab.import_tiny(train=4, test=2)
    lab.env["TRAINING_PROCESSES"] = "2"
    lab.start_worker()
    done = lab.manage("run_experiment", "tiny", "--arms", "rlhf", "dpo-human", "--wait", "--json", "--timeout", "1200",
                      *overrides_args(TINY), timeout=1300)
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["status"] == "succeeded", done.stdout
    assert set(summary["stages"].values()) == {"succeeded"}

    facts = lab.query(
        "from webapp.pipeline.models import *\n"
        "from webapp.pipeline.runs import run_dir\n"
        f"run = PipelineRun.objects.get(pk={summary['run_id']})\n"
        "result = {}\n"
        "for stage in run.stages.exclude(training_run=None):\n"
        "    t = stage.training_run\n"
        "    steps = list(TrainingMetric.objects.filter(run=t).values_list('step', flat=True))\n"
        "    result[stage.name] = {'processes': t.metrics.get('train/processes'), 'status': t.status, 'steps': steps,\n"
        "        'attempts': t.attempts, 'log': stage.log, 'folder': str(run_dir(t)), 'checkpoint': t.checkpoint_path,\n"
        "        'progress': [stage.progress_done, stage.progress_total]}\n"
    )
    assert set(facts) == {"reward-human", "policy-rlhf", "policy-dpo-human"}
    for name, run in facts.items():
        assert run["status"] == "succeeded" and run["attempts"] == 1, name
        assert run["processes"] == 2, name  # written by process 0, which saw a world of two
        assert "training in 2 processes" in run["log"], name
        assert run["steps"] and len(run["steps"]) == len(set(run["steps"])), name  # one row per step
        assert run["progress"][0] == run["progress"][1] > 0, name
        assert (Path(run["checkpoint"]) / "config.json").is_file(), name
        launched = (Path(run["folder"]) / "processes.log").read_text()
        assert "--nproc_per_node=2" in launched and "train_rank" in launched, name
