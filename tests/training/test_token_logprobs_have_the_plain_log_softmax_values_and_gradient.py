"""``token_logprobs`` (the RL loss's and SFT's log-probs of chosen tokens) gives the plain
``log_softmax`` values and the same gradient with respect to the logits, built in place."""

import torch

from pipeline.logprobs import token_logprobs


def test_values_and_gradient_match_log_softmax_gathered():
    torch.manual_seed(0)
    logits = (torch.randn(3, 5, 50, dtype=torch.float64) * 4).requires_grad_()
    tokens = torch.randint(0, 50, (3, 5))
    tokens[0, 0] = 49  # the last vocabulary entry
    upstream = torch.randn(3, 5, dtype=torch.float64)

    plain = torch.log_softmax(logits, dim=-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    (expected,) = torch.autograd.grad((plain * upstream).sum(), logits)
    ours = token_logprobs(logits, tokens)
    (got,) = torch.autograd.grad((ours * upstream).sum(), logits)

    assert torch.allclose(ours, plain, atol=1e-12)
    assert torch.allclose(got, expected, atol=1e-12)


def test_the_gradient_checks_numerically():
    torch.manual_seed(1)
    logits = torch.randn(2, 4, 7, dtype=torch.float64, requires_grad=True)
    tokens = torch.randint(0, 7, (2, 4))
    assert torch.autograd.gradcheck(lambda z: token_logprobs(z, tokens), (logits,))


def test_without_gradient_it_is_plain_arithmetic():
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0]])
    assert torch.allclose(token_logprobs(logits, torch.tensor([2])), torch.log(torch.tensor([0.25])))


def test_overwriting_turns_the_logits_into_their_gradient_with_the_same_numbers():
    torch.manual_seed(2)
    base = torch.randn(2, 3, 11, dtype=torch.float64, requires_grad=True)
    tokens = torch.randint(0, 11, (2, 3))
    upstream = torch.randn(2, 3, dtype=torch.float64)

    (expected,) = torch.autograd.grad((token_logprobs(base * 2, tokens) * upstream).sum(), base)
    logits = base * 2  # this pass's own logits
    ours = token_logprobs(logits, tokens, overwrite=True)
    (got,) = torch.autograd.grad((ours * upstream).sum(), base)

    assert torch.allclose(got, expected, atol=1e-12)
    assert logits._version > 0  # its memory was reused
