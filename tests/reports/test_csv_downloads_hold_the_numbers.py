"""Each table and chart has a CSV download with the same numbers at full precision."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from webapp.reports import selectors
from webapp.reports.pages import TABLE_PAGES

pytestmark = pytest.mark.django_db


def download(client, slug, name, **params):
    response = client.get(reverse("reports:csv", args=[slug, name]), params)
    assert response.status_code == 200, name
    assert response["Content-Type"].startswith("text/csv")
    assert f'filename="{slug}-{name}.csv"' in response["Content-Disposition"]
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def test_the_win_rate_csv_has_the_reports_numbers(client, staff, make_filled):
    filled = make_filled(slug="csvd", n_prompts=20)
    client.force_login(staff)
    stats = selectors.human_report(filled.experiment)["stats"]

    rows = download(client, filled.experiment.slug, "vs_baseline")
    rlaif = next(r for r in rows if r["a"] == "rlaif")
    expected = next(w for w in stats["vs_baseline"] if w["a"] == "rlaif")
    assert float(rlaif["rate"]) == expected["rate"]
    assert int(rlaif["wins"]) == expected["wins"] and int(rlaif["n"]) == expected["n"]
    assert float(rlaif["wilson_low"]) == expected["wilson"]["low"] and float(rlaif["boot_high"]) == expected["bootstrap"]["high"]
    assert float(rlaif["p_holm"]) == expected["p_holm"]

    harmless = download(client, filled.experiment.slug, "harmless")
    assert {r["policy"]: float(r["rate"]) for r in harmless} == {h["policy"]: h["rate"] for h in stats["harmless"]}
    against_rlhf = download(client, filled.experiment.slug, "vs_baseline", baseline="rlhf")
    assert {r["b"] for r in against_rlhf} == {"rlhf"}


def test_every_table_downloads_and_an_unknown_one_is_404(client, staff, make_filled, make_runs):
    filled = make_filled(slug="everycsv", n_prompts=8, n_raters=3)
    runs = make_runs(filled.experiment)
    client.force_login(staff)
    for name in TABLE_PAGES:
        download(client, filled.experiment.slug, name)
    curves = download(client, filled.experiment.slug, "training_curves")
    assert len(curves) == 40 * 3  # three numeric values per step; the string one is skipped
    cost = download(client, filled.experiment.slug, "cost")
    first = next(r for r in cost if int(r["run_id"]) == runs["runs"][0].pk)
    assert float(first["human_cost_per_1k_labels"]) == 500.0
    assert client.get(reverse("reports:csv", args=[filled.experiment.slug, "nope"])).status_code == 404
