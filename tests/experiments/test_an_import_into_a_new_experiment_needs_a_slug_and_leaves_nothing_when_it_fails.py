"""The import command creates a missing experiment: only under a real slug (a slug with a space or
a slash made every page that links to it answer 500), and a failed import takes the experiment
it created away again, so that "nothing was imported" is true."""

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from webapp.experiments.models import Experiment

from .conftest import hh_row

pytestmark = pytest.mark.django_db


def import_hh(path, slug):
    call_command("import_preferences", str(path), "--experiment", slug, "--format", "hh", "--split", "test")


@pytest.mark.parametrize("slug", ["My Exp/1", "a b", "ünïcode?", "x/../y"])
def test_a_slug_that_is_not_a_slug_is_refused(write_file, client, slug):
    path = write_file("hh.jsonl", [hh_row("Hello?", "Hi there.", "Go away.")])
    with pytest.raises(CommandError, match="not a valid experiment slug"):
        import_hh(path, slug)
    assert not Experiment.objects.exists()
    client.force_login(User.objects.create_superuser("root", password="root-pass-123"))
    assert client.get("/").status_code == 200


def test_a_failed_import_leaves_no_new_experiment_behind(write_file):
    path = write_file("hh.jsonl", [hh_row("Hello?", "Hi there.", "Go away."), '{"chosen": "broken'])
    with pytest.raises(CommandError, match="nothing was imported"):
        import_hh(path, "fresh")
    assert not Experiment.objects.filter(slug="fresh").exists()


def test_a_failed_import_keeps_an_experiment_that_was_there_before(experiment, write_file):
    path = write_file("hh.jsonl", ['{"chosen": "broken'])
    with pytest.raises(CommandError):
        import_hh(path, experiment.slug)
    assert Experiment.objects.filter(pk=experiment.pk).exists()
