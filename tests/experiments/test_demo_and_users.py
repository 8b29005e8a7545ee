"""The three demo experiments load idempotently, and the lab's starting users exist once."""

import json

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from webapp.experiments.models import Experiment, PreferencePair, Prompt

pytestmark = pytest.mark.django_db


# slug: (task, train prompts, test prompts); one pair per prompt, every pair labelled.
DEMOS = {
    "demo": ("harmless", 32, 16),
    "demo-summarize": ("summarization", 16, 8),
    "demo-helpful": ("helpful", 32, 16),
}


def test_load_demo_creates_the_three_demo_experiments_one_per_task_and_a_second_run_changes_nothing(capsys):
    call_command("load_demo")
    out = capsys.readouterr().out
    assert set(Experiment.objects.values_list("slug", flat=True)) == set(DEMOS)
    for slug, (task, n_train, n_test) in DEMOS.items():
        experiment = Experiment.objects.get(slug=slug)
        assert experiment.task == task and "authors' own" in experiment.description
        prompts = Prompt.objects.filter(experiment=experiment)
        assert (prompts.filter(split="train").count(), prompts.filter(split="test").count()) == (n_train, n_test)
        assert PreferencePair.objects.filter(prompt__experiment=experiment).count() == n_train + n_test
        assert f"{slug}: imported {n_train + n_test} pairs" in out
    assert not Prompt.objects.filter(experiment__slug="demo-summarize", reference="").exists()
    counts = (Prompt.objects.count(), PreferencePair.objects.count())

    call_command("load_demo")
    assert (Prompt.objects.count(), PreferencePair.objects.count()) == counts
    assert "imported 0 pairs" in capsys.readouterr().out
    assert not PreferencePair.objects.filter(human_choice__isnull=True).exists()


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
