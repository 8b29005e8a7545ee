"""Cost per 1,000 labels of each labeling run, AI (from the tokens it used) beside human."""

from __future__ import annotations

import pytest
from django.urls import reverse

from webapp.experiments.models import Experiment
from webapp.pipeline.models import LabelingRun
from webapp.reports import run_selectors

pytestmark = pytest.mark.django_db


def test_each_run_shows_ai_and_human_cost_per_1000_labels(client, staff):
    experiment = Experiment.objects.create(slug="priced", name="Priced", task="harmless")
    run = LabelingRun.objects.create(experiment=experiment, model_spec="m", config={"preamble": "base", "shots": 1},
                                     progress_done=400, prompt_tokens=160_000, generated_tokens=40_000,
                                     price_per_1k_tokens=0.0005, price_per_human_label=0.5, status="succeeded")
    cost = run_selectors.cost_report(experiment)
    row = cost["runs"][0]

    assert row["tokens_per_label"] == 500
    assert row["ai_cost_per_1k_labels"] == pytest.approx(0.25)  # 500 tokens × 0.0005 per 1k tokens × 1,000
    assert row["human_cost_per_1k_labels"] == 500.0
    assert row["human_to_ai_ratio"] == pytest.approx(2000.0)
    assert row["ai_cost_total"] == pytest.approx(0.1) and row["human_cost_total"] == 200.0
    assert row["ai_cost_per_1k_labels"] == pytest.approx(run.ai_cost_per_1k_labels)

    client.force_login(staff)
    html = client.get(reverse("reports:cost", args=[experiment.slug])).content.decode()
    assert "0.2500" in html and "500.00" in html and "2,000" in html
