"""Policy RL: the paper's REINFORCE with a value baseline and KL to SFT, PPO in the same loop, or TRL's RLOO / GRPO.

Plain Python; never imports Django. One entry point for every algorithm:

    result = train_policy(RLConfig(policy=sft_path, steps=8), prompts, reward_fn, out_dir,
                          algorithm="reinforce", artifact_root=...)
    result.model_path   # a plain transformers checkpoint of the trained policy

``reward_fn(contexts, responses) -> list[float]``: ``RewardModel.as_reward_fn()`` for distilled
RLAIF / RLHF, or a direct scorer (``direct_reward_fn``) for direct RLAIF.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from pipeline.configs import RLConfig
from pipeline.heap import keep_freed_memory
from pipeline.progress import ProgressFn
from pipeline.rl.interface import ALGORITHMS, PolicyResult, RewardFn
from pipeline.rl.loop import kl_penalised_reward, prompt_batch, response_logprobs
from pipeline.rl.ppo import ppo_policy_loss, ppo_value_loss, train_ppo
from pipeline.rl.reinforce import reinforce_losses, train_reinforce
from pipeline.runfiles import MetricsFn


@keep_freed_memory()
def train_policy(
    config: RLConfig,
    prompts: Sequence[str],
    reward_fn: RewardFn,
    out_dir: str | Path,
    *,
    algorithm: str = "reinforce",
    artifact_root: str | Path,
    on_progress: ProgressFn | None = None,
    on_metrics: MetricsFn | None = None,
) -> PolicyResult:
    """Train a policy from ``config.policy`` (the SFT checkpoint) on ``prompts`` with ``reward_fn``.

    ``algorithm``: "reinforce" (ours, the paper's), "ppo" (ours, same rollouts, value and reward),
    "rloo" or "grpo" (TRL). A rerun with the same ``out_dir`` continues from the last checkpoint.
    """
    if algorithm == "reinforce":
        return train_reinforce(config, prompts, reward_fn, out_dir, artifact_root=artifact_root,
                               on_progress=on_progress, on_metrics=on_metrics)
    if algorithm == "ppo":
        return train_ppo(config, prompts, reward_fn, out_dir, artifact_root=artifact_root,
                         on_progress=on_progress, on_metrics=on_metrics)
    if algorithm in ("rloo", "grpo"):
        from pipeline.rl.trl_algorithms import train_with_trl

        return train_with_trl(algorithm, config, prompts, reward_fn, out_dir, artifact_root=artifact_root,
                              on_progress=on_progress, on_metrics=on_metrics)
    raise ValueError(f"unknown algorithm {algorithm!r}: choose one of {', '.join(ALGORITHMS)}")


class _Scored(Protocol):
    @property
    def reward(self) -> float: ...


class DirectRewardScorer(Protocol):
    """What direct RLAIF needs of a scorer (the labeling engine's DirectScorer is one)."""

    def score(self, contexts: Sequence[str], responses: Sequence[str]) -> Sequence[_Scored]: ...


def direct_reward_fn(scorer: DirectRewardScorer) -> RewardFn:
    """Direct RLAIF: wrap a scorer with ``.score(contexts, responses) -> [obj with .reward in [-1, 1]]``
    (the labeling engine's DirectScorer) as a reward_fn. Imported by the caller, not here, so this
    module does not depend on the labeling engine."""

    def reward_fn(contexts: list[str], responses: list[str]) -> list[float]:
        return [float(s.reward) for s in scorer.score(contexts, responses)]

    return reward_fn


__all__ = ["ALGORITHMS", "PolicyResult", "RewardFn", "direct_reward_fn", "kl_penalised_reward", "ppo_policy_loss", "ppo_value_loss",
           "prompt_batch", "reinforce_losses", "response_logprobs", "train_policy", "train_ppo", "train_reinforce"]
