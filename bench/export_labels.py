"""Time ``export_labels`` on a 1,600-pair labeling run: the real HH harmless test file imported
into a throwaway SQLite database, one stored AI label per pair (seeded random p, some exact ties:
labeling itself is not what is timed), then each format exported once.

    .venv/bin/python bench/export_labels.py     # prints one JSON line: seconds per format
"""

from __future__ import annotations

import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HH = ROOT.parent / "shared" / "data" / "hh-rlhf" / "harmless-base-test.dev.jsonl.gz"


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-export-"))
    os.environ["DATABASE_URL"] = f"sqlite:///{work / 'bench.sqlite3'}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    from webapp.experiments import services
    from webapp.experiments.models import Experiment, PreferencePair
    from webapp.pipeline.models import AILabel, LabelingRun

    call_command("migrate", verbosity=0)
    experiment = Experiment.objects.create(slug="bench", name="bench", task="harmless")
    services.preferences_import(experiment=experiment, path=HH, fmt="hh", split="test")
    run = LabelingRun.objects.create(experiment=experiment, split="test", model_spec="smollm2-135m-instruct", status="succeeded",
                                     config={"preamble": "base", "shots": 0})
    rng = random.Random(0)
    labels = []
    for pair in PreferencePair.objects.filter(prompt__experiment=experiment):
        p1, p2 = rng.choice([0.5, rng.random()]), rng.random()
        labels.append(AILabel(run=run, pair=pair, p_order1=p1, p_order2=p2, p=(p1 + p2) / 2 if p1 != 0.5 else 0.5, label_mass=0.9))
    AILabel.objects.bulk_create(labels)
    seconds = {}
    for fmt, name in [("jsonl", "l.jsonl"), ("parquet", "l.parquet"), ("hf", "l-hf")]:
        started = time.perf_counter()
        call_command("export_labels", run.pk, str(work / name), "--format", fmt, "--ties", "keep", verbosity=0)
        seconds[fmt] = round(time.perf_counter() - started, 3)
    print(json.dumps({"pairs": len(labels), "seconds": seconds}))


if __name__ == "__main__":
    main()
