"""`python manage.py report SLUG --json` prints every table as one JSON object on its last line;
without --json a summary a person can read."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import CommandError, call_command

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = io.StringIO()
    call_command("report", *args, stdout=out)
    return out.getvalue()


def test_report_json_has_every_table(make_filled, make_runs):
    filled = make_filled(slug="commanded", n_prompts=20)
    make_runs(filled.experiment)
    data = json.loads(run(filled.experiment.slug, "--json").strip().splitlines()[-1])

    assert set(data) == {"experiment", "report", "raters", "alignment", "training", "cost"}
    stats = data["report"]["stats"]
    for table in ("win_rates", "vs_baseline", "baseline_comparisons", "harmless", "harmless_tests", "length",
                  "bradley_terry", "ranking_agreement", "harm_agreement"):
        assert stats[table], table
    assert data["report"]["lengths"] and data["report"]["judgements"]["included"] == stats["n_rankings"]
    assert data["raters"]["agreement"]["ranking"]["alpha"] is not None and data["raters"]["raters"]
    assert len(data["alignment"]["sweeps"][0]["rows"]) == 4
    assert {row["model_spec"] for row in data["alignment"]["by_model"]} == {"smollm2-135m-instruct", "Qwen/Qwen2.5-1.5B-Instruct"}
    assert data["alignment"]["calibration"] and data["alignment"]["reward_models"][0]["curve"]
    assert data["training"]["runs"][-1]["series"][0]["key"] == "loss/train"
    assert len(data["cost"]["runs"]) == 6


def test_report_without_json_is_a_readable_summary(make_filled):
    filled = make_filled(slug="readable", n_prompts=12, n_raters=3)
    text = run(filled.experiment.slug)
    assert "Win rates vs sft:" in text and "rlaif:" in text and "Harmless rates:" in text
    assert "Krippendorff's alpha" in text


def test_report_of_an_unknown_experiment_fails_with_its_name(db):
    with pytest.raises(CommandError, match="no experiment 'nope'"):
        run("nope", "--json")
