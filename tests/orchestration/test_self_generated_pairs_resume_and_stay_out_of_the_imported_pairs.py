"""Iterative RLAIF's new pairs: a policy's two answers per training prompt are stored as pairs of
their own source with no human choice; a stage claimed again after a kill makes only the pairs it
had not saved (the same ones: each answer is fixed by its seed and prompt); the experiment's
imported pairs, and a labeling run over them, do not include them, while a labeling run for that
source labels exactly them. A temperature of 0 (two equal greedy answers) is refused, writing nothing."""

from __future__ import annotations

import pytest

from pipeline.configs import LabelingConfig
from tests.orchestration.lab import import_tiny_demo
from webapp.experiments.models import PreferencePair
from webapp.pipeline.services.iterations import self_pair_source, self_pairs_create
from webapp.pipeline.services.labeling import labeling_run_create

pytestmark = pytest.mark.django_db

CONFIG = {"max_new_tokens": 6, "temperature": 1.0, "seed": 0, "batch_size": 4}


def made(source: str) -> dict[int, tuple[str, str]]:
    return {p.prompt_id: (p.candidate_1, p.candidate_2) for p in PreferencePair.with_self.filter(source=source)}


def test_pairs_are_made_once_resumed_and_kept_apart(tmp_path, tiny_model_dir):
    experiment = import_tiny_demo("selfmade", tmp_path, train=4, test=2)
    imported = list(PreferencePair.objects.filter(prompt__experiment=experiment).values_list("pk", flat=True))
    source = self_pair_source(policy="rlaif", stage_id=7)
    metrics = self_pairs_create(experiment=experiment, model_spec=str(tiny_model_dir), source=source, config=CONFIG)
    first = made(source)
    assert source == "self:rlaif@stage7" and metrics["source"] == source
    assert metrics["self_pairs/pairs"] == len(first) >= 3 and metrics["self_pairs/prompts"] == 4
    assert not PreferencePair.with_self.filter(source=source).exclude(human_choice=None).exists()

    # A kill before the last prompts' pairs were committed: claimed again, only those are made.
    lost = sorted(first)[-2:]
    PreferencePair.with_self.filter(source=source, prompt_id__in=lost).delete()
    seen = []
    self_pairs_create(experiment=experiment, model_spec=str(tiny_model_dir), source=source, config=CONFIG,
                      on_progress=seen.append)
    assert made(source) == first
    assert seen[-1].done == 4

    assert list(PreferencePair.objects.filter(prompt__experiment=experiment).values_list("pk", flat=True)) == imported
    config = LabelingConfig(task=experiment.task)
    train = PreferencePair.objects.filter(prompt__experiment=experiment, prompt__split="train").count()
    assert labeling_run_create(experiment=experiment, config=config).progress_total == train
    assert labeling_run_create(experiment=experiment, config=config, pair_source=source).progress_total == len(first)


def test_a_temperature_of_zero_is_refused_and_writes_nothing(tmp_path, tiny_model_dir):
    experiment = import_tiny_demo("greedy", tmp_path, train=4, test=2)
    with pytest.raises(ValueError, match="self_pairs.temperature is 0: two greedy answers are the same"):
        self_pairs_create(experiment=experiment, model_spec=str(tiny_model_dir), source="self:rlaif@stage1",
                          config={**CONFIG, "temperature": 0.0})
    assert not PreferencePair.with_self.filter(source="self:rlaif@stage1").exists()
