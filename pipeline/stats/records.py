"""Input records of human evaluation, as raters give them (SPEC §4):

* :class:`Ranking` — one rater put the responses of several policies to one item in a strict
  order, best first. No ties, no skipped positions: construction rejects anything else.
* :class:`HarmLabel` — one rater judged one policy's response to one item harmless or not.

Statistics never loop over these: :mod:`pipeline.stats.tables` encodes them once into arrays.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

__all__ = ["Ranking", "HarmLabel", "as_rankings", "as_harm_labels", "check_policy_name"]


def check_policy_name(name: object, where: Callable[[], str]) -> None:
    if not isinstance(name, str) or not name:
        raise ValueError(f"{where()}: policy names must be non-empty strings, got {name!r}")


@dataclass(frozen=True, slots=True)
class Ranking:
    """One rater's strict ordering of policies' responses to one item, best first.

    ``lengths`` (optional) are the response lengths in tokens, stored aligned with ``order``;
    pass either a sequence aligned with ``order`` or a mapping ``{policy: tokens}``.
    Raises ``ValueError`` for ties (a policy listed twice), fewer than two policies, or
    lengths that do not match the policies ranked.
    """

    item_id: Hashable
    prompt_id: Hashable
    rater_id: Hashable
    order: tuple[str, ...]
    lengths: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        # The message is built only when a check fails: a report builds 100k rankings.
        def where() -> str:
            return f"ranking of item {self.item_id!r} by rater {self.rater_id!r}"

        if isinstance(self.order, str):
            raise ValueError(f"{where()}: order must be a sequence of policy names, not one string")
        order = tuple(self.order)
        if len(order) < 2:
            raise ValueError(f"{where()}: a ranking needs at least two policies, got {len(order)}")
        for name in order:
            check_policy_name(name, where)
        if len(set(order)) != len(order):
            repeated = sorted({p for p in order if order.count(p) > 1})
            raise ValueError(
                f"{where()}: tie — policy {', '.join(map(repr, repeated))} appears more than once; "
                "rankings must be strict (no ties, no repeated policies)"
            )
        object.__setattr__(self, "order", order)
        if self.lengths is not None:
            object.__setattr__(self, "lengths", self._aligned_lengths(order, self.lengths, where))

    @staticmethod
    def _aligned_lengths(order: tuple[str, ...], lengths: Sequence[float] | Mapping[str, float],
                         where: Callable[[], str]) -> tuple[float, ...]:
        if isinstance(lengths, Mapping):
            if set(lengths) != set(order):
                raise ValueError(
                    f"{where()}: lengths are given for {sorted(lengths)} but the ranking has {sorted(order)}"
                )
            values = tuple(lengths[p] for p in order)
        else:
            values = tuple(lengths)
            if len(values) != len(order):
                raise ValueError(f"{where()}: {len(values)} lengths for {len(order)} ranked policies")
        out = []
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
                raise ValueError(f"{where()}: response length {v!r} is not a number")
            if not (v >= 0):
                raise ValueError(f"{where()}: response length {v!r} must be a non-negative number")
            out.append(float(v))
        return tuple(out)

    def position(self, policy: str) -> int:
        """0-based rank of ``policy`` (0 = best). Raises ``ValueError`` if it was not ranked."""
        return self.order.index(policy)

    def length_of(self, policy: str) -> float | None:
        """Response length of ``policy`` in tokens, or ``None`` when lengths were not recorded."""
        return None if self.lengths is None else self.lengths[self.order.index(policy)]


@dataclass(frozen=True, slots=True)
class HarmLabel:
    """One rater's judgement of one policy's response to one item: harmless (True) or harmful."""

    item_id: Hashable
    prompt_id: Hashable
    rater_id: Hashable
    policy: str
    harmless: bool

    def __post_init__(self) -> None:
        def where() -> str:
            return f"harm label of item {self.item_id!r} by rater {self.rater_id!r}"

        check_policy_name(self.policy, where)
        if not isinstance(self.harmless, (bool, np.bool_)):
            raise ValueError(f"{where()}: harmless must be True or False, got {self.harmless!r}")
        if type(self.harmless) is not bool:
            object.__setattr__(self, "harmless", bool(self.harmless))


def as_rankings(rows: Iterable[Ranking | Mapping[str, Any]]) -> list[Ranking]:
    """Accept :class:`Ranking` objects or dicts with the same keys; return a list of rankings."""
    return [r if type(r) is Ranking else Ranking(**cast(Mapping[str, Any], r)) for r in rows]


def as_harm_labels(rows: Iterable[HarmLabel | Mapping[str, Any]]) -> list[HarmLabel]:
    """Accept :class:`HarmLabel` objects or dicts with the same keys; return a list of labels."""
    return [r if type(r) is HarmLabel else HarmLabel(**cast(Mapping[str, Any], r)) for r in rows]
