"""Our loops under torchrun / accelerate launch: two processes (gloo on CPU) each take part of
every step's batch, average their gradients, and so hold the same parameters after every
optimizer step; only the first process writes metrics, checkpoints and the final model."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).parent / "scripts" / "train_rank.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("kind, steps, optimizers", [("reinforce", 2, 2), ("ppo", 2, 8), ("reward", 3, 1), ("sft", 2, 1)])
def test_two_processes_train_one_model_in_lockstep(kind, steps, optimizers, bundled_spec, artifact_root, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
         "--master_port", str(free_port()), str(SCRIPT), kind, bundled_spec, str(artifact_root), str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]

    ranks = [json.loads((tmp_path / f"params-{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["steps"] == ranks[1]["steps"] == steps
    assert len(ranks[0]["digests"]) == len(ranks[1]["digests"]) == steps * optimizers
    for mine, theirs in zip(ranks[0]["digests"], ranks[1]["digests"]):
        assert mine == pytest.approx(theirs, rel=1e-6, abs=1e-6)
    assert ranks[0]["digests"][0] != ranks[0]["digests"][-1]  # and they did move

    rows = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(r)["step"] for r in rows if "loss/train" in json.loads(r)] == list(range(1, steps + 1))
    assert (tmp_path / "run" / "final").is_dir()


def test_trl_dpo_runs_over_two_processes_and_writes_once(bundled_spec, artifact_root, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
         "--master_port", str(free_port()), str(SCRIPT), "dpo", bundled_spec, str(artifact_root), str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    assert [json.loads((tmp_path / f"params-{r}.json").read_text())["steps"] for r in (0, 1)] == [2, 2]
    rows = [json.loads(r) for r in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2]  # logged by the first process only
    assert (tmp_path / "run" / "final" / "config.json").is_file()
