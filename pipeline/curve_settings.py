"""The settings of a reward-model curve (the paper's Figure 5), checked in one place for every
door that starts one: ``rm_curve``, ``run_experiment --reward-curve`` and the run form.

Plain Python (no torch, no Django): the planner and the run form check with it before anything
is created, so a bad size or label source starts nothing.

    check_sizes(["50", "100", "200"], train_pairs=400) -> (50, 100, 200)
    check_labels(["human", "ai"]) -> ("human", "ai")
"""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.label_sources import LabelSource

# A reward model needs a pair with each outcome to learn anything: fewer than two cannot.
SMALLEST = 2
LABEL_HINT = "use human, ai[:RUN_ID] or mixed:SHARE"


class CurveSettingError(ValueError):
    """A bad curve setting. ``setting`` ("sizes" or "labels") says which; each caller names it in
    its own words (``--sizes``, ``--curve-sizes``, the form's field) before the same message."""

    def __init__(self, setting: str, message: str):
        super().__init__(message)
        self.setting = setting


def check_sizes(values: Iterable[object], *, train_pairs: int | None = None) -> tuple[int, ...]:
    """The sizes as numbers of training pairs: whole numbers of at least 2, strictly increasing
    (the subsets are nested, so each size adds pairs to the one before), the largest no more
    than ``train_pairs`` (None: not checked here)."""
    sizes: list[int] = []
    for value in values:
        text = str(value).strip()
        n = int(text) if text.lstrip("-").isdigit() else None
        if n is None or n < SMALLEST:
            raise CurveSettingError("sizes", f"{text!r} is not a size: give numbers of training pairs, each at least {SMALLEST}")
        if sizes and n <= sizes[-1]:
            raise CurveSettingError("sizes", f"{n} after {sizes[-1]}: give the sizes in increasing order, each once")
        sizes.append(n)
    if not sizes:
        raise CurveSettingError("sizes", "give at least one size (a number of training pairs)")
    if train_pairs is not None and sizes[-1] > train_pairs:
        raise CurveSettingError("sizes", f"{sizes[-1]} is more than the experiment's {train_pairs} training pairs")
    return tuple(sizes)


def check_labels(values: Iterable[object], *, pinned: bool = True) -> tuple[str, ...]:
    """The label sources, one curve each, in the order given and once each: ``human``, ``ai``,
    ``ai:RUN_ID`` (a labeling run's labels; ``pinned=False`` refuses it, for a pipeline whose
    curve uses the run's own AI labels) or ``mixed:SHARE`` (SHARE of the pairs human-labelled)."""
    labels: list[str] = []
    for value in values:
        text = str(value).strip()
        kind, colon, arg = text.partition(":")
        if kind == "ai" and arg and not pinned:
            raise CurveSettingError("labels", f"{text!r}: a pipeline's curve trains on the AI labels of its own run; write ai")
        if not _known(text):
            raise CurveSettingError("labels", f"unknown label source {text!r}: {LABEL_HINT}")
        if text not in labels:
            labels.append(text)
    if not labels:
        raise CurveSettingError("labels", f"give at least one label source: {LABEL_HINT}")
    return tuple(labels)


def _known(text: str) -> bool:
    """A label source ``LabelSource`` reads, naming something after any colon, and a labeling run
    by its id."""
    kind, colon, arg = text.partition(":")
    if colon and not arg:
        return False
    if kind == "ai" and arg and not arg.isdigit():
        return False
    try:
        LabelSource.parse(text)
    except ValueError:
        return False
    return True
