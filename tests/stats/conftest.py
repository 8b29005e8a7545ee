"""Shared makers of small random evaluation data for the statistics tests."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.stats import HarmLabel, Ranking

POLICIES = ("sft", "rlhf", "rlaif", "reference")


def make_rankings(seed: int, *, n_prompts: int = 30, raters: int = 4, policies=POLICIES, partial: bool = True,
                  with_lengths: bool = True) -> list[Ranking]:
    """Random strict rankings; with ``partial`` some rankings leave out policies."""
    rng = np.random.default_rng(seed)
    out = []
    for p in range(n_prompts):
        for r in range(raters):
            k = int(rng.integers(2, len(policies) + 1)) if partial else len(policies)
            order = tuple(policies[i] for i in rng.permutation(len(policies))[:k])
            lengths = {name: int(rng.integers(5, 200)) for name in order} if with_lengths else None
            out.append(Ranking(f"item-{p}", f"prompt-{p // 2}", f"rater-{r}", order, lengths))
    return out


def make_harm_labels(seed: int, *, n_items: int = 40, raters: int = 3, policies=POLICIES, missing: float = 0.2):
    rng = np.random.default_rng(seed)
    rates = dict(zip(policies, rng.uniform(0.3, 0.9, len(policies))))
    out = []
    for i in range(n_items):
        for r in range(raters):
            for name in policies:
                if rng.random() < missing:
                    continue
                out.append(HarmLabel(f"item-{i}", f"prompt-{i}", f"rater-{r}", name, bool(rng.random() < rates[name])))
    return out


@pytest.fixture
def rankings_maker():
    return make_rankings


@pytest.fixture
def harm_maker():
    return make_harm_labels
