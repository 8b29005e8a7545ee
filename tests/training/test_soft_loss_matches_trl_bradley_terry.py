"""The soft preference loss is TRL's Bradley–Terry loss at hard labels, and right for soft ones."""

import math
from types import SimpleNamespace

import pytest
import torch

from pipeline.reward.losses import soft_preference_loss


def trl_reward_trainer_loss(chosen: torch.Tensor, rejected: torch.Tensor) -> torch.Tensor:
    """Run TRL's own RewardTrainer.compute_loss on given rewards (trl/trainer/reward_trainer.py).

    A stand-in model returns the rewards as logits, chosen rows first (TRL's collator layout);
    the stand-in trainer has just the attributes compute_loss reads.
    """
    from trl import RewardTrainer

    logits = torch.cat([chosen, rejected]).unsqueeze(-1)
    model = lambda **inputs: SimpleNamespace(logits=logits)  # noqa: E731
    trainer = SimpleNamespace(
        model=SimpleNamespace(training=True),
        args=SimpleNamespace(center_rewards_coefficient=None),
        accelerator=SimpleNamespace(gather_for_metrics=lambda x: x, gather=lambda x: x),
        _metrics={"train": __import__("collections").defaultdict(list)},
        _total_train_tokens=0,
        _tp_size=1,
    )
    inputs = {"input_ids": torch.zeros(2 * len(chosen), 3, dtype=torch.long),
              "attention_mask": torch.ones(2 * len(chosen), 3, dtype=torch.long)}
    return RewardTrainer.compute_loss(trainer, model, inputs)


@pytest.fixture
def scores():
    torch.manual_seed(0)
    return torch.randn(64) * 3, torch.randn(64) * 3


def test_with_p_equal_1_it_is_trls_loss_with_candidate_1_chosen(scores):
    r1, r2 = scores
    ours = soft_preference_loss(r1, r2, torch.ones(64))
    assert torch.equal(ours, trl_reward_trainer_loss(r1, r2))


def test_with_p_equal_0_it_is_trls_loss_with_candidate_2_chosen(scores):
    r1, r2 = scores
    ours = soft_preference_loss(r1, r2, torch.zeros(64))
    assert torch.equal(ours, trl_reward_trainer_loss(r2, r1))


def test_with_p_equal_0_6_it_is_the_cross_entropy_worked_by_hand():
    r1, r2, p = 1.0, 0.5, 0.6
    sigma = 1 / (1 + math.exp(-(r1 - r2)))  # P_RM(candidate 1) = softmax([r1, r2])[0]
    expected = -(p * math.log(sigma) + (1 - p) * math.log(1 - sigma))
    got = soft_preference_loss(torch.tensor([r1]), torch.tensor([r2]), torch.tensor([p]))
    assert got.item() == pytest.approx(expected, rel=1e-6)
    assert got.item() == pytest.approx(0.67408, abs=1e-5)  # σ(0.5) = 0.62246


def test_it_is_smallest_where_the_rm_matches_the_soft_label():
    # d/d(margin) L = σ(margin) − p, so the optimum margin is logit(p): the RM learns the label's odds.
    margins = torch.linspace(-3, 3, 601)
    losses = torch.stack([soft_preference_loss(m.view(1), torch.zeros(1), torch.tensor([0.6])) for m in margins])
    assert margins[losses.argmin()].item() == pytest.approx(math.log(0.6 / 0.4), abs=0.01)


def test_huge_score_gaps_stay_finite():
    loss = soft_preference_loss(torch.tensor([-1e4]), torch.tensor([1e4]), torch.tensor([1.0]))
    assert torch.isfinite(loss) and loss.item() == pytest.approx(2e4)
