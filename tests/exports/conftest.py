"""A small labelled world (an experiment with four pairs and a labeling run over them), and
tiny real training runs of the bundled model for the model exports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from webapp.experiments.models import Experiment, PreferencePair, Prompt
from webapp.pipeline.models import AILabel, LabelingRun, TrainingRun

# (p_order1, p_order2, human_choice): p is their mean; the third pair is an exact tie.
LABELS = [(0.9, 0.7, 1), (0.2, 0.4, 1), (0.5, 0.5, 2), (0.35, None, None)]


@pytest.fixture
def labelled_run(db) -> LabelingRun:
    experiment = Experiment.objects.create(slug="exp", name="Export", task="harmless")
    run = LabelingRun.objects.create(experiment=experiment, model_spec="smollm2-135m-instruct", status="succeeded",
                                     config={"preamble": "base", "shots": 0, "swap": True})
    for i, (p1, p2, human) in enumerate(LABELS):
        prompt = Prompt.objects.create(experiment=experiment, split="train", context=f"Human: question {i}?",
                                       content_hash=Prompt.hash_for(f"q{i}"))
        pair = PreferencePair.objects.create(prompt=prompt, candidate_1=f"first {i}", candidate_2=f"second {i}",
                                             human_choice=human, content_hash=PreferencePair.hash_for(f"a{i}", f"b{i}"))
        p = p1 if p2 is None else (p1 + p2) / 2
        AILabel.objects.create(run=run, pair=pair, p_order1=p1, p_order2=p2, p=p, label_mass=0.8)
    return run


# -- trained models: the bundled model, trained a step or two by the real commands ---------------

# The first lines of every isolated script: the project must not be importable there.
ISOLATED_PRELUDE = """
import importlib.util, json, sys
assert importlib.util.find_spec("pipeline") is None and importlib.util.find_spec("webapp") is None, sys.path
"""


@pytest.fixture
def demo(db, bundled_lm, settings, tmp_path) -> Experiment:
    """The demo experiment; each test's run folders in its own tmp folder (a policy is ~0.5 GB)."""
    from webapp.experiments import services

    settings.RUNS_ROOT = str(tmp_path / "runs")
    services.demo_load()
    return Experiment.objects.get(slug="demo")


def trained_run(capsys, command: str, *args: str) -> TrainingRun:
    """Run a training command on the demo experiment; the TrainingRun it recorded."""
    call_command(command, "--experiment", "demo", *args, "--json", verbosity=0)
    run_id = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["run_id"]
    return TrainingRun.objects.get(pk=run_id)


def run_isolated(script: str, *args: str, cwd: Path) -> str:
    """Run ``script`` in a Python that cannot import this project (-I: no PYTHONPATH, no script
    folder or cwd on sys.path, run from ``cwd``); its stdout."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "DJANGO"))}
    env["HF_HUB_OFFLINE"] = "1"
    done = subprocess.run([sys.executable, "-I", "-c", ISOLATED_PRELUDE + script, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout
