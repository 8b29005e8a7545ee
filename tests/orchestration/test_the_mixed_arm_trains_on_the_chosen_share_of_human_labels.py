"""The mixed arm's share of human labels is chosen per run (``run_experiment --mixed-share``, the
run form) and goes into its reward stage; a share outside [0, 1] is refused naming the field."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.urls import reverse

from tests.orchestration.lab import import_tiny_demo
from webapp.pipeline.models import PipelineRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def experiment(db, tmp_path):
    return import_tiny_demo("share", tmp_path, train=4, test=2)


def test_the_command_and_the_form_set_the_share(experiment, client):
    call_command("run_experiment", "share", "--arms", "mixed", "--mixed-share", "0.25", verbosity=0)
    reward = PipelineRun.objects.latest("id").stages.get(kind="reward")
    assert reward.name == "reward-mixed-0.25" and reward.config["labels"] == "mixed:0.25"

    client.force_login(User.objects.create_superuser("boss", password="share-pass-123"))
    response = client.post(reverse("pipeline:run_new", args=["share"]), {"arms": ["mixed"], "size": "demo", "mixed_share": "0.75"})
    assert response.status_code == 302
    assert PipelineRun.objects.latest("id").stages.get(kind="reward").config["labels"] == "mixed:0.75"


def test_a_share_outside_zero_to_one_is_refused(experiment, client):
    with pytest.raises(CommandError, match="mixed share must be between 0 and 1 \\(the share of human labels\\), got 2"):
        call_command("run_experiment", "share", "--arms", "mixed", "--mixed-share", "2", verbosity=0)
    client.force_login(User.objects.create_superuser("boss", password="share-pass-123"))
    response = client.post(reverse("pipeline:run_new", args=["share"]), {"arms": ["mixed"], "size": "demo", "mixed_share": "1.5"})
    assert response.status_code == 400 and "less than or equal to 1" in response.content.decode()
    assert not PipelineRun.objects.exists()
