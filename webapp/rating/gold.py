"""Gold items: a response made clearly worse, so that its correct place (last) is known."""

from __future__ import annotations

import random

DEGRADATION = "words shuffled and cut to about half"


def degrade(text: str, rng: random.Random) -> str:
    """Shuffle the words of ``text`` and keep about half of them.

    The result keeps the vocabulary and rough length class of the original, so it does not
    stand out at a glance, but it reads as nonsense to anyone who reads it: any attentive
    rater puts it below an intact response.
    """
    words = text.split()
    if len(words) < 4:
        words = words + ["the", "of", "and", "to"]
    shuffled = words[:]
    for _ in range(5):
        rng.shuffle(shuffled)
        if shuffled != words:
            break
    keep = max(3, (len(shuffled) + 1) // 2)
    # It ends the way the original ends (its closing punctuation, or none), so that no fixed
    # mark at the end tells a rater which response is the gold one.
    return _ending_cut(" ".join(shuffled[:keep])) + _ending(text)


def _ending(text: str) -> str:
    """The closing run of punctuation of ``text`` ("." or "?!" or '."' ...), empty when it ends in a word."""
    stripped = text.rstrip()
    return stripped[len(_ending_cut(stripped)):]


def _ending_cut(text: str) -> str:
    end = len(text)
    while end and not text[end - 1].isalnum():
        end -= 1
    return text[:end] if end else text


def gold_passed(*, ranks: dict[int, int], degraded: set[int]) -> bool | None:
    """Whether every degraded entry is ranked below every intact one (``ranks``: entry id -> rank)."""
    if not ranks or not degraded or degraded >= set(ranks):
        return None
    worst_intact = max(rank for entry, rank in ranks.items() if entry not in degraded)
    best_degraded = min(rank for entry, rank in ranks.items() if entry in degraded)
    return best_degraded > worst_intact
