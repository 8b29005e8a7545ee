"""Every point of a reward-model curve is measured on the test split's human labels: an experiment
without any is refused by the run form (under the curve's box), ``run_experiment --reward-curve``
and ``rm_curve`` alike, before anything is created."""

import html

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.urls import reverse

from webapp.experiments.models import PreferencePair
from webapp.pipeline.models import PipelineRun, TrainingRun

pytestmark = pytest.mark.django_db

MESSAGE = "tiny has no human-labelled test pairs to measure the reward-model curve on"


def test_no_human_test_labels_no_curve(client, tiny_experiment):
    PreferencePair.objects.filter(prompt__experiment=tiny_experiment, prompt__split="test").update(human_choice=None)
    client.force_login(User.objects.create_superuser("boss", password="curve-pass-123"))
    response = client.post(reverse("pipeline:run_new", args=[tiny_experiment.slug]),
                           {"arms": ["sft"], "size": "demo", "mixed_share": "0.5", "reward_curve": "on"})
    assert response.status_code == 400
    assert f'id="reward-curve-error">{MESSAGE}' in html.unescape(response.content.decode())
    with pytest.raises(CommandError, match=f"^--reward-curve: {MESSAGE}"):
        call_command("run_experiment", tiny_experiment.slug, "--arms", "sft", "--reward-curve", verbosity=0)
    with pytest.raises(CommandError, match=f"^--experiment: {MESSAGE}"):
        call_command("rm_curve", "--experiment", tiny_experiment.slug, "--sizes", "2", "4", verbosity=0)
    assert not PipelineRun.objects.exists() and not TrainingRun.objects.exists()
    # without the curve the same experiment still starts
    call_command("run_experiment", tiny_experiment.slug, "--arms", "sft", verbosity=0)
    assert PipelineRun.objects.count() == 1
