"""--force replaces a non-empty OUT_DIR with the export (and an empty OUT_DIR needs no --force)."""

import pytest
from django.conf import settings
from django.core.management import call_command
from transformers import AutoConfig

from pipeline import registry
from webapp.experiments.models import Experiment
from webapp.pipeline.models import TrainingRun

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_export_model_with_force_replaces_a_folder_in_use(tmp_path, artifact_root):
    registry.prepare(registry.DEFAULT_MODEL, artifact_root)
    base = registry.resolve(registry.DEFAULT_MODEL, settings.ARTIFACT_LOCAL).location
    experiment = Experiment.objects.create(slug="exp", name="Export", task="harmless")
    # The bundled model is what an experiment without references uses as its SFT policy.
    run = TrainingRun.objects.create(experiment=experiment, kind="sft", arm="sft", algorithm="sft", status="succeeded",
                                     model_spec=registry.DEFAULT_MODEL, checkpoint_path=base,
                                     config={"model": registry.DEFAULT_MODEL})
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("from an earlier export")
    call_command("export_model", str(run.pk), str(out), "--force")
    names = {p.name for p in out.iterdir()}
    assert "old.txt" not in names and {"model.safetensors", "README.md"} <= names
    assert AutoConfig.from_pretrained(out).architectures == ["LlamaForCausalLM"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging folder left

    empty = tmp_path / "empty"
    empty.mkdir()
    call_command("export_model", str(run.pk), str(empty))
    assert (empty / "README.md").read_text().startswith("---\nlibrary_name: transformers\n")
