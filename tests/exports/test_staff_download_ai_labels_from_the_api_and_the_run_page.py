"""Staff with the runs permission download a labeling run's AI labels from the API, in each
format; a bad request is refused with the problem named; the run page links the downloads."""

from __future__ import annotations

import io
import json
import zipfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.contrib.auth.models import User
from django.test import Client

from webapp.pipeline.models import PipelineRun, PipelineStage

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(db) -> Client:
    client = Client()
    client.force_login(User.objects.create_user("boss", is_staff=True, is_superuser=True))
    return client


def test_each_format_downloads(client, labelled_run):
    base = f"/api/labeling-runs/{labelled_run.pk}/labels"
    jsonl = b"".join(client.get(f"{base}.jsonl?ties=keep").streaming_content)
    assert len(jsonl.splitlines()) == 4
    assert json.loads(jsonl.splitlines()[0])["chosen"] == "first 0"
    parquet = pq.read_table(pa.BufferReader(b"".join(client.get(f"{base}.parquet").streaming_content)))
    assert parquet.column("chosen").to_pylist() == ["first 0", "second 1", "second 3"]
    archive = zipfile.ZipFile(io.BytesIO(b"".join(client.get(f"{base}.hf").streaming_content)))
    assert "dataset_info.json" in archive.namelist()


def test_bad_requests_name_the_problem(client, labelled_run):
    bad_format = client.get(f"/api/labeling-runs/{labelled_run.pk}/labels.xlsx")
    assert bad_format.status_code == 400 and "format must be one of" in bad_format.json()["detail"]
    bad_ties = client.get(f"/api/labeling-runs/{labelled_run.pk}/labels.jsonl?ties=maybe")
    assert bad_ties.status_code == 400 and "ties must be one of" in bad_ties.json()["detail"]
    unknown = client.get("/api/labeling-runs/999/labels.jsonl")
    assert unknown.status_code == 404 and unknown.json()["detail"] == "no labeling run #999"


def test_the_run_page_links_the_downloads(client, labelled_run):
    run = PipelineRun.objects.create(experiment=labelled_run.experiment, arms=["rlaif"], status="succeeded")
    PipelineStage.objects.create(pipeline=run, experiment=run.experiment, name="ai-labels", kind="labeling", fingerprint="f" * 64,
                                 status="succeeded", model_spec="m", labeling_run=labelled_run)
    page = client.get(f"/experiments/{run.experiment.slug}/runs/{run.pk}/").content.decode()
    for fmt in ("jsonl", "parquet", "hf"):
        assert f'href="/api/labeling-runs/{labelled_run.pk}/labels.{fmt}"' in page
