"""export_model refuses an unknown run, one without finished weights, a reward run whose folder is
not a saved reward model, and an OUT_DIR in use; the message names the problem, nothing is written."""

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from pipeline import registry
from webapp.experiments.models import Experiment
from webapp.pipeline.models import TrainingRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def bundled_dir(artifact_root) -> str:
    """A real plain checkpoint on disk (the converted bundled model); nothing here loads it."""
    registry.prepare(registry.DEFAULT_MODEL, artifact_root)
    return registry.resolve(registry.DEFAULT_MODEL, settings.ARTIFACT_LOCAL).location


def training_run(kind: str = "sft", status: str = "succeeded", checkpoint_path: str = "") -> TrainingRun:
    experiment, _ = Experiment.objects.get_or_create(slug="exp", defaults={"name": "Export", "task": "harmless"})
    return TrainingRun.objects.create(experiment=experiment, kind=kind, arm=kind, model_spec="smollm2-135m-instruct",
                                      status=status, checkpoint_path=checkpoint_path)


def refused(run_id: int, out, *, match: str) -> None:
    with pytest.raises(CommandError, match=match) as caught:
        call_command("export_model", str(run_id), str(out))
    assert "nothing was written" in str(caught.value)


def test_an_unknown_run_is_refused(tmp_path):
    refused(424242, tmp_path / "out", match="no training run #424242")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("status", ["pending", "running", "failed", "cancelled"])
def test_a_run_that_has_not_finished_is_refused(tmp_path, bundled_dir, status):
    run = training_run(status=status, checkpoint_path=bundled_dir)
    refused(run.pk, tmp_path / "out", match=rf"training run #{run.pk} has not finished \(status: {status}\)")
    assert list(tmp_path.iterdir()) == []


def test_a_finished_run_without_weights_is_refused(tmp_path):
    empty = training_run(checkpoint_path="")
    refused(empty.pk, tmp_path / "out", match=f"training run #{empty.pk} recorded no weights")
    gone = training_run(checkpoint_path=str(tmp_path / "deleted" / "final"))
    refused(gone.pk, tmp_path / "out", match=f"training run #{gone.pk}: its weights are missing, no checkpoint at")
    assert list(tmp_path.iterdir()) == []


def test_a_reward_run_whose_folder_is_not_a_saved_reward_model_is_refused(tmp_path, bundled_dir):
    run = training_run(kind="reward", checkpoint_path=bundled_dir)
    refused(run.pk, tmp_path / "out", match="is not a saved reward model")
    assert list(tmp_path.iterdir()) == []


def test_an_out_dir_in_use_is_refused_and_left_as_it_was(tmp_path, bundled_dir):
    run = training_run(checkpoint_path=bundled_dir)
    used = tmp_path / "used"
    used.mkdir()
    (used / "notes.txt").write_text("keep me")
    refused(run.pk, used, match=rf"{used} exists and is not empty \(use --force to replace it\)")
    a_file = tmp_path / "a-file"
    a_file.write_text("keep me too")
    refused(run.pk, a_file, match=f"{a_file} exists and is not a folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "used"]
    assert [p.name for p in used.iterdir()] == ["notes.txt"] and a_file.read_text() == "keep me too"
