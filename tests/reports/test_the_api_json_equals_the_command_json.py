"""Every report table is JSON in the API, and the API's numbers are the command's numbers."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_the_api_returns_what_report_json_prints(client, staff_token, make_filled, make_runs):
    filled = make_filled(slug="agreeing", n_prompts=20)
    make_runs(filled.experiment)
    out = io.StringIO()
    call_command("report", filled.experiment.slug, "--json", stdout=out)
    command = json.loads(out.getvalue().strip().splitlines()[-1])

    headers = {"HTTP_AUTHORIZATION": f"Token {staff_token}"}
    for section, name in (("report", "api-report"), ("raters", "api-raters"), ("alignment", "api-alignment"),
                          ("training", "api-training"), ("cost", "api-cost")):
        response = client.get(reverse(f"reports:{name}", args=[filled.experiment.slug]), **headers)
        assert response.status_code == 200, section
        assert response.json() == command[section], section


def test_an_unknown_experiment_is_a_404(client, staff_token):
    response = client.get(reverse("reports:api-report", args=["missing"]), HTTP_AUTHORIZATION=f"Token {staff_token}")
    assert response.status_code == 404
