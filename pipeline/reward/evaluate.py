"""Reward-model evaluation: pairwise accuracy on held-out human preferences, and its learning curve."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from pipeline.progress import Progress, ProgressFn
from pipeline.reward.data import PreferenceExample, PreferencePair
from pipeline.runfiles import MetricsFn
from pipeline.stats import wilson_interval

if TYPE_CHECKING:  # imported lazily at run time (train imports this module)
    from pipeline.reward.model import RewardModel
    from pipeline.configs import RewardConfig


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


def pairwise_accuracy(rm: "RewardModel", pairs: Sequence[PreferencePair], batch_size: int = 16,
                      share_prefix: bool = True, on_progress: ProgressFn | None = None) -> AccuracyResult:
    """Pairwise accuracy of ``rm`` on human-labelled pairs (pairs without a human choice are skipped)."""
    labelled = [p for p in pairs if p.human_choice in (1, 2)]
    if not labelled:
        raise ValueError("no human-labelled pairs to evaluate on")
    s1, s2 = rm.score_pairs(labelled, batch_size=batch_size, share_prefix=share_prefix, on_progress=on_progress)
    return accuracy_from_scores(s1, s2, [p.human_choice for p in labelled])


@dataclass
class CurvePoint:
    """One point of the paper's Figure 5: RM accuracy after training on ``n`` pairs."""

    n: int
    accuracy: AccuracyResult
    model_path: str

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "accuracy": self.accuracy.to_dict(), "model_path": self.model_path}


def accuracy_vs_train_size(
    config: "RewardConfig",
    examples: Sequence[PreferenceExample],
    eval_pairs: Sequence[PreferencePair],
    sizes: Sequence[int],
    out_dir: str | Path,
    *,
    artifact_root: str | Path,
    seed: int = 0,
    on_progress: ProgressFn | None = None,
    on_metrics: MetricsFn | None = None,
) -> list[CurvePoint]:
    """Train one RM per size on *nested* subsets (the first n of one seeded shuffle) and evaluate each.

    Nesting means a larger set only adds pairs, so the curve shows the effect of more data rather
    than of a different sample. Each size trains in ``out_dir/n-<size>`` (resumable like any run).
    ``on_progress`` counts finished sizes; ``on_metrics(n, {...})`` reports each point.
    """
    from pipeline.reward.train import train_reward_model

    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    points = []
    wanted = sorted(set(min(n, len(examples)) for n in sizes))
    for done, n in enumerate(wanted, start=1):
        subset = [examples[i] for i in order[:n]]
        result = train_reward_model(config, subset, Path(out_dir) / f"n-{n}", artifact_root=artifact_root,
                                    eval_pairs=eval_pairs)
        assert result.accuracy is not None
        points.append(CurvePoint(n, result.accuracy, str(result.model_path)))
        if on_metrics:
            on_metrics(n, {"reward/accuracy": result.accuracy.accuracy, "reward/accuracy_low": result.accuracy.ci_low,
                           "reward/accuracy_high": result.accuracy.ci_high})
        if on_progress:
            on_progress(Progress.durable(done, len(wanted), "training"))
    return points
