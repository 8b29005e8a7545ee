"""An experiment that fills every block of the paper page with the real commands on the bundled
model, at the smallest sizes: a rated round (through the rating services), a labeling sweep with
a self-consistency cell, a labeler comparison and a reward-model curve over tiny demo pairs."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management import call_command

from tests.orchestration.lab import tiny_rows
from webapp.experiments import services
from webapp.experiments.models import Experiment

TINY_TRAINING = ["--max-steps", "2", "--batch-size", "2", "--max-length", "96"]


def fill_paper_blocks(experiment: Experiment, folder: Path) -> None:
    """Adds tiny helpful-dialogue demo pairs to ``experiment`` and runs every command the paper page names."""
    path = folder / "pairs.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in tiny_rows(services.DEMO_DIR / "helpful.jsonl", train=4, test=4)) + "\n")
    services.preferences_import(experiment=experiment, path=path, fmt="jsonl", split=None, source=path.name)
    slug = experiment.slug
    call_command("label_sweep", "--experiment", slug, "--split", "test", "--limit", "1", "--max-rationale-tokens", "4",
                 "--self-consistency", "2", verbosity=0)
    call_command("label_compare", "--experiment", slug, "--models", "smollm2-135m-instruct", "smollm2-135m-instruct@bf16-mlp",
                 "--limit", "1", verbosity=0)
    call_command("label", "--experiment", slug, "--split", "train", verbosity=0)
    call_command("rm_curve", "--experiment", slug, "--sizes", "2", "4", "--labels", "human", "ai", *TINY_TRAINING, verbosity=0)
