"""scripts/gpu-check.sh on a machine without CUDA (or with every device hidden) says so and exits
with code 2 before loading any model: a CI job can tell "not run here" from "failed"."""

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_without_cuda_the_check_says_no_cuda_device_and_exits_2():
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}  # hides any device this machine may have
    done = subprocess.run([str(ROOT / "scripts" / "gpu-check.sh")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "no CUDA device" in done.stderr
    assert done.stdout == ""  # no JSON summary: nothing was measured
