"""An export of an unknown run, of a run with no labels yet, or in an unknown format is refused
with a message naming the run or the field, and leaves no file behind."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from webapp.pipeline.models import LabelingRun

pytestmark = pytest.mark.django_db


def refused(tmp_path, *args) -> str:
    with pytest.raises(CommandError) as error:
        call_command("export_labels", *args, verbosity=0)
    assert list(tmp_path.iterdir()) == []
    return str(error.value)


def test_an_unknown_run_is_named(tmp_path):
    assert "no labeling run #999" in refused(tmp_path, 999, str(tmp_path / "out.jsonl"))


def test_a_run_without_labels_is_named(labelled_run, tmp_path):
    empty = LabelingRun.objects.create(experiment=labelled_run.experiment, model_spec="m", status="running")
    assert f"labeling run #{empty.pk} has no AI labels yet" in refused(tmp_path, empty.pk, str(tmp_path / "out.parquet"), "--format", "parquet")


def test_a_bad_format_or_tie_rule_names_the_field(labelled_run, tmp_path):
    assert "format must be one of jsonl, parquet, hf, got 'xlsx'" in refused(tmp_path, labelled_run.pk, str(tmp_path / "o"), "--format", "xlsx")
    assert "ties must be one of drop, keep" in refused(tmp_path, labelled_run.pk, str(tmp_path / "o"), "--ties", "maybe")
