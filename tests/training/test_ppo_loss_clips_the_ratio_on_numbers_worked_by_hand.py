"""PPO's clipped surrogate and clipped value loss, checked on numbers worked by hand."""

import math

import pytest
import torch

from pipeline.rl import ppo_policy_loss, ppo_value_loss, reinforce_losses


def test_the_surrogate_takes_the_smaller_of_the_plain_and_the_clipped_ratio_term():
    # ratios r = π/π_old: row 0 [1.5, 0.9] with A = +1, row 1 [0.5, (2.0 padding)] with A = −1; ε = 0.2.
    old = torch.tensor([[-1.0, -2.0], [-1.0, -1.0]])
    logp = (old + torch.log(torch.tensor([[1.5, 0.9], [0.5, 2.0]])))
    logp.requires_grad_(True)
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])  # row 1 ended after one token
    loss, clipfrac, approx_kl = ppo_policy_loss(logp, old, torch.tensor([1.0, -1.0]), mask, clip=0.2)

    # row 0: min(1.5·1, 1.2·1) = 1.2 (clipped)  +  min(0.9·1, 0.9·1) = 0.9          → 2.1
    # row 1: min(0.5·−1, 0.8·−1) = −0.8 (clipped; the padded token counts nothing)   → −0.8
    # loss = −(2.1 − 0.8) / 2 = −0.65
    assert loss.item() == pytest.approx(-0.65)
    assert clipfrac.item() == pytest.approx(2 / 3)  # 2 of the 3 generated tokens are clipped
    # (r − 1) − ln r per generated token: 0.5 − ln 1.5, −0.1 − ln 0.9, −0.5 − ln 0.5
    expected_kl = ((0.5 - math.log(1.5)) + (-0.1 - math.log(0.9)) + (-0.5 - math.log(0.5))) / 3
    assert approx_kl.item() == pytest.approx(expected_kl)  # = 0.09768
    loss.backward()
    # d loss / d logp = −A·r / B where the plain term is the min, 0 where clipping is active.
    torch.testing.assert_close(logp.grad, torch.tensor([[0.0, -0.45], [0.0, 0.0]]))


def test_at_ratio_one_the_gradient_is_reinforces():
    logp = torch.tensor([[-1.0, -1.0], [-2.0, -2.0]], requires_grad=True)
    mask, advantage = torch.ones(2, 2), torch.tensor([0.5, -0.5])
    ppo_policy_loss(logp, logp.detach(), advantage, mask, clip=0.2)[0].backward()
    ppo_grad, logp.grad = logp.grad.clone(), None
    reinforce_losses(logp, mask, advantage, torch.zeros(2))[0].backward()
    assert ppo_grad.tolist() == logp.grad.tolist() == [[-0.25, -0.25], [0.25, 0.25]]


def test_the_value_loss_keeps_the_larger_of_the_plain_and_the_clipped_error():
    value, old, total = torch.tensor([0.5, 0.0]), torch.tensor([0.0, 0.0]), torch.tensor([1.0, 1.0])
    # row 0: plain (0.5 − 1)² = 0.25, clipped (0 + 0.2 − 1)² = 0.64 → 0.64; row 1: 1 either way.
    assert ppo_value_loss(value, old, total, clip=0.2).item() == pytest.approx((0.64 + 1.0) / 2)
    assert ppo_value_loss(value, old, total, clip=0.0).item() == pytest.approx((0.25 + 1.0) / 2)  # 0: unclipped


def test_each_pass_uses_every_prompt_once_in_as_many_minibatches_on_every_process():
    from pipeline.configs import RLConfig
    from pipeline.rl.ppo import minibatch_count, minibatches

    assert minibatch_count(RLConfig(batch_size=4, ppo_minibatch_size=2), world=1) == 2
    assert minibatch_count(RLConfig(batch_size=5, ppo_minibatch_size=2), world=1) == 3  # [2, 2, 1]
    parts = minibatches(5, 3, seed=0, step=7, epoch=1)
    assert sorted(len(p) for p in parts) == [1, 2, 2] and sorted(i for p in parts for i in p) == [0, 1, 2, 3, 4]
    assert parts == minibatches(5, 3, seed=0, step=7, epoch=1) != minibatches(5, 3, seed=0, step=7, epoch=2)
    # 5 prompts over 2 processes: shares of 3 and 2, one prompt per minibatch -> 3 steps on both,
    # the smaller share's last minibatch empty (that process still joins the gradient average).
    assert minibatch_count(RLConfig(batch_size=5, ppo_minibatch_size=1), world=2) == 3
    assert sorted(len(p) for p in minibatches(2, 3, seed=0, step=0, epoch=0)) == [0, 1, 1]
