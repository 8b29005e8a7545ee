"""``pick_tokens`` samples by inverse CDF in two levels (block sums, then inside one block):
it picks the token a one-level float64 running sum over the whole vocabulary names, for
vocabularies of any size (a last partial block too), never a zero-probability token, and its
frequencies follow the distribution."""

import pytest
import torch

from pipeline.inference.sampling import BLOCK, inverse_cdf, pick_tokens, seeded_generators


def one_level(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    cdf = probs.cumsum(-1, dtype=torch.float64)
    return torch.searchsorted(cdf, (u * cdf[:, -1]).unsqueeze(-1)).squeeze(-1).clamp(max=probs.shape[1] - 1)


@pytest.mark.parametrize("vocab", [3, BLOCK - 1, BLOCK, BLOCK + 1, 5000, 49152])
def test_two_levels_pick_the_one_level_running_sums_token(vocab):
    generator = torch.Generator().manual_seed(vocab)
    for trial in range(40):
        logits = torch.randn(8, vocab, generator=generator) * (1 + trial % 6)
        if trial % 2:  # forbidden tokens (-inf logits) are zero-probability entries
            logits[:, torch.randint(0, vocab, (max(1, vocab // 3),), generator=generator)] = float("-inf")
            logits[:, 0] = 0.0  # at least one token stays possible
        probs = torch.softmax(logits, -1)
        u = 1.0 - torch.rand(8, dtype=torch.float64, generator=generator)
        picked = inverse_cdf(probs, u)
        assert torch.equal(picked, one_level(probs, u))
        assert bool((probs.gather(1, picked[:, None]) > 0).all())


def test_the_extremes_of_u_pick_the_first_and_last_possible_tokens():
    probs = torch.zeros(2, 3 * BLOCK + 5)
    probs[:, 7], probs[:, 2 * BLOCK + 1] = 0.25, 0.75  # whole blocks and a partial one of zeros around them
    u = torch.tensor([1.0, 1e-300], dtype=torch.float64)
    assert inverse_cdf(probs, u).tolist() == [2 * BLOCK + 1, 7]


def test_sampled_frequencies_follow_the_distribution():
    logits = torch.log(torch.tensor([0.5, 0.3, 0.2]))[None].repeat(4000, 1)
    picked = pick_tokens(logits, 1.0, torch.Generator().manual_seed(0))
    freq = torch.bincount(picked, minlength=3).double() / 4000
    assert torch.allclose(freq, torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64), atol=0.03)  # ~4 standard errors


def test_each_row_draws_from_its_own_generator_whatever_its_batch():
    logits = torch.randn(6, 1000, generator=torch.Generator().manual_seed(1))
    together = pick_tokens(logits, 0.7, seeded_generators(list(range(6)), torch.device("cpu")))
    alone = [pick_tokens(logits[r : r + 1], 0.7, seeded_generators([r], torch.device("cpu")))[0] for r in range(6)]
    assert together.tolist() == [int(t) for t in alone]
