"""A labeling run's AI labels come out as TRL preference records, chosen and rejected by the AI
label, in JSONL, Parquet and a datasets folder that the datasets library reads back."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_jsonl_records_are_chosen_by_the_ai_label_and_ties_are_dropped(labelled_run, tmp_path):
    out = tmp_path / "labels.jsonl"
    call_command("export_labels", labelled_run.pk, str(out), "--format", "jsonl", verbosity=0)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["chosen"], r["rejected"]) for r in records] == [("first 0", "second 0"), ("second 1", "first 1"), ("second 3", "first 3")]
    assert [r["p"] for r in records] == pytest.approx([0.8, 0.7, 0.65])
    assert [r["p_order1"] for r in records] == pytest.approx([0.9, 0.8, 0.65])
    assert records[1]["p_order2"] == pytest.approx(0.6) and records[2]["p_order2"] is None
    assert [r["human_prefers_chosen"] for r in records] == [True, False, None]
    assert {r["labeler"] for r in records} == {"smollm2-135m-instruct"}
    assert json.loads(records[0]["config"]) == {"preamble": "base", "shots": 0, "swap": True}
    assert not any(r["tie"] for r in records)


def test_a_kept_tie_is_flagged_and_stays_in_stored_order(labelled_run, tmp_path):
    out = tmp_path / "labels.jsonl"
    call_command("export_labels", labelled_run.pk, str(out), "--ties", "keep", verbosity=0)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    ties = [r for r in records if r["tie"]]
    assert len(records) == 4
    assert [(t["chosen"], t["rejected"], t["p"], t["human_prefers_chosen"]) for t in ties] == [("first 2", "second 2", 0.5, None)]


def test_every_format_reads_back_with_the_datasets_library(labelled_run, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    from datasets import load_dataset, load_from_disk

    for fmt, name in [("jsonl", "l.jsonl"), ("parquet", "l.parquet"), ("hf", "l-hf")]:
        call_command("export_labels", labelled_run.pk, str(tmp_path / name), "--format", fmt, verbosity=0)
    cache = str(tmp_path / "cache")
    loaded = {
        "jsonl": load_dataset("json", data_files=str(tmp_path / "l.jsonl"), split="train", cache_dir=cache),
        "parquet": load_dataset("parquet", data_files=str(tmp_path / "l.parquet"), split="train", cache_dir=cache),
        "hf": load_from_disk(str(tmp_path / "l-hf")),
    }
    for fmt, dataset in loaded.items():
        assert dataset["chosen"] == ["first 0", "second 1", "second 3"], fmt
        assert dataset["p"] == pytest.approx([0.8, 0.7, 0.65]), fmt
        assert dataset["pair_id"] == sorted(dataset["pair_id"]), fmt
    assert loaded["parquet"].features["p_order2"].dtype == "float64"
