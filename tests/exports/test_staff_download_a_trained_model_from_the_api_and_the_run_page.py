"""Staff with the runs permission download a training run's exported model as a zip or tar.gz; a
bad request is refused with the problem named; the run page links the downloads."""

from __future__ import annotations

import tarfile
import zipfile

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

from pipeline import registry
from webapp.experiments.models import Experiment
from webapp.pipeline.models import PipelineRun, PipelineStage, TrainingRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(db) -> Client:
    client = Client()
    client.force_login(User.objects.create_user("boss", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def sft_run(db, artifact_root) -> TrainingRun:
    """The bundled model as the SFT stage of an experiment without references (a real checkpoint)."""
    registry.prepare(registry.DEFAULT_MODEL, artifact_root)
    experiment = Experiment.objects.create(slug="exp", name="Export", task="harmless")
    return TrainingRun.objects.create(
        experiment=experiment, kind="sft", arm="sft", algorithm="sft", status="succeeded", model_spec=registry.DEFAULT_MODEL,
        checkpoint_path=registry.resolve(registry.DEFAULT_MODEL, settings.ARTIFACT_LOCAL).location,
        config={"model": registry.DEFAULT_MODEL})


def download(client: Client, url: str, to) -> None:
    response = client.get(url)
    assert response.status_code == 200, response.content[:300]
    with open(to, "wb") as handle:
        for chunk in response.streaming_content:
            handle.write(chunk)


@pytest.mark.slow
def test_both_archives_download_one_model_folder(client, sft_run, tmp_path):
    folder = f"training-run-{sft_run.pk}-model"
    download(client, f"/api/training-runs/{sft_run.pk}/model.tar.gz", tmp_path / "m.tar.gz")
    with tarfile.open(tmp_path / "m.tar.gz") as archive:
        names = set(archive.getnames())
    download(client, f"/api/training-runs/{sft_run.pk}/model.zip", tmp_path / "m.zip")
    with zipfile.ZipFile(tmp_path / "m.zip") as archive:
        zipped = {name.rstrip("/") for name in archive.namelist()}
    for found in (names, zipped):
        assert {f"{folder}/README.md", f"{folder}/config.json", f"{folder}/model.safetensors", f"{folder}/tokenizer.json"} <= found


def test_bad_requests_name_the_problem(client, sft_run):
    bad = client.get(f"/api/training-runs/{sft_run.pk}/model.rar")
    assert bad.status_code == 400 and "archive must be one of zip, tar.gz" in bad.json()["detail"]
    unknown = client.get("/api/training-runs/999/model.zip")
    assert unknown.status_code == 404 and unknown.json()["detail"] == "no training run #999"
    TrainingRun.objects.filter(pk=sft_run.pk).update(status="running")
    running = client.get(f"/api/training-runs/{sft_run.pk}/model.zip")
    assert running.status_code == 400 and "has not finished (status: running)" in running.json()["detail"]


def test_others_are_refused(sft_run):
    client = Client()
    client.force_login(User.objects.create_user("rater", is_staff=False))
    assert client.get(f"/api/training-runs/{sft_run.pk}/model.zip").status_code == 403


def test_the_run_page_links_the_downloads(client, sft_run):
    run = PipelineRun.objects.create(experiment=sft_run.experiment, arms=["rlaif"], status="succeeded")
    PipelineStage.objects.create(pipeline=run, experiment=run.experiment, name="sft", kind="sft", fingerprint="f" * 64,
                                 status="succeeded", model_spec="m", training_run=sft_run)
    page = client.get(f"/experiments/{run.experiment.slug}/runs/{run.pk}/").content.decode()
    for archive in ("zip", "tar.gz"):
        assert f'href="/api/training-runs/{sft_run.pk}/model.{archive}"' in page
