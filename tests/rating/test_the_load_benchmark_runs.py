"""bench/rating_load.py runs end to end on a small load and finds every submit stored exactly once."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_a_small_load_run_prints_one_json_line_with_nothing_lost_or_duplicated():
    done = subprocess.run(
        [sys.executable, "bench/rating_load.py", "--raters", "4", "--duration", "2", "--think-ms", "50", "--items", "40"],
        cwd=ROOT, capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["raters"] == 4 and result["acknowledged"] > 0
    assert result["lost"] == 0 and result["duplicated"] == 0 and result["items_over_overlap"] == 0
    assert result["stored"] == result["acknowledged"]
    assert {"submits_per_s", "p50_ms", "p99_ms", "paced", "saturated"} <= set(result)
