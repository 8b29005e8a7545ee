"""The reward model's learning curve (the paper's Figure 5): accuracy after training on n pairs.

Kept apart from ``evaluate`` because it trains: ``train`` needs ``evaluate`` for the accuracy it
reports, and the curve needs ``train``, so the curve sits above both.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.configs import RewardConfig
from pipeline.progress import Progress, ProgressFn
from pipeline.reward.data import PreferenceExample, PreferencePair
from pipeline.reward.evaluate import AccuracyResult
from pipeline.reward.train import train_reward_model
from pipeline.runfiles import MetricsFn


@dataclass
class CurvePoint:
    """One point of the paper's Figure 5: RM accuracy after training on ``n`` pairs."""

    n: int
    accuracy: AccuracyResult
    model_path: str

    def to_dict(self) -> dict[str, Any]:
        return {"n": self.n, "accuracy": self.accuracy.to_dict(), "model_path": self.model_path}


def accuracy_vs_train_size(
    config: RewardConfig,
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
    ``on_progress`` counts finished sizes (``done``/``total``: models), and passes on what the
    model of the size in training reports as its phase (steps, evaluated pairs), so a caller's
    heartbeat and cancel check keep running during a long model; ``on_metrics(n, {...})``
    reports each point.
    """
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    points = []
    wanted = sorted(set(min(n, len(examples)) for n in sizes))
    for done, n in enumerate(wanted, start=1):
        subset = [examples[i] for i in order[:n]]

        def inner(report: Progress, finished: int = done - 1) -> None:
            if on_progress:
                on_progress(Progress(finished, len(wanted), report.phase, report.phase_done, report.phase_total))

        result = train_reward_model(config, subset, Path(out_dir) / f"n-{n}", artifact_root=artifact_root,
                                    eval_pairs=eval_pairs, on_progress=inner)
        assert result.accuracy is not None
        points.append(CurvePoint(n, result.accuracy, str(result.model_path)))
        if on_metrics:
            on_metrics(n, {"reward/accuracy": result.accuracy.accuracy, "reward/accuracy_low": result.accuracy.ci_low,
                           "reward/accuracy_high": result.accuracy.ci_high})
        if on_progress:
            on_progress(Progress.durable(done, len(wanted), "training"))
    return points
