"""Preference data for reward models and DPO: pairs, label sources, and the mixed human + AI set.

A *pair* is what an experiment stores: a context, two candidates, the human choice (if any) and
the AI labeler's soft preference (if labeled). An *example* is what training sees: a pair with
one label p = P(candidate 1 is preferred), taken from the chosen label source.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pipeline.data import Record
from pipeline.label_sources import LabelSource


@dataclass(frozen=True)
class PreferencePair:
    """One stored comparison with whatever labels it has."""

    context: str
    candidate_1: str
    candidate_2: str
    human_choice: int | None = None  # 1 or 2: the candidate the human preferred
    ai_p1: float | None = None  # the AI labeler's P(candidate 1 preferred), position-debiased


@dataclass(frozen=True)
class PreferenceExample:
    """One training example: a pair and a (soft or hard) label."""

    context: str
    candidate_1: str
    candidate_2: str
    p: float  # P(candidate 1 preferred): 0/1 for human labels, soft for AI labels
    source: str = "human"  # "human" or "ai": where p came from


def human_examples(pairs: Iterable[PreferencePair]) -> list[PreferenceExample]:
    """Hard labels from human choices (pairs without one are skipped)."""
    return [
        PreferenceExample(p.context, p.candidate_1, p.candidate_2, 1.0 if p.human_choice == 1 else 0.0, "human")
        for p in pairs
        if p.human_choice in (1, 2)
    ]


def ai_examples(pairs: Iterable[PreferencePair], hard: bool = False) -> list[PreferenceExample]:
    """Soft labels from the AI labeler; ``hard`` makes them 0/1 by argmax (ties are dropped), as DPO needs."""
    out = []
    for p in pairs:
        if p.ai_p1 is None:
            continue
        label = p.ai_p1
        if hard:
            if label == 0.5:
                continue
            label = 1.0 if label > 0.5 else 0.0
        out.append(PreferenceExample(p.context, p.candidate_1, p.candidate_2, float(label), "ai"))
    return out


def build_examples(pairs: Sequence[PreferencePair], source: LabelSource | str, seed: int = 0,
                   hard: bool = False) -> list[PreferenceExample]:
    """Training examples from the chosen label source.

    ``mixed:s`` takes a seeded random share s of the pairs (among those with both labels) with
    their human label and the rest with their AI label, so the mix is reproducible and each pair
    is used once. ``hard`` turns AI labels into 0/1 (for DPO).
    """
    source = LabelSource.parse(source) if isinstance(source, str) else source
    if source.kind == "human":
        return human_examples(pairs)
    if source.kind == "ai":
        return ai_examples(pairs, hard=hard)
    both = [p for p in pairs if p.human_choice in (1, 2) and p.ai_p1 is not None]
    order = list(range(len(both)))
    random.Random(seed).shuffle(order)
    n_human = round(source.human_share * len(both))
    human_ids = set(order[:n_human])
    out = []
    for i, pair in enumerate(both):
        made = human_examples([pair]) if i in human_ids else ai_examples([pair], hard=hard)
        out.extend(made)
    return out


# -- records of a file (pipeline.data) ------------------------------------------------------------


def preference_pair(record: Record) -> PreferencePair:
    """A record read by ``pipeline.data`` (the web app's reader) as a pair with its human choice,
    candidates in the order the app stores them."""
    return PreferencePair(record.context, record.candidate_1, record.candidate_2, human_choice=record.human_choice)
