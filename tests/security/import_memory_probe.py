"""Run as ``python -m tests.security.import_memory_probe FILE FORMAT`` with VAR_DIR set: imports
FILE into a fresh database through the web app's import, and prints one JSON line: the
process's resident memory before the import (after Django, the migrations and the experiment)
and its peak during the import, in MiB, the peak of Python allocations during the import
(tracemalloc), the seconds it took, and the result or the refusal.

The peak is Linux's VmHWM, reset just before the import (``/proc/self/clear_refs``), since
``ru_maxrss`` would still hold the migrations' higher peak."""

from __future__ import annotations

import json
import re
import sys
import time
import tracemalloc
from pathlib import Path

STATUS = Path("/proc/self/status")


def memory_mib(field: str) -> float:
    return int(re.search(rf"^{field}:\s+(\d+) kB", STATUS.read_text(), re.M).group(1)) / 1024


def main(path: str, fmt: str) -> None:
    import django

    django.setup()
    from django.core.management import call_command

    from pipeline.data import ImportFormatError
    from webapp.experiments import services
    from webapp.experiments.models import Experiment

    call_command("migrate", verbosity=0)
    experiment = Experiment.objects.create(slug="probe", name="probe")
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    baseline = memory_mib("VmRSS")
    tracemalloc.start()
    started = time.monotonic()
    try:
        outcome = services.preferences_import(experiment=experiment, path=path, fmt=fmt, split="test").to_dict()
    except ImportFormatError as refusal:
        outcome = {"refused": str(refusal)}
    seconds = time.monotonic() - started
    python_peak = tracemalloc.get_traced_memory()[1] / 2**20
    print(json.dumps({"baseline_mib": baseline, "peak_mib": memory_mib("VmHWM"), "python_peak_mib": python_peak,
                      "seconds": seconds, **outcome}))


if __name__ == "__main__":
    main(*sys.argv[1:3])
