"""Reward-model evaluation: pairwise accuracy on held-out human preferences (ties count as wrong)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, cast

from pipeline.progress import ProgressFn
from pipeline.reward.data import PreferencePair
from pipeline.stats import wilson_interval

if TYPE_CHECKING:
    from pipeline.reward.model import RewardModel


@dataclass
class AccuracyResult:
    """Share of held-out pairs where the RM scores the human-preferred candidate strictly higher."""

    accuracy: float
    correct: int
    n: int
    ci_low: float  # 95% Wilson interval, lower bound
    ci_high: float  # 95% Wilson interval, upper bound
    ties: int  # pairs scored exactly equal (counted as wrong)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def accuracy_from_scores(s1: Sequence[float], s2: Sequence[float], human_choice: Sequence[int]) -> AccuracyResult:
    """Ties count as wrong: an RM that cannot tell the candidates apart has not ranked them."""
    correct = ties = 0
    for a, b, choice in zip(s1, s2, human_choice, strict=True):
        if a == b:
            ties += 1
        elif (a > b) == (choice == 1):
            correct += 1
    n = len(human_choice)
    low, high = wilson_interval(correct, n)
    return AccuracyResult(correct / n if n else 0.0, correct, n, low, high, ties)


def pairwise_accuracy(rm: RewardModel, pairs: Sequence[PreferencePair], batch_size: int = 16,
                      share_prefix: bool = True, on_progress: ProgressFn | None = None) -> AccuracyResult:
    """Pairwise accuracy of ``rm`` on human-labelled pairs (pairs without a human choice are skipped)."""
    labelled = [p for p in pairs if p.human_choice in (1, 2)]
    if not labelled:
        raise ValueError("no human-labelled pairs to evaluate on")
    s1, s2 = rm.score_pairs(labelled, batch_size=batch_size, share_prefix=share_prefix, on_progress=on_progress)
    return accuracy_from_scores(s1, s2, [cast(int, p.human_choice) for p in labelled])  # filtered to 1 or 2 above
