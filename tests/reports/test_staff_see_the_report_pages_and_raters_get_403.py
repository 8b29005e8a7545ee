"""The report pages are for staff: staff see every page (with data and empty), raters get 403,
anonymous visitors are sent to log in; the API wants a staff token."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token

from webapp.experiments.models import Experiment

pytestmark = pytest.mark.django_db

PAGES = ["results", "alignment", "raters", "cost", "plan"]


def test_staff_see_every_report_page_of_a_filled_experiment(client, staff, make_filled, make_runs):
    filled = make_filled(slug="seen", n_prompts=20)
    make_runs(filled.experiment)
    client.force_login(staff)
    expected = {
        "results": ["Win rates vs sft", "Comparing win rates vs sft", "Harmless rates", "Bradley–Terry strengths",
                    "Length control", 'hx-trigger="every 10s', "Updated at", "How many items to rate?"],
        "alignment": ["Prompting techniques", "Alignment by labeler model", "alignment and position bias", "Calibration",
                      "Reward-model accuracy vs training pairs", "Training runs", "Run #"],
        "raters": ["Agreement between raters", "Krippendorff", "Gold accuracy", "Median time per item", "Excluded raters"],
        "cost": ["AI vs human labels: cost per 1,000 labels", "Human ÷ AI"],
        "plan": ["How many items to rate?", "Design effect"],
    }
    for page in PAGES:
        response = client.get(reverse(f"reports:{page}", args=[filled.experiment.slug]))
        html = response.content.decode()
        assert response.status_code == 200, page
        for text in expected[page]:
            assert text in html, (page, text)
    detail = client.get(reverse("experiment_detail", args=[filled.experiment.slug])).content.decode()
    assert reverse("reports:results", args=[filled.experiment.slug]) in detail
    home = client.get(reverse("home")).content.decode()
    assert reverse("reports:results", args=[filled.experiment.slug]) in home


def test_an_experiment_without_data_shows_empty_states(client, staff):
    experiment = Experiment.objects.create(slug="blank", name="Blank", task="harmless")
    client.force_login(staff)
    empty = {
        "results": "No judgements to report yet.",
        "alignment": "No labeling sweep yet",
        "raters": "No rating rounds yet.",
        "cost": "No labeling run yet.",
    }
    for page, text in empty.items():
        response = client.get(reverse(f"reports:{page}", args=[experiment.slug]))
        assert response.status_code == 200 and text in response.content.decode(), page


def test_raters_get_403_and_anonymous_visitors_are_sent_to_log_in(client, make_rater, make_filled):
    filled = make_filled(slug="private", n_prompts=6, n_raters=2)
    slug = filled.experiment.slug
    for page in PAGES:
        response = client.get(reverse(f"reports:{page}", args=[slug]))
        assert response.status_code == 302 and reverse("login") in response["Location"]
    client.force_login(filled.raters[0])
    for page in PAGES:
        assert client.get(reverse(f"reports:{page}", args=[slug])).status_code == 403
    assert client.get(reverse("reports:csv", args=[slug, "win_rates"])).status_code == 403

    token = Token.objects.create(user=filled.raters[0]).key
    api = client.get(reverse("reports:api-report", args=[slug]), HTTP_AUTHORIZATION=f"Token {token}")
    assert api.status_code == 403
    client.logout()
    assert client.get(reverse("reports:api-report", args=[slug])).status_code in (401, 403)


def test_an_unknown_baseline_is_a_clear_400(client, staff, make_filled, staff_token):
    filled = make_filled(slug="based", n_prompts=6, n_raters=2)
    client.force_login(staff)
    page = client.get(reverse("reports:results", args=[filled.experiment.slug]), {"baseline": "gpt-9"})
    assert page.status_code == 400 and "is not among the ranked policies" in page.content.decode()
    api = client.get(reverse("reports:api-report", args=[filled.experiment.slug]), {"baseline": "gpt-9"},
                     HTTP_AUTHORIZATION=f"Token {staff_token}")
    assert api.status_code == 400 and "gpt-9" in api.json()["detail"]
    chosen = client.get(reverse("reports:results", args=[filled.experiment.slug]), {"baseline": "rlhf"})
    assert chosen.status_code == 200 and "Win rates vs rlhf" in chosen.content.decode()


def test_a_harmless_only_round_reports_harmless_rates_without_win_rates(client, staff, make_filled):
    filled = make_filled(slug="harmonly", n_prompts=10, n_raters=3, gold_share=0.0, mode="harmless")
    client.force_login(staff)
    html = client.get(reverse("reports:results", args=[filled.experiment.slug])).content.decode()
    assert "No rankings yet" in html and 'id="fig-harmless-1"' in html
    assert "fig-vs_baseline" not in html
