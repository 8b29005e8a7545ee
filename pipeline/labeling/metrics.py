"""How good an AI labeler is, measured against human labels (numpy/scipy only).

Conventions. p is P(candidate 1 preferred) from the AI; human is 1 or 2. The AI's hard choice
is 1 when p > 0.5, 2 when p < 0.5, and *none* when p == 0.5 exactly: a tie never counts as
aligned (it picks no candidate), so a labeler that always says 0.5 scores 0, not 50 %.

    alignment  z_acc = (1/D) sum_j 1[argmax P_AI_j = human_j]   (SPEC.md §4), Wilson 95 % CI
    position bias  position-1 rate = share of single-order judgements that chose whatever
                   candidate was shown first (order 1: p_order1 > 0.5; order 2: p_order2 < 0.5,
                   since p_order2 is already mapped back to candidate 1; a tie chose neither
                   position, so it counts as not position 1); order disagreement =
                   share of swapped pairs whose two orders pick different candidates (a tie in
                   either order counts as disagreeing unless both tie)
    label mass     mean share of next-token probability that went to the answer tokens
    calibration    confidence max(p, 1 - p) in equal-width bins over [0.5, 1]: per bin the count,
                   the mean confidence and the rate of agreement with the human label
    copy rate      share of swapped pairs answered like the prompt's last few-shot exemplar in
                   both orders (``calibration.copy_rate``): the two orders ask for opposite
                   answers, so only copying gives the same one twice
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

import numpy as np

from pipeline.labeling.calibration import copy_rate
from pipeline.stats import wilson_interval

if TYPE_CHECKING:
    from _typeshed import DataclassInstance  # every _Result subclass is a dataclass


def choice(p: float) -> int | None:
    """The AI's hard choice: 1, 2, or None for an exact tie."""
    return 1 if p > 0.5 else 2 if p < 0.5 else None


class _Result:
    def to_dict(self) -> dict:
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(cast("DataclassInstance", self))}


def _plain(value: object) -> object:
    """``value`` as JSON holds it: results as dicts, numpy numbers as Python's, NaN as None."""
    if isinstance(value, _Result):  # every dataclass in these results is one
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


@dataclass
class Alignment(_Result):
    n: int
    aligned: int
    z_acc: float
    ci_low: float
    ci_high: float
    ties: int  # pairs with p == 0.5 exactly (counted as not aligned)


def alignment(p: Sequence[float], human: Sequence[int], confidence: float = 0.95) -> Alignment:
    """z_acc of the AI's hard choices against human choices (1 or 2), with a Wilson interval."""
    if len(p) != len(human):
        raise ValueError("p and human must have the same length")
    picks = [choice(x) for x in p]
    aligned = sum(1 for a, h in zip(picks, human) if a is not None and a == h)
    n = len(picks)
    low, high = wilson_interval(aligned, n, confidence)
    return Alignment(n, aligned, aligned / n if n else math.nan, low, high, sum(a is None for a in picks))


@dataclass
class PositionBias(_Result):
    judgements: int  # single-order judgements counted
    position1: int  # of those, how many chose the candidate shown first
    position1_rate: float
    swapped_pairs: int  # pairs scored in both orders
    disagreeing_pairs: int
    order_disagreement: float | None  # None when no pair was scored in both orders


def position_bias(p_order1: Sequence[float], p_order2: Sequence[float | None]) -> PositionBias:
    """Position-1 rate over every single-order judgement, and the two orders' disagreement rate."""
    judgements = position1 = swapped = disagree = 0
    for a, b in zip(p_order1, p_order2):
        judgements += 1
        position1 += a > 0.5
        if b is not None:
            judgements += 1
            position1 += b < 0.5  # candidate 1 was shown second, so position 1 = candidate 2
            swapped += 1
            disagree += choice(a) != choice(b)
    return PositionBias(
        judgements,
        position1,
        position1 / judgements if judgements else math.nan,
        swapped,
        disagree,
        disagree / swapped if swapped else None,
    )


@dataclass
class CalibrationBin(_Result):
    low: float
    high: float
    count: int
    mean_confidence: float  # nan when empty
    agreement: float  # share of the bin's pairs whose AI choice equals the human's; nan when empty


def calibration(p: Sequence[float], human: Sequence[int], bins: int = 5) -> list[CalibrationBin]:
    """Confidence max(p, 1-p) in ``bins`` equal bins over [0.5, 1] (the last one closed)."""
    conf = np.maximum(np.asarray(p, dtype=float), 1 - np.asarray(p, dtype=float))
    hit = np.array([choice(x) == h for x, h in zip(p, human)], dtype=float)
    edges = np.linspace(0.5, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, bins - 1)
    table = []
    for i in range(bins):
        inside = which == i
        count = int(inside.sum())
        table.append(
            CalibrationBin(
                float(edges[i]),
                float(edges[i + 1]),
                count,
                float(conf[inside].mean()) if count else math.nan,
                float(hit[inside].mean()) if count else math.nan,
            )
        )
    return table


@dataclass
class LabelingMetrics(_Result):
    """Everything a labeling run reports against human labels."""

    alignment: Alignment
    alignment_single_order: Alignment  # order 1 only: what alignment would be without the swap
    position_bias: PositionBias
    label_mass: float
    calibration: list[CalibrationBin] = field(default_factory=list)
    copy_rate: float | None = None  # pairs answered like the last exemplar in both orders; None without exemplars


def evaluate(labels: Sequence, human: Sequence[int], bins: int = 5, last_exemplar_answer: int | None = None) -> LabelingMetrics:
    """Metrics of labels (anything with p, p_order1, p_order2, label_mass: e.g. PairLabel).
    ``last_exemplar_answer``: the answer (1 or 2) of the prompt's last few-shot exemplar, for the
    copy rate (``calibration.copy_rate``); None for a 0-shot prompt."""
    p = [x.p for x in labels]
    copied = (None if last_exemplar_answer is None
              else copy_rate([x.p_order1 for x in labels], [x.p_order2 for x in labels], last_exemplar_answer))
    return LabelingMetrics(
        alignment=alignment(p, human),
        alignment_single_order=alignment([x.p_order1 for x in labels], human),
        position_bias=position_bias([x.p_order1 for x in labels], [x.p_order2 for x in labels]),
        label_mass=float(np.mean([x.label_mass for x in labels])) if labels else math.nan,
        calibration=calibration(p, human, bins),
        copy_rate=copied,
    )
