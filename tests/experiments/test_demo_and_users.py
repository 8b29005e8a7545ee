"""The demo experiments load idempotently, and the lab's starting users exist once."""

import json

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from webapp.experiments.models import Experiment, PreferencePair, Prompt

pytestmark = pytest.mark.django_db


def test_load_demo_creates_both_demo_experiments_and_a_second_run_changes_nothing(capsys):
    call_command("load_demo")
    dialogues = Experiment.objects.get(slug="demo")
    posts = Experiment.objects.get(slug="demo-summarize")
    assert dialogues.task == "harmless" and posts.task == "summarization"
    assert Prompt.objects.filter(experiment=dialogues).count() >= 40
    assert Prompt.objects.filter(experiment=posts).count() >= 20
    assert not Prompt.objects.filter(experiment=posts, reference="").exists()
    assert "authors' own" in dialogues.description
    counts = (Prompt.objects.count(), PreferencePair.objects.count())

    call_command("load_demo")
    assert (Prompt.objects.count(), PreferencePair.objects.count()) == counts
    assert not PreferencePair.objects.filter(human_choice__isnull=True).exists()
    for experiment in (dialogues, posts):
        assert set(Prompt.objects.filter(experiment=experiment).values_list("split", flat=True)) == {"train", "test"}


def test_create_lab_users_makes_a_staff_user_and_a_rater_and_prints_the_same_passwords_twice(capsys, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    call_command("create_lab_users")
    first = capsys.readouterr().out
    call_command("create_lab_users")
    assert capsys.readouterr().out == first
    admin, rater = User.objects.get(username="admin"), User.objects.get(username="rater")
    assert admin.is_staff and not rater.is_staff
    assert rater.groups.filter(name="raters").exists()
    saved = json.loads((tmp_path / "credentials.json").read_text())
    assert admin.check_password(saved["admin"]) and saved["admin"] in first
