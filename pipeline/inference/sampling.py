"""The one sampling rule of every decoding loop (the engine's and the plain transformers one).

A row's token depends only on its logits and its own generator, so a row samples the same
tokens whatever batch it runs in, and the two loops sample the same tokens from the same seeds
(up to the float32 differences of their forwards, which move a boundary of the cumulative
distribution by ~1e-6: a different token needs the row's uniform to fall that close to one).
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence

import torch


def row_seed(seed: int, *parts: object) -> int:
    """A 63-bit seed fixed by content (a run seed and, say, a prompt's text and a sample index),
    so sampling does not depend on batching or work order; the same in every process (unlike
    ``hash``)."""
    digest = hashlib.sha256(repr((seed,) + parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def seeded_generators(seeds: Sequence[int], device: torch.device) -> list[torch.Generator]:
    """One generator per row, row r's seeded with ``seeds[r]``."""
    generators = []
    for seed in seeds:
        generators.append(torch.Generator(device=device))
        generators[-1].manual_seed(seed)
    return generators


def forbid(logits: torch.Tensor, token_ids: Collection[int]) -> torch.Tensor:
    """``logits`` with the given tokens at -inf (in place): EOS before a minimum length."""
    if token_ids:
        logits[:, torch.tensor(sorted(token_ids), device=logits.device)] = float("-inf")
    return logits


def pick_tokens(logits: torch.Tensor, temperature: float,
                generators: Sequence[torch.Generator] | torch.Generator | None) -> torch.Tensor:
    """Greedy at temperature 0; else inverse-CDF sampling from softmax(logits / temperature).

    One uniform number per row against the cumulative distribution: the same distribution as
    torch.multinomial (or Gumbel-max), which instead draw one number per vocabulary entry (≈7 ms
    a step for 8 rows × 49k tokens on one CPU core). The CDF is summed in float64 so rounding
    cannot shift mass between tokens (``inverse_cdf``); u is in (0, 1], so zero-probability
    tokens are never picked.
    ``generators``: one per row (batch-independent rows), one for the batch, or None (torch's).
    """
    if temperature <= 0:
        return logits.argmax(-1)
    scaled = logits.float() if temperature == 1 else logits.float() / temperature
    probs = torch.softmax(scaled, dim=-1)
    rows, device = logits.size(0), logits.device
    if generators is None or isinstance(generators, torch.Generator):
        u = torch.rand(rows, generator=generators, device=device, dtype=torch.float64)
    else:
        u = torch.cat([torch.rand(1, generator=g, device=device, dtype=torch.float64) for g in generators])
    return inverse_cdf(probs, 1.0 - u)


BLOCK = 256  # vocabulary entries per block of ``inverse_cdf``'s first level


def inverse_cdf(probs: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """For each row of ``probs`` [R, V] (float32, >= 0, not all 0) and u [R] in (0, 1], float64:
    the token i with C(i - 1) < u * C(V - 1) <= C(i), C the float64 running sum of the row, so
    token i is picked with probability probs[i] / sum and never when probs[i] = 0.

    In two levels, because a float64 cumsum over the whole vocabulary is slow on a CPU (2.4 ms
    for 8 x 49k: a serial chain per row): float64 sums of blocks of ``BLOCK`` entries, a
    running sum over the blocks to find u's block, then a running sum inside that block only
    (0.4 ms in all). Sums of float32 numbers in float64 are exact to ~1e-16 whatever the order,
    so this picks the tokens the one-level running sum would, short of a u within ~1e-16 of a
    boundary."""
    rows, vocab = probs.shape
    blocks = -(-vocab // BLOCK)
    padded = probs if vocab == blocks * BLOCK else torch.nn.functional.pad(probs, (0, blocks * BLOCK - vocab))
    by_block = padded.view(rows, blocks, BLOCK)
    ends = by_block.sum(-1, dtype=torch.float64).cumsum(-1)  # [R, blocks]: C at each block's end
    target = (u * ends[:, -1]).unsqueeze(-1)
    block = torch.searchsorted(ends, target).clamp_(max=blocks - 1)  # [R, 1]: first block ending at or past it
    start = torch.where(block > 0, ends.gather(1, (block - 1).clamp(min=0)), 0.0)
    inside = by_block[torch.arange(rows, device=probs.device), block[:, 0]].cumsum(-1, dtype=torch.float64).add_(start)
    # the block's own running total can round below its end in ``ends``: never look past its last nonzero entry
    offset = torch.searchsorted(inside, torch.minimum(target, inside[:, -1:]))
    return (block * BLOCK + offset).squeeze(-1).clamp_(max=vocab - 1)
