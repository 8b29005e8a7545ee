"""Seeded synthetic human-evaluation data with planted effects (benchmarks, tests, demo pages).

Rankings follow a Plackett–Luce model: rater ``r`` orders the responses to prompt ``p`` by
the utilities ::

    u[p, r, i] = θᵢ + q[p, i] + length_effect·(len[p, i] − mean len)/100 + Gumbel noise

``θ`` are the policy strengths (log scale), ``q ~ N(0, item_sd²)`` a per-response quality
shared by all raters of the prompt (this is what makes raters agree and prompts cluster).
With Gumbel noise the chance that i is ranked above j is ``σ(θᵢ − θⱼ)`` when the other terms
are zero, so ``θ_rlaif − θ_sft = logit(0.7)`` plants a 70 % win rate against SFT.

Harm labels: each response is truly harmless with its policy's probability, and each rater
reports the truth with probability ``accuracy`` (else the opposite).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ._common import Seed
from .records import HarmLabel, Ranking

__all__ = ["simulate_rankings", "simulate_harm_labels"]


def _raters_for(rng: np.random.Generator, n_prompts: int, per_prompt: int, n_raters: int) -> np.ndarray:
    """``(n_prompts, per_prompt)`` distinct rater indices per prompt."""
    if per_prompt > n_raters:
        raise ValueError(f"{per_prompt} raters per prompt but only {n_raters} raters")
    return np.argsort(rng.random((n_prompts, n_raters)), axis=1)[:, :per_prompt]


def simulate_rankings(
    strengths: Mapping[str, float],
    *,
    n_prompts: int,
    raters_per_prompt: int,
    n_raters: int | None = None,
    seed: Seed = 0,
    item_sd: float = 0.0,
    length_means: Mapping[str, float] | None = None,
    length_sd: float = 20.0,
    length_effect: float = 0.0,
) -> list[Ranking]:
    """One item per prompt, ranked by ``raters_per_prompt`` distinct raters out of ``n_raters``.

    With ``length_means`` every response gets a token length (drawn once per prompt and
    policy), recorded on the rankings; ``length_effect`` is the utility per 100 extra tokens.
    """
    rng = np.random.default_rng(seed)
    names = list(strengths)
    theta = np.array([strengths[p] for p in names], dtype=float)
    n_raters = raters_per_prompt if n_raters is None else n_raters
    k = len(names)
    utility = np.broadcast_to(theta, (n_prompts, k)) + rng.normal(0.0, item_sd, (n_prompts, k))
    lengths = None
    if length_means is not None:
        means = np.array([length_means[p] for p in names], dtype=float)
        lengths = np.maximum(1.0, np.round(rng.normal(means, length_sd, (n_prompts, k))))
        utility = utility + length_effect * (lengths - means.mean()) / 100.0
    noisy = utility[:, None, :] + rng.gumbel(size=(n_prompts, raters_per_prompt, k))
    orders = np.argsort(-noisy, axis=2)
    raters = _raters_for(rng, n_prompts, raters_per_prompt, n_raters)

    # Share one order tuple per permutation: k! distinct tuples instead of one per ranking.
    cache: dict[tuple[int, ...], tuple[str, ...]] = {}
    out = []
    for p in range(n_prompts):
        for s in range(raters_per_prompt):
            key = tuple(orders[p, s].tolist())
            order = cache.get(key)
            if order is None:
                order = cache[key] = tuple(names[i] for i in key)
            lens = None if lengths is None else tuple(lengths[p, list(key)].tolist())
            out.append(Ranking(f"item-{p}", f"prompt-{p}", f"rater-{int(raters[p, s])}", order, lens))
    return out


def simulate_harm_labels(
    harmless_rates: Mapping[str, float],
    *,
    n_prompts: int,
    raters_per_prompt: int,
    n_raters: int | None = None,
    accuracy: float = 0.9,
    seed: Seed = 0,
) -> list[HarmLabel]:
    """Harm labels for every (prompt, policy) response from ``raters_per_prompt`` raters.

    The expected observed harmless share of a policy is ``accuracy·r + (1 − accuracy)·(1 − r)``.
    """
    rng = np.random.default_rng(seed)
    names = list(harmless_rates)
    rates = np.array([harmless_rates[p] for p in names], dtype=float)
    n_raters = raters_per_prompt if n_raters is None else n_raters
    truth = rng.random((n_prompts, len(names))) < rates
    correct = rng.random((n_prompts, raters_per_prompt, len(names))) < accuracy
    said = np.where(correct, truth[:, None, :], ~truth[:, None, :])
    raters = _raters_for(rng, n_prompts, raters_per_prompt, n_raters)
    return [
        HarmLabel(f"item-{p}", f"prompt-{p}", f"rater-{int(raters[p, s])}", names[j], bool(said[p, s, j]))
        for p in range(n_prompts)
        for s in range(raters_per_prompt)
        for j in range(len(names))
    ]
