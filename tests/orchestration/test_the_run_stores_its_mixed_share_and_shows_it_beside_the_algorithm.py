"""The share of human labels chosen for the mixed arm is stored with the pipeline run (from the
command and from the form) and shown on the run page beside the RL algorithm; a run without the
mixed arm shows no share."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.urls import reverse

from tests.orchestration.lab import import_tiny_demo
from webapp.pipeline.models import PipelineRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    client.force_login(User.objects.create_superuser("boss", password="share-pass-123"))
    return client


def test_the_command_and_the_form_store_the_share_and_the_run_page_shows_it(tmp_path, staff):
    import_tiny_demo("shown", tmp_path, train=4, test=2)
    call_command("run_experiment", "shown", "--arms", "mixed", "--mixed-share", "0.3", verbosity=0)
    run = PipelineRun.objects.latest("id")
    assert run.mixed_share == 0.3
    page = staff.get(reverse("pipeline:run_detail", args=["shown", run.pk])).content.decode()
    assert '<dd id="run-algorithm"><code>reinforce</code></dd>' in page
    assert '<dd id="run-mixed-share">0.3</dd>' in page

    response = staff.post(reverse("pipeline:run_new", args=["shown"]), {"arms": ["mixed", "rlaif"], "size": "demo",
                                                                         "mixed_share": "0.75", "iterations": "2"})
    assert response.status_code == 302
    run = PipelineRun.objects.latest("id")
    assert (run.mixed_share, run.iterations, run.iteration_labels) == (0.75, 2, "all")
    page = staff.get(reverse("pipeline:run_detail", args=["shown", run.pk])).content.decode()
    assert '<dd id="run-mixed-share">0.75</dd>' in page
    assert 'id="run-iterations">2, each reward model on all AI labels so far' in page


def test_a_run_without_the_mixed_arm_shows_no_share(tmp_path, staff):
    import_tiny_demo("plain", tmp_path, train=4, test=2)
    call_command("run_experiment", "plain", "--arms", "rlhf", verbosity=0)
    run = PipelineRun.objects.latest("id")
    assert run.mixed_share == 0.5  # the default is still stored
    assert 'id="run-mixed-share"' not in staff.get(reverse("pipeline:run_detail", args=["plain", run.pk])).content.decode()
