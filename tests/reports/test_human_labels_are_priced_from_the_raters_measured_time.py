"""The cost page prices human labels a second way, the paper's Appendix L way: the raters'
measured active time per judgement (stored by the rating page) times HUMAN_HOURLY_RATE,
beside the flat price per label saved with each labeling run."""

from __future__ import annotations

import numpy as np
import pytest
from django.test import override_settings
from django.urls import reverse

from webapp.pipeline.models import LabelingRun
from webapp.rating.models import Judgement
from webapp.reports import run_selectors

pytestmark = pytest.mark.django_db


@override_settings(HUMAN_HOURLY_RATE=18.0)
def test_measured_time_prices_human_labels_beside_the_flat_price(make_filled, client, staff):
    filled = make_filled(slug="timed", n_prompts=12, n_raters=3)
    LabelingRun.objects.create(experiment=filled.experiment, model_spec="m", config={"preamble": "base", "shots": 0},
                               progress_done=400, prompt_tokens=160_000, generated_tokens=0,
                               price_per_1k_tokens=0.0005, price_per_human_label=0.5, status="succeeded")
    seconds = np.array(list(Judgement.objects.values_list("active_ms", flat=True))) / 1000
    cost = run_selectors.cost_report(filled.experiment)
    measured = cost["measured"]
    assert measured["judgements"] == seconds.size > 0
    assert measured["mean_seconds"] == pytest.approx(seconds.mean()) and measured["median_seconds"] == pytest.approx(np.median(seconds))
    assert measured["cost_per_1k_labels"] == pytest.approx(1000 * seconds.mean() * 18.0 / 3600)
    row = cost["runs"][0]
    assert row["human_cost_per_1k_measured"] == pytest.approx(measured["cost_per_1k_labels"])
    assert row["measured_to_ai_ratio"] == pytest.approx(measured["cost_per_1k_labels"] / row["ai_cost_per_1k_labels"])

    client.force_login(staff)
    html = client.get(reverse("reports:cost", args=["timed"])).content.decode()
    assert "Human per 1,000 (measured time)" in html and "at $18.00 an hour (HUMAN_HOURLY_RATE)" in html


def test_without_measured_times_the_page_says_so(client, staff):
    from webapp.experiments.models import Experiment

    experiment = Experiment.objects.create(slug="untimed", name="Untimed", task="harmless")
    LabelingRun.objects.create(experiment=experiment, model_spec="m", config={}, progress_done=10, prompt_tokens=100,
                               price_per_1k_tokens=0.0005, price_per_human_label=0.5, status="succeeded")
    assert run_selectors.cost_report(experiment)["measured"]["cost_per_1k_labels"] is None
    client.force_login(staff)
    assert "no judgement with a measured time yet" in client.get(reverse("reports:cost", args=["untimed"])).content.decode()
