"""The README.md of an exported model: hub front matter, then the base model, arm, algorithm, the
AI labels it learnt from (labeling run, labeler and its config), the stage config and metrics."""

import pytest
import yaml
from django.core.management import call_command

from webapp.experiments.models import PreferencePair
from webapp.pipeline.models import AILabel, LabelingRun

from .conftest import trained_run

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_an_exported_model_card_names_base_model_arm_algorithm_and_metrics(demo, capsys, tmp_path):
    labeling = LabelingRun.objects.create(experiment=demo, model_spec="smollm2-135m-instruct", status="succeeded",
                                          config={"preamble": "base", "shots": 0, "swap": True})
    train = PreferencePair.objects.filter(prompt__experiment=demo, prompt__split="train").order_by("id")
    for i, pair in enumerate(train):
        p = 0.8 if i % 2 else 0.3
        AILabel.objects.create(run=labeling, pair=pair, p_order1=p, p_order2=p, p=p, label_mass=0.9)
    policy = trained_run(capsys, "train_policy", "--arm", "dpo-ai", "--steps", "1", "--batch-size", "2")
    assert policy.labeling_run == labeling and policy.metrics

    out = tmp_path / "card"
    call_command("export_model", str(policy.pk), str(out))
    card = (out / "README.md").read_text()

    _, front, body = card.split("---\n", 2)
    meta = yaml.safe_load(front)
    assert meta["library_name"] == "transformers"
    assert meta["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert {"dpo", "dpo-ai", "policy"} <= set(meta["tags"])
    assert meta["pipeline_tag"] == "text-generation"

    assert "**Base model:** smollm2-135m-instruct" in body
    assert "**Arm:** dpo-ai" in body and "**Algorithm:** dpo" in body and "**Experiment:** demo" in body
    assert f'"id": {labeling.pk}' in body and '"labeler": "smollm2-135m-instruct"' in body
    assert f'"ai_labels": {train.count()}' in body and '"preamble": "base"' in body
    assert f'"train_pairs": {train.count()}' in body
    for key, value in policy.metrics.items():
        assert f"| {key} | {value} |" in body
    assert "AutoModelForCausalLM.from_pretrained" in body
