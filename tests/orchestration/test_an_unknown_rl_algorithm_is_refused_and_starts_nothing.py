"""An RL algorithm that is not one of pipeline.arms.ALGORITHMS is refused by the run form, by
`run_experiment --algorithm` and by the service, each naming the field and the allowed values,
and no pipeline run is made."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.urls import reverse

from tests.orchestration.lab import import_tiny_demo
from webapp.pipeline.models import PipelineRun
from webapp.pipeline.services import orchestration

pytestmark = pytest.mark.django_db

ALLOWED = "reinforce, ppo, rloo, grpo"


@pytest.fixture
def experiment(db, tmp_path):
    return import_tiny_demo("algo", tmp_path, train=4, test=2)


def test_the_form_refuses_it_naming_the_field_and_the_choices(experiment, client):
    client.force_login(User.objects.create_superuser("boss", password="algo-pass-123"))
    response = client.post(reverse("pipeline:run_new", args=["algo"]), {"arms": ["rlhf"], "size": "demo", "algorithm": "a2c"})
    assert response.status_code == 400
    assert f"RL algorithm: unknown a2c, choose one of {ALLOWED}." in response.content.decode()
    assert not PipelineRun.objects.exists()


def test_the_command_refuses_it_naming_the_option_and_the_choices(experiment):
    with pytest.raises(CommandError, match=r"argument --algorithm: invalid choice: 'a2c' \(choose from 'reinforce', 'ppo', 'rloo', 'grpo'\)"):
        call_command("run_experiment", "algo", "--arms", "rlhf", "--algorithm", "a2c", verbosity=0)
    assert not PipelineRun.objects.exists()


def test_the_service_refuses_it_too(experiment):
    with pytest.raises(orchestration.PipelineError, match=f"algorithm: unknown 'a2c', choose one of {ALLOWED}"):
        orchestration.pipeline_run_create(experiment=experiment, arms=["rlhf"], algorithm="a2c", enqueue=False)
    assert not PipelineRun.objects.exists()
