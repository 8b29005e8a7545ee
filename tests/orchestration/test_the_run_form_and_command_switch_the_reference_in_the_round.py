"""Whether the human reference is rated in the pipeline's evaluation round is a choice on the run
form and on ``run_experiment`` (--with-reference / --no-reference); left alone, the round's
default holds (on for summarization prompts with references). It is saved in the round stage's
settings, where the round stage reads it."""

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.urls import reverse

from webapp.pipeline.models import PipelineRun

pytestmark = pytest.mark.django_db


def round_settings(run: PipelineRun) -> dict:
    return run.stages.get(kind="round").config


def test_the_form_saves_the_choice_and_the_default_saves_nothing(client, tiny_experiment):
    client.force_login(User.objects.create_superuser("boss", password="switch-pass-123"))
    url = reverse("pipeline:run_new", args=[tiny_experiment.slug])
    page = client.get(url).content.decode()
    assert "Human reference in the evaluation round" in page and "Leave it out" in page
    for choice, expected in (("include", True), ("leave-out", False), ("", None)):
        response = client.post(url, {"arms": ["sft"], "size": "demo", "mixed_share": "0.5", "reference": choice})
        assert response.status_code == 302
        assert round_settings(PipelineRun.objects.latest("id")).get("with_reference") == expected
    refused = client.post(url, {"arms": ["sft"], "size": "demo", "reference": "sometimes"})
    assert refused.status_code == 400 and "sometimes is not one of the available choices" in refused.content.decode()


def test_the_command_takes_with_and_no_reference(tiny_experiment):
    call_command("run_experiment", tiny_experiment.slug, "--arms", "sft", "--with-reference", verbosity=0)
    assert round_settings(PipelineRun.objects.latest("id"))["with_reference"] is True
    call_command("run_experiment", tiny_experiment.slug, "--arms", "sft", "--no-reference", verbosity=0)
    assert round_settings(PipelineRun.objects.latest("id"))["with_reference"] is False
