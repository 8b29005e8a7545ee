"""The pipeline pages: the run form starts a run, the run page shows every stage and polls only
while the run is unfinished, cancel and retry are staff-only POSTs, and the admin leads to the form."""

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from tests.orchestration.conftest import sent_stages
from webapp.pipeline.models import PipelineRun, PipelineStage, Status
from webapp.pipeline.services import orchestration

pytestmark = pytest.mark.django_db(transaction=True)
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def staff_client(client):
    client.force_login(User.objects.create_user("boss", password="pw-12345-x", is_staff=True, is_superuser=True))
    return client


def page_url(run):
    return reverse("pipeline:run_detail", args=[run.experiment.slug, run.pk])


def test_the_form_starts_a_run_of_the_chosen_arms_and_shows_it(staff_client, tiny_experiment, isolated_broker):
    form = staff_client.get(reverse("pipeline:run_new", args=["tiny"]))
    assert form.status_code == 200 and b"No pipeline runs yet." in form.content
    assert b'value="rlhf"' in form.content and b"checked" in form.content

    refused = staff_client.post(reverse("pipeline:run_new", args=["tiny"]), {"size": "demo"})
    assert refused.status_code == 400 and b"Choose at least one arm." in refused.content
    started = staff_client.post(reverse("pipeline:run_new", args=["tiny"]), {"arms": ["sft", "dpo-human"], "size": "demo"})
    run = PipelineRun.objects.get()
    assert started.status_code == 302 and started["Location"] == page_url(run)
    assert run.arms == ["sft", "dpo-human"] and run.created_by.username == "boss"
    assert sent_stages(isolated_broker) == [("prepare-models", "default")]

    page = staff_client.get(page_url(run))
    html = page.content.decode()
    assert page.status_code == 200 and "Queued" in html and "Waiting for a worker" in html
    for name in ("prepare-models", "policy-dpo-human", "samples-sft", "samples-dpo-human", "evaluation-round"):
        assert f'id="stage-{name}"' in html
    assert 'hx-trigger="every 2s' in html  # unfinished: the page polls itself
    assert "started by" in html.lower() and "boss" in html
    detail = staff_client.get(reverse("experiment_detail", args=["tiny"]))
    assert f'href="{page_url(run)}"'.encode() in detail.content and b"Run experiment" in detail.content


def test_an_unchanged_poll_gets_204_and_a_finished_run_stops_polling(staff_client, tiny_experiment):
    run = orchestration.pipeline_run_create(experiment=tiny_experiment, arms=["sft"], enqueue=False)
    first = staff_client.get(page_url(run), **HTMX)
    assert first.status_code == 200 and first.templates[0].name == "pipeline/_run_status.html"
    since = first.context["page"].fingerprint
    assert staff_client.get(page_url(run) + f"?since={since}", **HTMX).status_code == 204

    PipelineStage.objects.filter(pipeline=run).update(status=Status.SUCCEEDED)
    orchestration.pipeline_status_refresh(pipeline_id=run.pk)
    done = staff_client.get(page_url(run) + f"?since={since}", **HTMX)
    html = done.content.decode()
    assert done.status_code == 200 and "Finished" in html and "hx-trigger" not in html


def test_staff_cancel_a_stage_and_retry_it_and_raters_may_not(staff_client, client, tiny_experiment, isolated_broker):
    run = orchestration.pipeline_run_create(experiment=tiny_experiment, arms=["sft"])
    prepare = PipelineStage.objects.get(pipeline=run, name="prepare-models")
    cancel = reverse("pipeline:stage_cancel", args=["tiny", run.pk, prepare.pk])
    retry = reverse("pipeline:stage_retry", args=["tiny", run.pk, prepare.pk])

    rater = User.objects.create_user("r", password="pw-12345-x")
    other = client.__class__()
    other.force_login(rater)
    assert other.post(cancel).status_code == 403
    assert staff_client.get(cancel).status_code == 405

    swapped = staff_client.post(cancel, **HTMX)
    assert swapped.status_code == 200 and "Retry prepare-models" in swapped.content.decode()
    prepare.refresh_from_db()
    run.refresh_from_db()
    assert prepare.status == Status.CANCELLED and "cancelled by boss" in prepare.log
    assert run.status == "cancelled" and "hx-trigger" not in swapped.content.decode()

    again = staff_client.post(retry)  # without htmx: a redirect back with a message
    assert again.status_code == 302 and again["Location"] == page_url(run)
    prepare.refresh_from_db()
    assert prepare.status == Status.PENDING and prepare.enqueued_at is not None
    assert sent_stages(isolated_broker) == [("prepare-models", "default")] * 2
    assert "Sent again: prepare-models." in staff_client.get(page_url(run)).content.decode()
    late = staff_client.post(retry, follow=True)
    assert "nothing to do" in late.content.decode()


def test_the_admin_action_leads_to_the_run_form_of_the_one_chosen_experiment(staff_client, tiny_experiment):
    changelist = reverse("admin:experiments_experiment_changelist")
    chosen = staff_client.post(changelist, {"action": "run_experiment", "_selected_action": [tiny_experiment.pk]})
    assert chosen.status_code == 302 and chosen["Location"] == reverse("pipeline:run_new", args=["tiny"])
    change = staff_client.get(reverse("admin:experiments_experiment_change", args=[tiny_experiment.pk]))
    assert reverse("pipeline:run_new", args=["tiny"]).encode() in change.content
