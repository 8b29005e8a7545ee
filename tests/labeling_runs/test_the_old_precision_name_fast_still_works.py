"""`label --precision fast` (the old name of bf16-mlp) still runs, and the run stores bf16-mlp."""

import pytest
from django.core.management import call_command

from webapp.pipeline.management.commands.label import Command
from webapp.pipeline.models import LabelingRun

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_the_help_calls_fast_a_deprecated_name_of_bf16_mlp():
    text = " ".join(Command().create_parser("manage.py", "label").format_help().split())
    assert "bf16-mlp" in text and "'fast' is a deprecated name of bf16-mlp" in text


def test_a_run_started_with_fast_is_stored_and_reported_as_bf16_mlp(hh_experiment, bundled_lm):
    call_command("label", "--experiment", "hh", "--split", "test", "--limit", "2", "--precision", "fast", verbosity=0)
    run = LabelingRun.objects.get()
    assert run.status == "succeeded" and run.config["precision"] == "bf16-mlp"
