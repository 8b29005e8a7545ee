"""Bad input stops an import with a message naming the file, line and problem; nothing is kept."""

import pytest
from django.core.management import CommandError, call_command

from pipeline.data import ImportFormatError
from webapp.experiments import services
from webapp.experiments.models import PreferencePair, Prompt

from .conftest import hh_row

pytestmark = pytest.mark.django_db

GOOD = [hh_row(f"Question number {i}?", f"A careful answer {i}.", f"A careless answer {i}.") for i in range(3)]


def import_file(experiment, path, fmt="hh"):
    return services.preferences_import(experiment=experiment, path=path, fmt=fmt, split="train")


def assert_nothing_imported():
    assert PreferencePair.objects.count() == 0
    assert Prompt.objects.count() == 0


def test_a_malformed_line_names_its_line_and_imports_nothing(experiment, write_file):
    path = write_file("bad.jsonl", GOOD + ['{"chosen": "unterminated'])
    with pytest.raises(ImportFormatError) as caught:
        import_file(experiment, path)
    assert caught.value.line == 4
    assert str(caught.value).startswith(f"{path}, line 4: malformed JSON")
    assert_nothing_imported()


def test_a_missing_field_names_the_field_and_the_line(experiment, write_file):
    path = write_file("missing.jsonl", GOOD + [{"chosen": "\n\nHuman: hi\n\nAssistant: hello"}])
    with pytest.raises(ImportFormatError, match=r"line 4: missing field 'rejected'"):
        import_file(experiment, path)
    assert_nothing_imported()


def test_an_hh_pair_whose_dialogues_do_not_share_their_context_is_refused(experiment, write_file):
    mismatched = {
        "chosen": "\n\nHuman: How do I bake bread?\n\nAssistant: Start with flour.",
        "rejected": "\n\nHuman: How do I fix a tyre?\n\nAssistant: Find the hole.",
    }
    path = write_file("mismatch.jsonl", [GOOD[0], mismatched, GOOD[1]])
    with pytest.raises(ImportFormatError, match=r"line 2: .*do not share their context"):
        import_file(experiment, path)
    assert_nothing_imported()


def test_an_unknown_format_is_refused_by_name(experiment, write_file):
    path = write_file("data.jsonl", GOOD)
    with pytest.raises(ImportFormatError, match=r"unknown format 'parquet'"):
        import_file(experiment, path, fmt="parquet")
    assert_nothing_imported()


def test_an_empty_file_is_refused(experiment, write_file):
    path = write_file("empty.jsonl", b"\n\n")
    with pytest.raises(ImportFormatError, match=r"empty\.jsonl: the file is empty"):
        import_file(experiment, path)
    assert_nothing_imported()


def test_a_file_that_is_not_utf8_names_the_line_with_the_bad_byte(experiment, write_file):
    lines = b"".join(f'{{"prompt": "p{i}", "chosen": "a{i}", "rejected": "b{i}"}}\n'.encode() for i in range(2))
    path = write_file("latin1.jsonl", lines + '{"prompt": "caf\xe9", "chosen": "a", "rejected": "b"}\n'.encode("latin-1"))
    with pytest.raises(ImportFormatError, match=r"line 3: not valid UTF-8 \(byte 0xe9"):
        import_file(experiment, path, fmt="jsonl")
    assert_nothing_imported()


def test_the_command_line_reports_the_error_and_imports_nothing(experiment, write_file):
    path = write_file("bad.jsonl.gz", GOOD + ["not json at all"])
    with pytest.raises(CommandError, match=r"nothing was imported: .*bad\.jsonl\.gz, line 4: malformed JSON"):
        call_command("import_preferences", str(path), "--experiment", "exp", "--format", "hh", "--split", "train", verbosity=0)
    assert_nothing_imported()


def test_a_row_without_a_split_is_refused_when_no_split_is_given(experiment, write_file):
    path = write_file("nosplit.jsonl", [{"prompt": "p", "chosen": "a", "rejected": "b"}])
    with pytest.raises(ImportFormatError, match=r"line 1: no split"):
        services.preferences_import(experiment=experiment, path=path, fmt="jsonl", split=None)
    assert_nothing_imported()
