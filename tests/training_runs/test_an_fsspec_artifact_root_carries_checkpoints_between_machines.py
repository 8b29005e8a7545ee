"""ARTIFACT_ROOT may be an fsspec URL that workers on several machines share. Each machine
works in a local mirror at the same path; a stage uploads its run folder, and a stage on a
machine that lacks a checkpoint (here: the mirror wiped, as on a fresh machine) downloads it.
The URL is a real fsspec filesystem (``file://``), the stages are the real ones."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from django.core.management import call_command

from webapp.experiments import services
from webapp.experiments.models import PolicyResponse, Prompt
from webapp.pipeline import artifacts
from webapp.pipeline.models import SamplingRun, TrainingRun


@pytest.fixture
def remote(settings, tmp_path, artifact_root):
    """A bucket (file:// URL) and this machine's mirror; the converted model is shared by link."""
    bucket, mirror = tmp_path / "bucket", tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "models").symlink_to(Path(artifact_root) / "models", target_is_directory=True)
    settings.ARTIFACT_ROOT = f"file://{bucket}"
    settings.ARTIFACT_LOCAL = str(mirror)
    settings.RUNS_ROOT = str(mirror / "runs")
    return bucket, mirror


def test_a_push_mirrors_a_folder_and_a_pull_restores_it(remote):
    bucket, mirror = remote
    run = mirror / "runs" / "training-1"
    (run / "checkpoints" / "step-00000002").mkdir(parents=True)
    (run / "checkpoints" / "step-00000002" / "state.pt").write_bytes(b"x" * 1000)
    (run / "checkpoints" / "step-00000002" / "DONE").write_text("2")
    (run / "checkpoints" / ".step-00000003.partial").mkdir()
    (run / "checkpoints" / ".step-00000003.partial" / "state.pt").write_bytes(b"half")
    (run / "metrics.jsonl").write_text('{"step": 2}\n')

    pusher = artifacts.Pusher(run)
    pusher.push()
    twin = bucket / "runs" / "training-1"
    state = run / "checkpoints" / "step-00000002" / "state.pt"
    assert state.stat().st_mtime == pytest.approx((twin / state.relative_to(run)).stat().st_mtime)
    assert sorted(p.relative_to(twin).as_posix() for p in twin.rglob("*") if p.is_file()) == [
        "checkpoints/step-00000002/DONE", "checkpoints/step-00000002/state.pt", "metrics.jsonl"]

    (run / "metrics.jsonl").write_text('{"step": 2}\n{"step": 4}\n')
    shutil.rmtree(run / "checkpoints" / "step-00000002")  # pruned by the checkpointer
    pusher.push()
    assert (twin / "metrics.jsonl").read_text().count("step") == 2
    assert not (twin / "checkpoints" / "step-00000002" / "state.pt").exists()

    # Another machine resumed the run and rewrote a file at the same size: the newer copy wins.
    (twin / "metrics.jsonl").write_text('{"step": 2}\n{"step": 6}\n')
    later = (run / "metrics.jsonl").stat().st_mtime + 30
    os.utime(twin / "metrics.jsonl", (later, later))
    assert artifacts.pull(run) is True
    assert '"step": 6' in (run / "metrics.jsonl").read_text()
    artifacts.pull(run)  # nothing newer now: the file is kept as it is
    assert (run / "metrics.jsonl").stat().st_mtime == pytest.approx(later)

    shutil.rmtree(run)
    assert artifacts.pull(run) is True
    assert (run / "metrics.jsonl").read_text().count("step") == 2
    assert artifacts.pull(mirror / "runs" / "never-pushed") is False


def test_a_policy_trained_on_one_machine_is_sampled_on_another(remote, db, bundled_lm, capsys):
    bucket, mirror = remote
    services.demo_load()
    call_command("train_policy", "--experiment", "demo", "--arm", "dpo-human", "--steps", "2", "--batch-size", "2",
                 "--json", verbosity=0)
    run = TrainingRun.objects.get(pk=json.loads(capsys.readouterr().out.strip().splitlines()[-1])["run_id"])
    checkpoint = Path(run.checkpoint_path)
    assert run.status == "succeeded" and checkpoint.is_relative_to(mirror)
    uploaded = bucket / checkpoint.relative_to(mirror)
    assert (uploaded / "config.json").is_file() and any(uploaded.glob("*.safetensors"))

    shutil.rmtree(mirror / "runs")  # the sampling worker is another machine: it has no runs at all
    call_command("sample", "--experiment", "demo", "--policy", "dpo-human", "--max-new-tokens", "6", verbosity=0)
    sampling = SamplingRun.objects.get(policy="dpo-human")
    assert sampling.status == "succeeded", sampling.error
    assert checkpoint.is_dir()
    answered = PolicyResponse.objects.filter(policy="dpo-human").count()
    assert answered == Prompt.objects.filter(experiment__slug="demo", split="test").count() > 0
