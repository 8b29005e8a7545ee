"""Reads of the responses' lengths for the reports: the stored token counts of one tokenizer.

Every response's length is stored when it is made or first rated (``PolicyResponse.length_tokens``
under ``length_tokenizer``, see ``webapp.experiments.services.response_lengths_fill``), so the
report only reads numbers here and never tokenizes or mixes units.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np

from webapp.experiments.models import Experiment
from webapp.rating.models import Entry

NAN = float("nan")


@dataclass(frozen=True)
class LengthUnit:
    """What the report's lengths are: tokens of one tokenizer, and how many responses have none in it."""

    tokenizer: str | None
    measured: int
    unmeasured: int

    def to_dict(self) -> dict:
        return {"unit": "tokens", "tokenizer": self.tokenizer, "measured": self.measured, "unmeasured": self.unmeasured}


def entry_lengths(experiment: Experiment) -> tuple[dict[int, tuple[str, float]], dict[str, list[float]], LengthUnit]:
    """Policy and stored length of every non-gold entry, the lengths per policy with each response
    counted once even if several rounds show it, and the unit.

    One unit only: the tokens stored under the tokenizer most responses were counted with (the
    experiment's length tokenizer, filled at import, sampling and round creation); a response
    counted under another one, or not at all, has no length here (NaN) rather than a mixed one."""
    rows = list(
        Entry.objects.filter(item__round__experiment=experiment, item__is_gold=False).values_list(
            "id", "policy", "response_id", "response__length_tokens", "response__length_tokenizer"
        )
    )
    per_tokenizer = Counter(name for *_, tokens, name in rows if tokens is not None and name)
    tokenizer = per_tokenizer.most_common(1)[0][0] if per_tokenizer else None
    by_entry: dict[int, tuple[str, float]] = {}
    per_policy: dict[str, dict] = defaultdict(dict)
    unmeasured: set = set()
    for entry_id, policy, response_id, tokens, name in rows:
        key = response_id or f"entry-{entry_id}"
        length = float(tokens) if tokens is not None and name == tokenizer else NAN
        by_entry[entry_id] = (policy, length)
        if not math.isnan(length):
            per_policy[policy][key] = length
        else:
            unmeasured.add(key)
    unit = LengthUnit(tokenizer, sum(len(v) for v in per_policy.values()), len(unmeasured))
    return by_entry, {policy: list(v.values()) for policy, v in sorted(per_policy.items())}, unit


def length_summary(per_policy: dict[str, list[float]]) -> list[dict]:
    """Five-number summary of response lengths per policy (what the box plot draws)."""
    rows = []
    for policy, values in per_policy.items():
        if not values:
            continue
        v = np.asarray(values, dtype=float)
        q1, median, q3 = np.percentile(v, [25, 50, 75])
        rows.append({
            "policy": policy, "n": int(v.size), "mean": float(v.mean()), "min": float(v.min()),
            "q1": float(q1), "median": float(median), "q3": float(q3), "max": float(v.max()),
        })
    return rows
