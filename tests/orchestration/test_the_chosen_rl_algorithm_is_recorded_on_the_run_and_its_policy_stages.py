"""The RL algorithm is chosen per run (the run form, `run_experiment --algorithm`): the run records
it, every RL arm's policy stage trains with it while DPO arms keep "dpo", the run page shows it
beside the arms, and a run that does not choose gets the paper's REINFORCE."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.urls import reverse

from tests.orchestration.lab import import_tiny_demo
from webapp.pipeline.models import PipelineRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def experiment(db, tmp_path):
    return import_tiny_demo("algo", tmp_path, train=4, test=2)


def policy_algorithms(run: PipelineRun) -> dict[str, str]:
    return {s.config["arm"]: s.config["algorithm"] for s in run.stages.filter(kind="policy")}


def test_the_command_records_it_and_dpo_arms_keep_dpo(experiment):
    call_command("run_experiment", "algo", "--arms", "rlhf", "mixed", "dpo-human", "--algorithm", "grpo", verbosity=0)
    run = PipelineRun.objects.get()
    assert run.algorithm == "grpo"
    assert policy_algorithms(run) == {"rlhf": "grpo", "mixed": "grpo", "dpo-human": "dpo"}


def test_the_form_records_it_and_the_run_page_shows_it(experiment, client):
    client.force_login(User.objects.create_superuser("boss", password="algo-pass-123"))
    form = client.get(reverse("pipeline:run_new", args=["algo"])).content.decode()
    assert 'name="algorithm" value="reinforce"' in form and 'value="ppo"' in form

    response = client.post(reverse("pipeline:run_new", args=["algo"]), {"arms": ["rlhf", "dpo-ai"], "size": "demo", "algorithm": "ppo"})
    assert response.status_code == 302
    run = PipelineRun.objects.get()
    assert run.algorithm == "ppo" and policy_algorithms(run) == {"rlhf": "ppo", "dpo-ai": "dpo"}
    page = client.get(response["Location"]).content.decode()
    assert '<dd id="run-algorithm"><code>ppo</code></dd>' in page
    assert 'id="algorithm-ppo"' in page and 'id="algorithm-reinforce"' not in page  # this run's algorithm only
    assert 'id="arm-rlhf"' in page and 'id="arm-dpo-ai"' in page and 'id="arm-mixed"' not in page


def test_a_run_that_does_not_choose_trains_with_reinforce(experiment, client):
    client.force_login(User.objects.create_superuser("boss", password="algo-pass-123"))
    client.post(reverse("pipeline:run_new", args=["algo"]), {"arms": ["rlaif"], "size": "demo"})
    run = PipelineRun.objects.get()
    assert run.algorithm == "reinforce" and policy_algorithms(run) == {"rlaif": "reinforce"}
