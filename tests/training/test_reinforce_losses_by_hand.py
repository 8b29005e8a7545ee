"""The REINFORCE-with-baseline pieces, checked on numbers worked by hand."""

import pytest
import torch

from pipeline.rl import kl_penalised_reward, reinforce_losses


def test_the_kl_penalty_sums_log_ratios_over_generated_tokens_only():
    logp = torch.tensor([[-1.0, -2.0, -3.0], [-0.5, -0.5, -9.0]])
    ref = torch.tensor([[-1.5, -2.0, -2.0], [-1.0, -1.0, 0.0]])
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])  # row 2 ended after two tokens: the third is padding
    total, kl = kl_penalised_reward(torch.tensor([1.0, 2.0]), logp, ref, mask, beta=0.1)
    assert kl.tolist() == pytest.approx([0.5 + 0.0 - 1.0, 0.5 + 0.5])
    assert total.tolist() == pytest.approx([1.0 + 0.05, 2.0 - 0.1])


def test_the_policy_gradient_weights_sequence_log_probs_by_the_advantage():
    logp = torch.tensor([[-1.0, -1.0], [-2.0, -2.0]], requires_grad=True)
    mask = torch.ones(2, 2)
    value = torch.tensor([0.5, 0.5], requires_grad=True)
    policy_loss, value_loss, advantage = reinforce_losses(logp, mask, torch.tensor([1.0, 0.0]), value)
    assert advantage.tolist() == [0.5, -0.5]
    assert policy_loss.item() == pytest.approx(-(0.5 * -2.0 + -0.5 * -4.0) / 2)  # = -0.5
    assert value_loss.item() == pytest.approx(0.25)
    policy_loss.backward()
    # d/d logp: −A/B per token: the better-than-baseline sample is pushed up, the other down.
    assert logp.grad.tolist() == [[-0.25, -0.25], [0.25, 0.25]]
    assert value.grad is None  # the baseline is not trained through the policy loss
