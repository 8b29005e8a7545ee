"""A small labelled world: an experiment with four pairs and a labeling run over them."""

from __future__ import annotations

import pytest

from webapp.experiments.models import Experiment, PreferencePair, Prompt
from webapp.pipeline.models import AILabel, LabelingRun

# (p_order1, p_order2, human_choice): p is their mean; the third pair is an exact tie.
LABELS = [(0.9, 0.7, 1), (0.2, 0.4, 1), (0.5, 0.5, 2), (0.35, None, None)]


@pytest.fixture
def labelled_run(db) -> LabelingRun:
    experiment = Experiment.objects.create(slug="exp", name="Export", task="harmless")
    run = LabelingRun.objects.create(experiment=experiment, model_spec="smollm2-135m-instruct", status="succeeded",
                                     config={"preamble": "base", "shots": 0, "swap": True})
    for i, (p1, p2, human) in enumerate(LABELS):
        prompt = Prompt.objects.create(experiment=experiment, split="train", context=f"Human: question {i}?",
                                       content_hash=Prompt.hash_for(f"q{i}"))
        pair = PreferencePair.objects.create(prompt=prompt, candidate_1=f"first {i}", candidate_2=f"second {i}",
                                             human_choice=human, content_hash=PreferencePair.hash_for(f"a{i}", f"b{i}"))
        p = p1 if p2 is None else (p1 + p2) / 2
        AILabel.objects.create(run=run, pair=pair, p_order1=p1, p_order2=p2, p=p, label_mass=0.8)
    return run
