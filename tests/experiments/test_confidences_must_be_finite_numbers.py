"""``nan`` and ``inf`` are not confidences: float() reads them, and ``inf`` passed the paper's
high-confidence filter as the most confident label there is. They are refused by line."""

import pytest
from django.core.management import CommandError, call_command

from pipeline.data import ImportFormatError, read
from webapp.experiments.models import PreferencePair

pytestmark = pytest.mark.django_db


def tldr_row(confidence) -> dict:
    return {"info": {"post": "A post."}, "summaries": [{"text": "One."}, {"text": "Two."}], "choice": 1, "extra": {"confidence": confidence}}


@pytest.mark.parametrize("confidence", ["nan", "inf", "-inf", "Infinity", True])
def test_a_non_finite_confidence_is_refused_by_line(write_file, confidence):
    path = write_file("tldr.jsonl", [tldr_row(9), tldr_row(confidence)])
    with pytest.raises(ImportFormatError, match=r"line 2: confidence must be a finite number"):
        list(read(path, "tldr-comparisons"))


def test_the_high_confidence_import_refuses_an_infinite_confidence(experiment, write_file):
    path = write_file("tldr.jsonl", [tldr_row(9), tldr_row("inf")])
    with pytest.raises(CommandError, match="line 2: confidence must be a finite number"):
        call_command("import_preferences", str(path), "--experiment", experiment.slug, "--format", "tldr-comparisons", "--split", "test", "--high-confidence")
    assert PreferencePair.objects.count() == 0


def test_ordinary_confidences_still_import(write_file):
    path = write_file("tldr.jsonl", [tldr_row(9), tldr_row("2"), tldr_row(5.5)])
    assert [r.human_confidence for r in read(path, "tldr-comparisons")] == [9.0, 2.0, 5.5]
