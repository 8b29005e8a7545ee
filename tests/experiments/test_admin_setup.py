"""Staff set experiments up in the admin; nobody else gets in."""

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from webapp.experiments import services
from webapp.experiments.models import Experiment, PreferencePair

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    user = User.objects.create_user("staff", password="pw-staff-123", is_staff=True, is_superuser=True)
    client.force_login(user)
    return user


@pytest.fixture
def demo(db):
    services.demo_load()
    return Experiment.objects.get(slug="demo")


def test_staff_log_into_the_admin_and_see_the_demo_experiment_with_its_counts(client, demo):
    User.objects.create_user("staff", password="pw-staff-123", is_staff=True, is_superuser=True)
    login = client.post(reverse("admin:login"), {"username": "staff", "password": "pw-staff-123", "next": "/admin/"})
    assert login.status_code == 302

    listing = client.get(reverse("admin:experiments_experiment_changelist"))
    assert listing.status_code == 200
    page = listing.content.decode()
    n_train = demo.prompts.filter(split="train").count()
    n_test = demo.prompts.filter(split="test").count()
    assert "demo" in page and "demo-summarize" in page
    assert f'<td class="field-train_prompts">{n_train}</td>' in page
    assert f'<td class="field-test_prompts">{n_test}</td>' in page

    detail = client.get(reverse("admin:experiments_experiment_change", args=[demo.pk])).content.decode()
    assert "Import preferences" in detail and "First pairs" in detail


def test_a_non_staff_user_is_refused_by_the_admin(client, demo):
    User.objects.create_user("rater1", password="pw-rater-123")
    client.force_login(User.objects.get(username="rater1"))
    response = client.get(reverse("admin:experiments_experiment_changelist"))
    assert response.status_code == 302 and reverse("admin:login") in response["Location"]
    assert client.get(reverse("admin:experiments_experiment_import", args=[demo.pk])).status_code == 302


def test_the_admin_upload_form_imports_a_file_into_the_experiment(client, staff, demo):
    body = b'{"prompt": "Human: new question", "chosen": "kind answer", "rejected": "rude answer"}\n'
    upload = SimpleUploadedFile("extra.jsonl", body, content_type="application/json")
    before = PreferencePair.objects.filter(prompt__experiment=demo).count()
    response = client.post(
        reverse("admin:experiments_experiment_import", args=[demo.pk]),
        {"file": upload, "format": "jsonl", "split": "train", "seed": 0},
        follow=True,
    )
    assert "imported 1 pairs" in response.content.decode()
    assert PreferencePair.objects.filter(prompt__experiment=demo).count() == before + 1


def test_a_bad_upload_shows_the_line_and_imports_nothing(client, staff, demo):
    body = b'{"prompt": "ok", "chosen": "a", "rejected": "b"}\n{"prompt": "broken"\n'
    upload = SimpleUploadedFile("broken.jsonl", body)
    before = PreferencePair.objects.count()
    response = client.post(
        reverse("admin:experiments_experiment_import", args=[demo.pk]),
        {"file": upload, "format": "jsonl", "split": "train", "seed": 0},
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "Nothing was imported. broken.jsonl, line 2: malformed JSON" in page
    assert PreferencePair.objects.count() == before


def test_prompts_and_pairs_can_be_searched_and_filtered(client, staff, demo):
    prompts = client.get(reverse("admin:experiments_prompt_changelist"), {"experiment__id__exact": demo.pk, "split__exact": "test"})
    assert prompts.status_code == 200
    pairs = client.get(reverse("admin:experiments_preferencepair_changelist"), {"q": "the", "human_choice__exact": "1"})
    assert pairs.status_code == 200
