"""Stop rating when precise enough: how many more human ratings an interval needs to reach a
target half-width, with and without the AI judge.

The rule stops on *precision*, never on significance: a round closes when the half-width of
every interval shown first is at most the target, whatever the estimates say. Because the
half-width barely depends on where the estimate lies, stopping on it leaves coverage at its
nominal level; ``tests/stats/test_stopping_on_precision_keeps_coverage...`` checks that by
simulation with a peek after every judgement.

Ratings still needed. At a fixed design (raters per item, rater pool, item mix) the crossed
interval's half-width falls as one over the square root of the ratings it uses, so with
``n`` ratings and half-width ``h`` today::

    n_target = ceil(n * (h / target)^2)          more = max(0, n_target - n)

With the AI judge the same formula is applied to the PPI++ interval's half-width (which already
counts what the judge is worth), assuming the judge keeps scoring every new item as it does now;
the difference of the two answers is the ratings the judge saves. Both are forecasts from the
data so far: the report shows them as such and recomputes them after every judgement.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ._common import Serializable

__all__ = ["MIN_PROMPTS", "PrecisionTarget", "ratings_still_needed", "precision_target", "target_met"]

#: The rule never stops before this many prompts are rated: with fewer, the two-way variance
#: rests on too few prompts, an interval that happens to come out narrow is picked by the rule
#: itself, and coverage at the stop falls below nominal (the simulation's finding).
MIN_PROMPTS = 30


def target_met(half_width: float | None, prompts: int, target: float) -> bool:
    """The stopping rule: an interval of ``half_width`` on ``prompts`` rated prompts meets ``target``."""
    return half_width is not None and prompts >= MIN_PROMPTS and half_width <= target


def ratings_still_needed(half_width: float | None, target: float, ratings: int) -> int | None:
    """Human ratings to add to the ``ratings`` behind an interval of ``half_width`` for it to
    shrink to ``target``; 0 when it already has; None when there is no interval to scale."""
    if not target > 0:
        raise ValueError(f"the target half-width must be positive, got {target!r}")
    if half_width is None or not math.isfinite(half_width) or ratings < 1:
        return None
    if half_width <= target:
        return 0
    return max(0, math.ceil(ratings * (half_width / target) ** 2) - ratings)


@dataclass(frozen=True)
class PrecisionTarget(Serializable):
    """One interval shown first, against the round's target half-width."""

    estimate: str  # e.g. "rlaif vs sft" or "harmless: rlaif"
    half_width: float | None  # of the interval shown first (human ratings only); None: not computed
    ratings: int  # human ratings (judgements) behind it
    prompts: int  # rated prompts behind it (the rule waits for MIN_PROMPTS)
    target: float
    more_ratings: int | None  # still needed, human ratings only; None: cannot tell yet
    judge_half_width: float | None = None  # of the PPI++ interval with the AI judge, where there is one
    more_with_judge: int | None = None  # still needed with the AI judge
    met: bool = False  # the human-only interval, or the PPI++ one with the judge, is at most the target


def precision_target(estimate: str, *, low: float | None, high: float | None, ratings: int, prompts: int, target: float,
                     judge_low: float | None = None, judge_high: float | None = None) -> PrecisionTarget:
    """The target row of one estimate from its interval (and its PPI++ interval, if any)."""
    half = _half(low, high)
    judge_half = _half(judge_low, judge_high)
    return PrecisionTarget(
        estimate=estimate,
        half_width=half,
        ratings=ratings,
        prompts=prompts,
        target=target,
        more_ratings=ratings_still_needed(half, target, ratings),
        judge_half_width=judge_half,
        more_with_judge=ratings_still_needed(judge_half, target, ratings) if judge_half is not None else None,
        met=any(target_met(h, prompts, target) for h in (half, judge_half)),
    )


def _half(low: float | None, high: float | None) -> float | None:
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return None
    return (high - low) / 2
