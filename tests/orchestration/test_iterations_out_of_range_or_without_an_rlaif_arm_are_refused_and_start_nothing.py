"""An RLAIF iteration count outside 1 to 5, or iterations asked of arms none of which iterates
(only rlaif and same-size-rlaif do), is refused by the run form, by `run_experiment
--iterations` and by the service, naming the field and the allowed values; no pipeline run is
made. An unknown --iteration-labels is refused by the command's choices."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.urls import reverse

from tests.orchestration.lab import import_tiny_demo
from webapp.pipeline.models import PipelineRun
from webapp.pipeline.services import orchestration

pytestmark = pytest.mark.django_db

RANGE = "choose 1 to 5"
ITERATIVE = "needs an arm that iterates (rlaif, same-size-rlaif)"


@pytest.fixture
def experiment(db, tmp_path):
    return import_tiny_demo("iter", tmp_path, train=4, test=2)


@pytest.mark.parametrize("iterations", ["0", "-1", "6"])
def test_the_command_refuses_a_count_out_of_range(experiment, iterations):
    with pytest.raises(CommandError, match=f"iterations: {iterations} is out of range, {RANGE}"):
        call_command("run_experiment", "iter", "--arms", "rlaif", "--iterations", iterations, verbosity=0)
    assert not PipelineRun.objects.exists()


def test_the_command_refuses_iterations_of_arms_that_do_not_iterate(experiment):
    with pytest.raises(CommandError, match=re.escape(f"iterations: 2 {ITERATIVE}; the arms chosen are rlhf, dpo-ai")):
        call_command("run_experiment", "iter", "--arms", "rlhf", "dpo-ai", "--iterations", "2", verbosity=0)
    assert not PipelineRun.objects.exists()


def test_the_command_refuses_unknown_iteration_labels(experiment):
    with pytest.raises(CommandError, match=r"argument --iteration-labels: invalid choice: 'oldest' \(choose from 'all', 'newest'\)"):
        call_command("run_experiment", "iter", "--arms", "rlaif", "--iterations", "2", "--iteration-labels", "oldest", verbosity=0)
    assert not PipelineRun.objects.exists()


@pytest.mark.parametrize(("arms", "iterations", "message"), [
    (["rlaif"], "0", f"RLAIF iterations: 0 is out of range, {RANGE}"),
    (["rlaif"], "9", f"RLAIF iterations: 9 is out of range, {RANGE}"),
    (["rlhf"], "3", f"RLAIF iterations: 3 {ITERATIVE}"),
])
def test_the_form_refuses_them_naming_the_field(experiment, client, arms, iterations, message):
    client.force_login(User.objects.create_superuser("boss", password="iter-pass-123"))
    response = client.post(reverse("pipeline:run_new", args=["iter"]), {"arms": arms, "size": "demo", "iterations": iterations})
    assert response.status_code == 400
    page = response.content.decode()
    assert 'id="iterations-error"' in page and message in page
    assert not PipelineRun.objects.exists()


def test_the_service_refuses_them_too(experiment):
    with pytest.raises(orchestration.PipelineError, match=RANGE):
        orchestration.pipeline_run_create(experiment=experiment, arms=["rlaif"], iterations=0, enqueue=False)
    with pytest.raises(orchestration.PipelineError, match="iteration labels: unknown 'some', choose one of all, newest"):
        orchestration.pipeline_run_create(experiment=experiment, arms=["rlaif"], iterations=2, iteration_labels="some",
                                          enqueue=False)
    assert not PipelineRun.objects.exists()
