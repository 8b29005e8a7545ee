"""The interval and test valid for crossed raters x items come first in the tables, the text
report and the API; the paper's columns follow, labelled. A round the method cannot handle
(one rater) says which statistic falls back, or cannot be computed, and why: no 500, no NaN."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.urls import reverse

from webapp.rating.models import Round
from webapp.reports.selectors import human_report
from webapp.reports.tables import VALID_CI, VALID_P, results_tables

pytestmark = pytest.mark.django_db


def _labels(table) -> list[str]:
    return [column.label for column in table.columns]


def test_the_valid_interval_and_test_are_the_first_statistics_of_every_rate_table(make_filled):
    filled = make_filled(slug="crossed-first", n_prompts=20, n_raters=4)
    tables = results_tables(human_report(filled.experiment))
    for name in ("win_rates", "vs_baseline", "baseline_tests", "harmless", "harmless_tests"):
        labels = _labels(tables[name])
        paper = next(i for i, label in enumerate(labels) if "as in the paper" in label)
        assert labels.index(VALID_CI) < paper, name
        if name != "harmless":
            assert labels.index(VALID_P) < paper, name
        for row in tables[name].rows:
            assert row["crossed_note"].startswith(("two-way", "exact", "not computed")), (name, row)
    vs = tables["vs_baseline"].rows
    assert all(r["crossed_low"] is not None and r["crossed_low"] < r["rate"] < r["crossed_high"] for r in vs)
    labels = _labels(tables["length_control"])
    assert labels.index(VALID_CI) < next(i for i, label in enumerate(labels) if label.startswith("Model-based"))
    labels = _labels(tables["bradley_terry"])
    assert labels.index(VALID_CI) < next(i for i, label in enumerate(labels) if "bootstrap" in label)
    for row in tables["bradley_terry"].rows:
        assert row["crossed_note"].startswith(("two-way", "not computed", "the baseline")), row
        if row["crossed_note"].startswith("two-way"):
            assert row["crossed_low"] < row["p_beats_baseline"] < row["crossed_high"]
    for row in tables["length_control"].rows:
        assert row["crossed_note"].startswith(("two-way", "not computed")), row
        if row["crossed_note"].startswith("two-way"):
            assert row["crossed_low"] < row["adjusted_rate"] < row["crossed_high"]

    out = io.StringIO()
    call_command("report", filled.experiment.slug, stdout=out)
    line = next(x for x in out.getvalue().splitlines() if x.strip().startswith("rlaif:"))
    assert line.index("95 % CI [") < line.index("as in the paper")


def test_one_rater_gives_the_exact_path_with_its_reason_in_the_table_the_api_and_the_page(client, staff, staff_token, make_filled):
    filled = make_filled(slug="lonely", n_prompts=14, n_raters=1, overlap=1, gold_share=0.0)
    response = client.get(reverse("reports:api-report", args=[filled.experiment.slug]), HTTP_AUTHORIZATION=f"Token {staff_token}")
    assert response.status_code == 200
    stats = json.loads(response.content)["stats"]
    for row in stats["vs_baseline"] + stats["harmless"]:
        crossed = row["crossed"]
        assert crossed["method"] == "exact, per prompt" and "one rater" in crossed["reason"]
        assert crossed["se"] is None and crossed["interval"]["low"] is not None
    assert "NaN" not in response.content.decode()

    tables = results_tables(human_report(filled.experiment))
    assert all("one rater" in r["crossed_note"] for r in tables["vs_baseline"].rows)

    client.force_login(staff)
    page = client.get(reverse("reports:results", args=[filled.experiment.slug]))
    assert page.status_code == 200
    html = page.content.decode()
    assert VALID_CI in html and "one rater" in html and "nan" not in html.lower().replace("nano", "")


def test_a_policy_nobody_has_rated_yet_gets_a_row_saying_so(client, staff, make_filled):
    filled = make_filled(slug="unrated", n_prompts=12, n_raters=3, gold_share=0.0)
    Round.objects.create(experiment=filled.experiment, name="Round two", policies=["sft", "newcomer"], mode="both")
    payload = human_report(filled.experiment)
    assert payload["unrated"] == {"rankings": ["newcomer"], "harm": ["newcomer"]}
    tables = results_tables(payload)
    row = next(r for r in tables["vs_baseline"].rows if r["a"] == "newcomer")
    assert row["rate"] is None and row["crossed_note"] == "not computed: newcomer is in a round but no rater has ranked it yet"
    harm = next(r for r in tables["harmless"].rows if r["policy"] == "newcomer")
    assert harm["crossed_note"] == "not computed: newcomer has no harmless/harmful labels yet"
    client.force_login(staff)
    page = client.get(reverse("reports:results", args=["unrated"]))
    assert page.status_code == 200 and "no rater has ranked it yet" in page.content.decode()
