"""The results page, its API and its tables say which tokenizer every length was counted in, and a
response whose length was counted in another one is left out of length control, not mixed in."""

from __future__ import annotations

import pytest
from django.urls import reverse

from pipeline import registry
from webapp.experiments.models import PolicyResponse
from webapp.reports import selectors

pytestmark = pytest.mark.django_db


def test_the_results_page_and_the_report_name_the_tokenizer(client, staff, make_filled):
    filled = make_filled(slug="unit", n_prompts=12, n_raters=3)
    client.force_login(staff)
    html = client.get(reverse("reports:results", args=[filled.experiment.slug])).content.decode()
    assert f"Lengths are tokens of the {registry.DEFAULT_MODEL} tokenizer for every response." in html
    unit = selectors.human_report(filled.experiment)["length_unit"]
    assert unit == {"unit": "tokens", "tokenizer": registry.DEFAULT_MODEL, "measured": 36, "unmeasured": 0}


def test_a_length_in_another_unit_is_left_out_and_counted_as_such(client, staff, make_filled):
    filled = make_filled(slug="other-unit", n_prompts=12, n_raters=3)
    selectors.human_report(filled.experiment)  # cached before the change: the change must show anyway
    odd = PolicyResponse.objects.filter(prompt__experiment=filled.experiment, policy="sft").first()
    PolicyResponse.objects.filter(pk=odd.pk).update(length_tokenizer="another-model")
    report = selectors.human_report(filled.experiment)
    assert report["length_unit"]["unmeasured"] == 1 and report["length_unit"]["measured"] == 35
    sft = next(row for row in report["lengths"] if row["policy"] == "sft")
    assert sft["n"] == 11
    client.force_login(staff)
    html = client.get(reverse("reports:results", args=[filled.experiment.slug])).content.decode()
    assert "1 response counted in no or another tokenizer is left out" in html
