"""A ``choice`` that is a list, an object or a JSON boolean is refused with the file and line, in
every format that has one: by the reader, by the command (no traceback) and by the admin's upload
(the form says why, no server error). ``true`` used to count as choice 1."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from pipeline.data import ImportFormatError, read
from webapp.experiments.models import PreferencePair

pytestmark = pytest.mark.django_db

BAD_CHOICES = [[1], {"a": 1}, True, False, 1.5]


def table_row(choice) -> dict:
    return {"prompt": "Which is kinder?", "response_a": "Thank you.", "response_b": "Go away.", "choice": choice}


def tldr_row(choice) -> dict:
    return {"info": {"post": "A long post about moving house."}, "summaries": [{"text": "Moved."}, {"text": "House."}], "choice": choice}


@pytest.mark.parametrize("choice", BAD_CHOICES, ids=repr)
@pytest.mark.parametrize("fmt, row", [("jsonl", table_row), ("tldr-comparisons", tldr_row)])
def test_the_reader_refuses_the_choice_naming_the_line(write_file, fmt, row, choice):
    path = write_file("pairs.jsonl", [row("a"  if fmt == "jsonl" else 0), row(choice)])
    with pytest.raises(ImportFormatError, match=r"line 2: field 'choice' must be"):
        list(read(path, fmt))


def test_the_command_refuses_it_without_a_traceback(experiment, write_file):
    path = write_file("pairs.jsonl", [table_row([1])])
    with pytest.raises(CommandError, match=r"nothing was imported: .*line 1: field 'choice' must be a, b, 1, 2 or empty"):
        call_command("import_preferences", str(path), "--experiment", experiment.slug, "--format", "jsonl", "--split", "test")
    assert PreferencePair.objects.count() == 0


def test_the_admin_upload_says_why_instead_of_a_server_error(client, experiment, django_user_model):
    admin = django_user_model.objects.create_superuser("root", password="root-pass-123")
    client.force_login(admin)
    upload = SimpleUploadedFile("pairs.jsonl", b'{"prompt": "p", "response_a": "x", "response_b": "y", "choice": {"a": 1}}\n')
    response = client.post(f"/admin/experiments/experiment/{experiment.pk}/import/", {"file": upload, "format": "jsonl", "split": "test", "seed": 0})
    assert response.status_code == 200
    assert "Nothing was imported. pairs.jsonl, line 1: field &#x27;choice&#x27; must be" in response.content.decode()
    assert PreferencePair.objects.count() == 0
