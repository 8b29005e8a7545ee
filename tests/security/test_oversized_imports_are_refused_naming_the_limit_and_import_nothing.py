"""Each import limit refuses with a message naming its setting (and the file and line where a
line is at fault), and nothing is written: the upload size, the data after decompression, the
line length; a file of blank lines is refused as empty."""

import gzip
import json

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from pipeline.data import ImportFormatError
from webapp.experiments import services
from webapp.experiments.models import Experiment, PreferencePair, Prompt

pytestmark = pytest.mark.django_db


def hh_line(number: int) -> bytes:
    context = f"\n\nHuman: Question number {number}?"
    row = {"chosen": f"{context}\n\nAssistant: A careful answer.", "rejected": f"{context}\n\nAssistant: A careless one."}
    return json.dumps(row).encode() + b"\n"


@pytest.fixture
def experiment():
    return Experiment.objects.create(slug="exp", name="An experiment", task="harmless")


def import_file(experiment, path):
    return services.preferences_import(experiment=experiment, path=path, fmt="hh", split="train")


def refusal(experiment, path) -> ImportFormatError:
    with pytest.raises(ImportFormatError) as caught:
        import_file(experiment, path)
    assert PreferencePair.objects.count() == 0 and Prompt.objects.count() == 0
    return caught.value


def test_a_line_longer_than_the_limit_names_the_file_the_line_and_the_setting(experiment, tmp_path, settings):
    settings.IMPORT_MAX_LINE_BYTES = 1000
    path = tmp_path / "long.jsonl"
    path.write_bytes(hh_line(1) + hh_line(2) + b'{"chosen": "' + b"x" * 5000 + b'"}\n' + hh_line(4))
    error = refusal(experiment, path)
    assert str(error) == f"{path}, line 3: the line is longer than 1000 bytes (the limit set by IMPORT_MAX_LINE_BYTES)"


def test_a_line_that_never_ends_is_refused_without_reading_it_whole(experiment, tmp_path, settings):
    settings.IMPORT_MAX_LINE_BYTES = 64 * 1024
    path = tmp_path / "endless.jsonl.gz"
    path.write_bytes(gzip.compress(b"{" * 50_000_000, compresslevel=9))  # 50 MB, no line end
    error = refusal(experiment, path)
    assert error.line == 1 and "longer than 64 KiB (the limit set by IMPORT_MAX_LINE_BYTES)" in str(error)


def test_data_beyond_the_decompressed_limit_stops_a_gzip_bomb(experiment, tmp_path, settings):
    settings.IMPORT_MAX_DECOMPRESSED_BYTES = 5 * 1024 * 1024
    path = tmp_path / "bomb.jsonl.gz"
    path.write_bytes(gzip.compress(hh_line(1) + b"\n" * 10_000_000 + hh_line(2), compresslevel=9))
    error = refusal(experiment, path)
    assert error.line is None
    assert str(error) == (
        f"{path}: more than 5 MiB of data after decompression (the limit set by IMPORT_MAX_DECOMPRESSED_BYTES)"
    )


def test_an_uncompressed_file_beyond_the_limit_is_refused_too(experiment, tmp_path, settings):
    settings.IMPORT_MAX_DECOMPRESSED_BYTES = 10_000
    path = tmp_path / "big.jsonl"
    path.write_bytes(b"".join(hh_line(n) for n in range(200)))
    assert "more than 9.77 KiB of data (the limit set by IMPORT_MAX_DECOMPRESSED_BYTES)" in str(refusal(experiment, path))


def test_a_gzip_of_blank_lines_is_refused_as_empty(experiment, tmp_path):
    path = tmp_path / "blank.jsonl.gz"
    path.write_bytes(gzip.compress(b"\n \r\n" * 3_000_000, compresslevel=9))
    assert str(refusal(experiment, path)) == f"{path}: the file is empty"


def test_blank_lines_between_records_keep_the_line_numbers(experiment, tmp_path):
    path = tmp_path / "gaps.jsonl.gz"
    path.write_bytes(gzip.compress(b"\n" * 2_000_000 + hh_line(1) + b"\n" * 5 + b"{broken\n"))
    assert refusal(experiment, path).line == 2_000_007


def test_the_admin_refuses_an_upload_over_the_limit_naming_the_setting(client, experiment, settings):
    settings.IMPORT_MAX_UPLOAD_BYTES = 1024
    client.force_login(User.objects.create_user("staff", password="pw-staff-123", is_staff=True, is_superuser=True))
    upload = SimpleUploadedFile("big.jsonl", b"".join(hh_line(n) for n in range(20)))
    response = client.post(
        reverse("admin:experiments_experiment_import", args=[experiment.pk]),
        {"file": upload, "format": "hh", "split": "train", "seed": 0},
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "Nothing was imported. big.jsonl is larger than the upload limit of 1 KiB (IMPORT_MAX_UPLOAD_BYTES)." in page
    assert PreferencePair.objects.count() == 0


def test_the_upload_handler_stops_storing_a_file_past_the_limit(rf, settings):
    # The file is skipped as it arrives, before a view or form sees it: no disk fills up.
    settings.IMPORT_MAX_UPLOAD_BYTES = 1024
    request = rf.post("/", {"file": SimpleUploadedFile("big.jsonl", b"x" * 100_000), "format": "hh"})
    assert "file" not in request.FILES and request.POST["format"] == "hh"
    assert request.refused_uploads == {"file": "big.jsonl"}
    small = rf.post("/", {"file": SimpleUploadedFile("small.jsonl", b"x" * 1000)})
    assert small.FILES["file"].size == 1000 and not hasattr(small, "refused_uploads")
