"""The reward-model loss: cross-entropy between a soft preference label and the RM's two scores."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def soft_preference_loss(r1: torch.Tensor, r2: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy between the label distribution (p, 1-p) and softmax(r1, r2).

        L = -( p · log σ(r1 − r2) + (1 − p) · log σ(r2 − r1) )

    r1, r2: (B,) scores of candidate 1 and candidate 2; p: (B,) P(candidate 1 is preferred),
    a soft AI label such as 0.6 or a hard human label 0/1. Returns a scalar.

    softmax over two scores is σ of their difference, so this is the distilled-RLAIF loss of the
    paper (SPEC §2). With p = 1 it is exactly the Bradley–Terry loss −log σ(r_chosen − r_rejected)
    that TRL's RewardTrainer.compute_loss computes (trl/trainer/reward_trainer.py, without margin
    or center_rewards_coefficient): 1·x + 0·y == x in floating point, so the two agree bit for bit
    (tests/training/test_soft_loss_matches_trl_bradley_terry.py). logsigmoid keeps large score
    gaps finite where log(sigmoid(x)) would underflow to log(0).
    """
    p = p.to(r1.dtype)
    margin = r1 - r2
    return -(p * F.logsigmoid(margin) + (1 - p) * F.logsigmoid(-margin)).mean()
