"""The GPU check's demo step starts the demo pipeline the way `make run` does and waits for one
real worker process (TRAINING_PROCESSES=auto) to finish it, in a lab of its own, then reports its
wall time and each stage's status. Here on the CPU and narrowed to the SFT arm with short samples:
the check itself runs the whole demo pipeline on the GPU."""

import pytest

from bench import gpu_check

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_the_demo_step_reports_a_narrowed_demo_pipeline_run_by_a_real_worker(artifact_root):
    assert gpu_check.parse_args([]).demo_timeout == 300 and gpu_check.parse_args(["--demo-timeout", "90"]).demo_timeout == 90

    figures = gpu_check.demo_pipeline_check(str(artifact_root), timeout=240, arms=["sft"], settings=["sampling.max_new_tokens=4"])

    assert figures["ok"] and figures["status"] == "succeeded", figures
    assert figures["stages"] == {"prepare-models": "succeeded", "samples-sft": "succeeded", "evaluation-round": "succeeded"}
    assert figures["training_processes"] == "auto" and 0 < figures["wall_s"] < 240
