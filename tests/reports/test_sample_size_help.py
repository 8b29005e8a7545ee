"""Sample-size help: how many rated items give the wanted power, on the page and in the API."""

from __future__ import annotations

import pytest
from django.urls import reverse

from pipeline.stats import plan_sample_size
from pipeline.stats.planner import plan_crossed
from webapp.experiments.models import Experiment

pytestmark = pytest.mark.django_db


def test_the_form_answers_with_the_planned_number_of_items(client, staff):
    experiment = Experiment.objects.create(slug="planning", name="Planning", task="harmless")
    client.force_login(staff)
    url = reverse("reports:plan", args=[experiment.slug])
    query = {"design": "one", "p1": "0.6", "p0": "0.5", "alpha": "0.05", "power": "0.8", "design_effect": "1"}
    expected = plan_sample_size(0.6, 0.5, alpha=0.05, power=0.8)

    page = client.get(url, query)
    crossed = plan_crossed(0.6, alpha=0.05, power=0.8, raters_per_item=3, rater_pool=20, item_sd=1.0, rater_sd=0.5,
                           judge_worth=1.0)
    assert page.status_code == 200
    body = page.content.decode()
    assert f"<strong>{crossed.items}</strong> rated items, each by 3 raters" in body, "the shown-first test's plan comes first"
    assert f"would ask for {expected.n}" in body, "beside what independent ratings would need"
    partial = client.get(url, {**query, "design": "two", "p0": "0.7"}, HTTP_HX_REQUEST="true").content.decode()
    two = plan_crossed(0.6, p2=0.7, alpha=0.05, power=0.8, raters_per_item=3, rater_pool=20, item_sd=1.0, rater_sd=0.5,
                       judge_worth=1.0)
    assert "<html" not in partial and f"<strong>{two.items}</strong> rated items, each by 3 raters" in partial
    assert "against the same baseline" in partial
    assert f"would ask for {plan_sample_size(0.6, 0.7, two_sample=True).n} per group" in partial

    refused = client.get(url, {**query, "p0": "0.6"})
    assert refused.status_code == 400 and "must differ" in refused.content.decode()


def test_the_api_plans_and_refuses_a_bad_query(client, staff_token):
    headers = {"HTTP_AUTHORIZATION": f"Token {staff_token}"}
    response = client.get(reverse("reports:api-sample-size"), {"p1": "0.65", "design_effect": "1.5", "rater_pool": "20"}, **headers)
    assert response.status_code == 200
    body = response.json()
    assert body["crossed"] == plan_crossed(0.65, rater_pool=20).to_dict() and body["crossed_reason"] == ""
    del body["crossed"], body["crossed_reason"]
    assert body == plan_sample_size(0.65, 0.5, design_effect=1.5).to_dict()
    two = client.get(reverse("reports:api-sample-size"), {"p1": "0.7", "p0": "0.6", "two_sample": "true"}, **headers).json()
    assert two["crossed"] == plan_crossed(0.7, p2=0.6).to_dict()
    other = client.get(reverse("reports:api-sample-size"), {"p1": "0.7", "p0": "0.6"}, **headers).json()
    assert other["crossed"] is None and "one win rate against 50 % only" in other["crossed_reason"]
    tiny = client.get(reverse("reports:api-sample-size"), {"p1": "0.502"}, **headers).json()
    assert tiny["crossed"] is None and "too small to plan for" in tiny["crossed_reason"]
    assert client.get(reverse("reports:api-sample-size"), {"p1": "0.7", "raters_per_item": "5", "rater_pool": "3"},
                      **headers).status_code == 400
    assert client.get(reverse("reports:api-sample-size"), {"p1": "2"}, **headers).status_code == 400
    assert client.get(reverse("reports:api-sample-size"), {"p1": "0.5"}, **headers).status_code == 400
