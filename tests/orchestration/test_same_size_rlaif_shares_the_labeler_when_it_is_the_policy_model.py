"""same-size-rlaif labels with a labeler of the policy's own model. When the experiment's labeler
already is that model (the default), a second labeling would repeat the first exactly: the plan
runs one, and the run form and the run page say so. With a different labeler the two arms keep
their own labeling and reward stages."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from pipeline.plan import plan_pipeline
from tests.orchestration.lab import import_tiny_demo
from webapp.pipeline.services import orchestration

NOTE = "same-size-rlaif use the same labeler as rlaif here"


def test_the_plan_shares_the_labeling_only_when_the_labeler_is_the_policy_model():
    shared = {s.name for s in plan_pipeline(arms=["rlaif", "same-size-rlaif"], has_references=False, same_labeler=True)}
    assert "ai-labels-policy-size" not in shared and "reward-ai-policy-size" not in shared
    assert {"ai-labels", "reward-ai", "policy-rlaif", "policy-same-size-rlaif"} <= shared
    apart = {s.name for s in plan_pipeline(arms=["rlaif", "same-size-rlaif"], has_references=False)}
    assert {"ai-labels", "ai-labels-policy-size", "reward-ai", "reward-ai-policy-size"} <= apart


@pytest.mark.django_db
def test_the_run_form_and_page_say_the_labeler_is_shared(tmp_path, client):
    experiment = import_tiny_demo("sized", tmp_path, train=4, test=2)
    client.force_login(User.objects.create_superuser("boss", password="sized-pass-123"))
    assert NOTE in client.get(reverse("pipeline:run_new", args=["sized"])).content.decode()

    run = orchestration.pipeline_run_create(experiment=experiment, arms=["rlaif", "same-size-rlaif"], enqueue=False)
    assert run.stages.filter(kind="labeling").count() == 1
    assert NOTE in client.get(reverse("pipeline:run_detail", args=["sized", run.pk])).content.decode()

    experiment.labeler_model = "/models/a-larger-labeler"
    experiment.save()
    assert NOTE not in client.get(reverse("pipeline:run_new", args=["sized"])).content.decode()
    apart = orchestration.pipeline_run_create(experiment=experiment, arms=["rlaif", "same-size-rlaif"], enqueue=False)
    assert apart.stages.filter(kind="labeling").count() == 2
