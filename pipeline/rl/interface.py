"""What every policy trainer shares: the RL algorithm names, the reward function's shape and the result.

The RL config itself is ``pipeline.configs.RLConfig``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline import arms

ALGORITHMS = tuple(arms.ALGORITHMS)  # declared, with what each is, in pipeline.arms

RewardFn = Callable[[list[str], list[str]], list[float]]
"""reward_fn(contexts, responses) -> one float per response (an RM's score or a direct 1-10 score in [-1, 1])."""


@dataclass
class PolicyResult:
    """What a policy-training run (RL, DPO or SFT) produced."""

    out_dir: Path
    model_path: Path  # a plain transformers checkpoint (LoRA merged): registry.load_causal_lm(str(model_path), ...)
    steps: int  # optimizer steps in total (across restarts)
    resumed_from: int  # step the run continued from (0 = fresh)
    algorithm: str
    metrics: dict[str, float] = field(default_factory=dict)  # last logged values
    tokens_per_second: float = 0.0  # generated tokens per second of this call (RL only)

    def to_dict(self) -> dict[str, Any]:
        return {"out_dir": str(self.out_dir), "model_path": str(self.model_path), "steps": self.steps,
                "resumed_from": self.resumed_from, "algorithm": self.algorithm, "metrics": self.metrics,
                "tokens_per_second": self.tokens_per_second}
