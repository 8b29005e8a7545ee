"""The results partial polls every 10 s: while nothing changed a poll is 204 (htmx keeps the
page as it is) and costs no recomputation; a new judgement shows on the next poll."""

from __future__ import annotations

import random
from unittest import mock

import pytest
from django.urls import reverse

from tests.reports.conftest import fill_round
from webapp.rating.services import rounds
from webapp.reports import selectors

pytestmark = pytest.mark.django_db


def poll(client, slug, since):
    return client.get(reverse("reports:results", args=[slug]), {"since": since}, HTTP_HX_REQUEST="true")


def test_a_poll_without_news_is_204_and_a_new_judgement_comes_through(client, staff, make_filled, make_rater):
    filled = make_filled(slug="live", n_prompts=10, n_raters=2, overlap=3)
    slug = filled.experiment.slug
    client.force_login(staff)
    first = selectors.human_report(filled.experiment)

    with mock.patch("webapp.reports.selectors.compute_report", wraps=selectors.compute_report) as compute:
        unchanged = poll(client, slug, first["fingerprint"])
        assert unchanged.status_code == 204
        assert compute.call_count == 0  # served from the cache

        # A third rater fills the last slot of every item: the next poll brings the new numbers.
        late = make_rater("late-rater")
        assert fill_round(filled.round, [late], random.Random(1)) > 0
        changed = poll(client, slug, first["fingerprint"])
        assert compute.call_count == 1

    html = changed.content.decode()
    assert changed.status_code == 200
    assert html.lstrip().startswith('<div id="results"')  # the partial alone, swapped in place
    assert "<html" not in html and 'hx-trigger="every 10s' in html
    fresh = selectors.human_report(filled.experiment)
    assert fresh["fingerprint"] != first["fingerprint"] and f"since={fresh['fingerprint']}" in html
    assert fresh["stats"]["n_rankings"] > first["stats"]["n_rankings"]
    assert "Updated at" in html


def test_a_cached_report_costs_a_few_queries(make_filled, django_assert_max_num_queries):
    filled = make_filled(slug="cheap", n_prompts=10, n_raters=2)
    selectors.human_report(filled.experiment)
    # The fingerprint's four aggregates (judgements, exclusions, responses, AI judge scores), then the cache.
    with django_assert_max_num_queries(4):
        selectors.human_report(filled.experiment)


def test_an_exclusion_changes_the_fingerprint(make_filled):
    filled = make_filled(slug="fingered", n_prompts=6, n_raters=2)
    before = selectors.human_fingerprint(filled.experiment)
    rounds.round_rater_exclude(round=filled.round, rater=filled.raters[0], excluded=True)
    assert selectors.human_fingerprint(filled.experiment) != before
