"""import_preferences reads a Hugging Face datasets folder or a Parquet file (--format hf), and
--columns maps a file's own column names to ours for hf, jsonl and csv; a file that lacks a
mapped column is refused naming the field, and nothing is imported."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasets import Dataset
from django.core.management import call_command
from django.core.management.base import CommandError

from webapp.experiments.models import Experiment, PreferencePair

pytestmark = pytest.mark.django_db

ROWS = {"question": ["Human: how do I boil an egg?", "Human: is the sun a star?"], "good": ["Simmer it 9 minutes.", "Yes."],
        "bad": ["Microwave it whole.", "No."]}


@pytest.fixture
def experiment(db):
    return Experiment.objects.create(slug="imp", name="Import", task="helpful")


def imported(experiment) -> list[tuple[str, str | None]]:
    pairs = PreferencePair.objects.filter(prompt__experiment=experiment).select_related("prompt").order_by("id")
    return [(pair.prompt.context, pair.chosen) for pair in pairs]


def test_a_datasets_folder_with_mapped_columns(experiment, tmp_path):
    Dataset.from_dict(ROWS).save_to_disk(str(tmp_path / "ds"))
    call_command("import_preferences", str(tmp_path / "ds"), "--experiment", "imp", "--format", "hf", "--split", "train",
                 "--columns", "prompt=question,chosen=good,rejected=bad", verbosity=0)
    assert imported(experiment) == [("Human: how do I boil an egg?", "Simmer it 9 minutes."), ("Human: is the sun a star?", "Yes.")]


def test_a_parquet_file_in_our_own_columns(experiment, tmp_path):
    pq.write_table(pa.table({"prompt": ROWS["question"], "chosen": ROWS["good"], "rejected": ROWS["bad"]}), tmp_path / "p.parquet")
    call_command("import_preferences", str(tmp_path / "p.parquet"), "--experiment", "imp", "--format", "hf", "--split", "test", verbosity=0)
    assert [chosen for _, chosen in imported(experiment)] == ["Simmer it 9 minutes.", "Yes."]


def test_a_csv_with_mapped_columns(experiment, tmp_path):
    (tmp_path / "p.csv").write_text("question,good,bad\nHuman: hi?,Hello.,Go away.\n")
    call_command("import_preferences", str(tmp_path / "p.csv"), "--experiment", "imp", "--format", "csv", "--split", "train",
                 "--columns", "prompt=question,chosen=good,rejected=bad", verbosity=0)
    assert imported(experiment) == [("Human: hi?", "Hello.")]


def test_a_missing_mapped_column_names_the_field_and_imports_nothing(experiment, tmp_path):
    Dataset.from_dict(ROWS).save_to_disk(str(tmp_path / "ds"))
    with pytest.raises(CommandError, match=r"line 1: missing field 'rejected'"):
        call_command("import_preferences", str(tmp_path / "ds"), "--experiment", "imp", "--format", "hf", "--split", "train",
                     "--columns", "prompt=question,chosen=good,rejected=worse", verbosity=0)
    with pytest.raises(CommandError, match="not OURS=THEIRS"):
        call_command("import_preferences", str(tmp_path / "ds"), "--experiment", "imp", "--format", "hf", "--columns", "prompt", verbosity=0)
    assert imported(experiment) == []
