"""The exported AI labels train as they are: loaded with ``datasets.load_dataset``, TRL's
RewardTrainer and DPOTrainer each take one optimizer step on them with the bundled SmolLM2-135M
(tiny lengths: the point is that the format fits, not what is learnt). Nothing is downloaded."""

from __future__ import annotations

import math

import pytest
import torch
from django.core.management import call_command

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture
def exported(labelled_run, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    from datasets import load_dataset

    call_command("export_labels", labelled_run.pk, str(tmp_path / "labels.jsonl"), verbosity=0)
    dataset = load_dataset("json", data_files=str(tmp_path / "labels.jsonl"), split="train", cache_dir=str(tmp_path / "cache"))
    return dataset.select_columns(["prompt", "chosen", "rejected"])


@pytest.fixture
def model_dir(bundled_lm, artifact_root) -> str:
    from pipeline import registry

    torch.set_num_threads(1)
    return registry.resolve(registry.DEFAULT_MODEL, artifact_root).location


def settings(tmp_path) -> dict:
    return dict(output_dir=str(tmp_path / "trl"), max_steps=1, per_device_train_batch_size=2, max_length=48,
                report_to=[], save_strategy="no", logging_steps=1, use_cpu=True, dataloader_num_workers=0)


def test_one_reward_trainer_step(exported, model_dir, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=1)
    model.config.pad_token_id = tokenizer.pad_token_id
    trainer = RewardTrainer(model=model, args=RewardConfig(**settings(tmp_path)), train_dataset=exported, processing_class=tokenizer)
    result = trainer.train()
    assert trainer.state.global_step == 1 and math.isfinite(result.training_loss)


def test_one_dpo_trainer_step(exported, model_dir, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    trainer = DPOTrainer(model=model, args=DPOConfig(**settings(tmp_path)), train_dataset=exported, processing_class=tokenizer)
    result = trainer.train()
    assert trainer.state.global_step == 1 and math.isfinite(result.training_loss)
