"""Reward-model curves (the paper's Figure 5): the one way a curve's run is checked and created,
whether ``rm_curve`` asks for it or a pipeline's ``reward-curve`` stage does.

A curve is a reward TrainingRun (arm ``rm-curve``) whose config carries the sizes; executing it
(``training.training_run_execute``) trains one model per size on nested subsets and stores
``reward/accuracy_vs_pairs``, which the alignment dashboard and the paper page draw.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from pipeline.curve_settings import CurveSettingError, check_labels, check_sizes
from webapp.experiments.models import Experiment, PreferencePair
from webapp.experiments.selectors import split_has_human_labels
from webapp.pipeline.models import LabelingRun, TrainingRun

if TYPE_CHECKING:
    from pipeline.configs import RewardConfig

CURVE_ARM = "rm-curve"  # what the reports and the tests find a curve's runs by


def reward_curve_data_problem(experiment: Experiment) -> str:
    """Why the experiment cannot have a curve ("" when it can): every point is measured on the
    test split's human labels, so it needs some."""
    if split_has_human_labels(experiment, "test"):
        return ""
    return f"{experiment.slug} has no human-labelled test pairs to measure the reward-model curve on"


def reward_curve_check(*, experiment: Experiment, sizes, labels, pinned: bool = True) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """The sizes and label sources, refused (``CurveSettingError``) unless the experiment has
    training pairs for the largest size and human-labelled test pairs; the same rule as the
    planner's, so every door says the same."""
    problem = reward_curve_data_problem(experiment)
    if problem:
        raise CurveSettingError("experiment", problem)
    available = PreferencePair.objects.filter(prompt__experiment=experiment, prompt__split="train").count()
    return check_sizes(sizes, train_pairs=available), check_labels(labels, pinned=pinned)


def reward_curve_create(
    *, experiment: Experiment, label_source: str, sizes, config: RewardConfig, labeling_run: LabelingRun | None = None,
) -> TrainingRun:
    """One line of Figure 5: a reward run on ``label_source`` that trains a model per size.
    ``labeling_run`` pins the AI labels (a pipeline's own); without it an ``ai`` source takes
    the experiment's latest finished labeling of the training pairs."""
    from webapp.pipeline.services import training  # torch: only where a run is made, never on import (the web side)

    checked, (source,) = reward_curve_check(experiment=experiment, sizes=sizes, labels=[label_source])
    return training.reward_run_create(experiment=experiment, label_source=source, config=replace(config, curve_sizes=checked),
                                      arm=CURVE_ARM, labeling_run=labeling_run)
