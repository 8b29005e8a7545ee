"""Being staff is not enough: without the model permissions a staff user cannot make policy
responses, start a run, cancel or retry a stage, or read judgements, whichever way they ask
(page, admin page or API with a token); nothing is written for them."""

from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from webapp.experiments.models import PolicyResponse
from webapp.pipeline.models import PipelineRun, PipelineStage

pytestmark = pytest.mark.django_db


def test_making_responses_from_pairs_in_the_admin_is_refused(world):
    before = PolicyResponse.objects.count()
    client = world.client("staff_without_permissions")
    response = client.post("/admin/rating/round/prepare-responses/", {"experiment": world.experiment.pk, "naming": "candidates"})
    assert response.status_code == 403
    assert PolicyResponse.objects.count() == before


def test_starting_a_run_is_refused_and_starts_nothing(world):
    client = world.client("staff_without_permissions")
    response = client.post(f"/experiments/{world.experiment.slug}/runs/new/", {"arms": ["sft"], "size": "demo"})
    assert response.status_code == 403
    assert PipelineRun.objects.count() == 1


def test_cancelling_or_retrying_a_stage_is_refused_and_changes_nothing(world):
    PipelineStage.objects.filter(pk=world.stage.pk).update(status="running")
    client = world.client("staff_without_permissions")
    for action in ("cancel", "retry"):
        response = client.post(f"/experiments/{world.experiment.slug}/runs/{world.run.pk}/stages/{world.stage.pk}/{action}/")
        assert response.status_code == 403
    assert PipelineStage.objects.get(pk=world.stage.pk).status == "running"


def test_the_judgements_api_refuses_a_staff_token_without_the_permission(world):
    token = Token.objects.create(user=world.users["staff_without_permissions"]).key
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    for path in ("/api/judgements/", f"/api/rounds/{world.round.pk}/judgements.csv", f"/api/experiments/{world.experiment.slug}/report/"):
        assert client.get(path).status_code == 403, path


def test_the_same_staff_user_given_the_permissions_can(world):
    token = Token.objects.create(user=world.users["staff_with_permissions"]).key
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/judgements/").json()["count"] == 1
