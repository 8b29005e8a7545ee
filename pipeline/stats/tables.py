"""The one-time encoding of evaluation records into integer arrays.

Every statistic works on the *encoded* form (:class:`RankingTable`, :class:`HarmTable`):
policies, prompts, items and raters become small integers once, so that the statistics are
numpy reductions rather than Python loops over records. Encoding 100,000 rankings costs a few
tens of milliseconds because identical orders (there are only ``k!`` of them) are decoded once.
Callers that read from a database pass flat columns (arrays) to :func:`encode_ranking_flat`
and :func:`encode_harm_columns` and build no record objects at all.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any, TypeAlias, cast

import numpy as np

from .records import HarmLabel, Ranking, as_harm_labels, as_rankings, check_policy_name

__all__ = [
    "RankingTable",
    "HarmTable",
    "Coded",
    "Column",
    "RankingsInput",
    "HarmInput",
    "encode_rankings",
    "encode_harm_labels",
    "encode_harm_columns",
    "encode_ranking_flat",
    "ensure_ranking_table",
    "ensure_harm_table",
]

#: A column of ids (items, prompts, raters) with one entry per row: a list from records, or
#: the integer array a database read gives.
Column: TypeAlias = Sequence[Hashable] | np.ndarray

#: What the statistics accept: an encoded table, or records (objects or dicts with their keys).
RankingsInput: TypeAlias = "RankingTable | Iterable[Ranking | Mapping[str, Any]]"
HarmInput: TypeAlias = "HarmTable | Iterable[HarmLabel | Mapping[str, Any]]"


def _codes(values: Column) -> tuple[np.ndarray, tuple[Hashable, ...]]:
    """Integer codes in order of first appearance (dict lookups beat sorting mixed ids; an
    integer array, as a database read gives, is coded with numpy alone)."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "iu":
        uniq, first, inverse = np.unique(values, return_index=True, return_inverse=True)
        by_appearance = np.argsort(first, kind="stable")
        code_of = np.empty(uniq.size, dtype=np.int64)
        code_of[by_appearance] = np.arange(uniq.size)
        return code_of[inverse.reshape(-1)], tuple(uniq[by_appearance].tolist())
    index: dict = {}
    codes = [index.setdefault(v, len(index)) for v in values]
    return np.fromiter(codes, dtype=np.int64, count=len(codes)), tuple(index)


@dataclass(frozen=True)
class Coded:
    """A column of names given as integer codes into ``values`` (as a database read that already
    mapped ids to names has it), so encoding needs no lookup per row."""

    codes: np.ndarray
    values: tuple[str, ...]


def _policy_column(policy: Sequence[str] | Coded, what: str) -> tuple[tuple[str, ...], np.ndarray]:
    """Policies sorted by name (only those used) and each row's index into them."""
    if isinstance(policy, Coded):
        codes = np.asarray(policy.codes, dtype=np.int64)
        used = np.unique(codes)
        policies = tuple(sorted(policy.values[u] for u in used))
        for name in policies:
            check_policy_name(name, lambda: what)
        remap = np.full(len(policy.values), -1, dtype=np.int64)
        remap[used] = [policies.index(policy.values[u]) for u in used]
        return policies, remap[codes]
    policies = tuple(sorted(set(policy)))
    for name in policies:
        check_policy_name(name, lambda: what)
    col = {p: j for j, p in enumerate(policies)}
    return policies, np.fromiter((col[name] for name in policy), dtype=np.int64, count=len(policy))


@dataclass(frozen=True, eq=False)
class RankingTable:
    """Rankings as arrays: row ``r`` is one ranking, column ``j`` is ``policies[j]``.

    * ``rank[r, j]`` — 0-based position of policy ``j`` (0 = best), −1 when not ranked;
    * ``length[r, j]`` — its response length in tokens, NaN when unknown;
    * ``prompt``, ``item``, ``rater`` — integer codes into ``prompts``, ``items``, ``raters``.

    Policies are sorted by name so that results do not depend on the order of the input.
    """

    policies: tuple[str, ...]
    prompts: tuple[Hashable, ...]
    items: tuple[Hashable, ...]
    raters: tuple[Hashable, ...]
    rank: np.ndarray
    length: np.ndarray
    prompt: np.ndarray
    item: np.ndarray
    rater: np.ndarray

    @property
    def n(self) -> int:
        return int(self.rank.shape[0])

    def index(self, policy: str) -> int:
        try:
            return self.policies.index(policy)
        except ValueError:
            raise ValueError(f"unknown policy {policy!r}; rankings contain {list(self.policies)}") from None


@dataclass(frozen=True, eq=False)
class HarmTable:
    """Harm labels as arrays; ``policy``, ``prompt``, ``item``, ``rater`` are integer codes."""

    policies: tuple[str, ...]
    prompts: tuple[Hashable, ...]
    items: tuple[Hashable, ...]
    raters: tuple[Hashable, ...]
    policy: np.ndarray
    harmless: np.ndarray
    prompt: np.ndarray
    item: np.ndarray
    rater: np.ndarray

    @property
    def n(self) -> int:
        return int(self.policy.shape[0])

    def index(self, policy: str) -> int:
        try:
            return self.policies.index(policy)
        except ValueError:
            raise ValueError(f"unknown policy {policy!r}; harm labels cover {list(self.policies)}") from None


def _check_item_prompt(item: np.ndarray, prompt: np.ndarray, items: tuple[Hashable, ...], what: str) -> None:
    """Every item must belong to one prompt, or prompt-clustered resampling would split it."""
    if item.size == 0:
        return
    prompt_of_item = np.empty(len(items), dtype=np.int64)
    prompt_of_item[item] = prompt
    bad = np.flatnonzero(prompt_of_item[item] != prompt)
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{what}: item {items[item[i]]!r} appears with more than one prompt id")


def _first_duplicate(key: np.ndarray) -> int | None:
    """Row index of the first repeated key, or None."""
    if key.size < 2:
        return None
    order = np.argsort(key, kind="stable")
    dup = np.flatnonzero(key[order][1:] == key[order][:-1])
    return None if dup.size == 0 else int(order[dup[0] + 1])


def encode_rankings(rankings: Iterable[Ranking | Mapping[str, Any]]) -> RankingTable:
    """Encode rankings once into a :class:`RankingTable`.

    Raises ``ValueError`` if a rater ranked the same item twice (each rater counts once per
    item) or if one item id is used with two prompt ids.
    """
    rankings = as_rankings(rankings)
    n = len(rankings)
    order_index: dict[tuple[str, ...], int] = {}
    order_code = np.fromiter(
        (order_index.setdefault(r.order, len(order_index)) for r in rankings), dtype=np.int64, count=n
    )
    orders = list(order_index)
    policies = tuple(sorted(set(chain.from_iterable(orders))))
    col = {p: j for j, p in enumerate(policies)}
    width = max((len(o) for o in orders), default=0)

    # Per distinct order: position of each policy, and policy at each position.
    rank_of_order = np.full((len(orders), len(policies)), -1, dtype=np.int16)
    policy_at = np.full((len(orders), max(width, 1)), -1, dtype=np.int64)
    for k, o in enumerate(orders):
        for pos, p in enumerate(o):
            rank_of_order[k, col[p]] = pos
            policy_at[k, pos] = col[p]
    rank = rank_of_order[order_code] if n else np.zeros((0, len(policies)), dtype=np.int16)

    length = np.full((n, len(policies)), np.nan)
    with_len = [i for i, r in enumerate(rankings) if r.lengths is not None]
    if with_len:
        rows = np.asarray(with_len, dtype=np.int64)
        sizes = np.fromiter((len(rankings[i].order) for i in with_len), dtype=np.int64, count=len(with_len))
        flat = np.fromiter(chain.from_iterable(cast(tuple[float, ...], rankings[i].lengths) for i in with_len), dtype=np.float64)
        row_rep = np.repeat(rows, sizes)
        starts = np.repeat(np.cumsum(sizes) - sizes, sizes)
        slot = np.arange(flat.size) - starts
        length[row_rep, policy_at[order_code[row_rep], slot]] = flat

    prompt, prompts = _codes([r.prompt_id for r in rankings])
    item, items = _codes([r.item_id for r in rankings])
    rater, raters = _codes([r.rater_id for r in rankings])
    dup = _first_duplicate(item * max(len(raters), 1) + rater)
    if dup is not None:
        r = rankings[dup]
        raise ValueError(
            f"rater {r.rater_id!r} ranked item {r.item_id!r} more than once; keep one ranking per rater and item"
        )
    _check_item_prompt(item, prompt, items, "rankings")
    return RankingTable(policies, prompts, items, raters, rank, length, prompt, item, rater)


def encode_ranking_flat(item_ids: Column, prompt_ids: Column, rater_ids: Column, sizes: np.ndarray,
                        policy: Sequence[str] | Coded, rank: np.ndarray,
                        length: np.ndarray | None = None) -> RankingTable:
    """Rankings as flat columns, for callers that read judgements from a database and need not
    build one object per ranking: ranking ``r`` owns the next ``sizes[r]`` entries of ``policy``
    (names, or :class:`Coded`), ``rank`` (1-based, 1 = best) and ``length`` (NaN = unknown).

    The checks are those of :class:`Ranking` and :func:`encode_rankings`: the ranks of a ranking
    must be exactly 1..k (no ties, no gaps), a policy appears once per ranking, and a rater
    ranks an item once. ``ValueError`` names the ranking otherwise.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    rank = np.asarray(rank, dtype=np.int64)
    n = sizes.size
    if not all(len(column) == n for column in (item_ids, prompt_ids, rater_ids)):
        raise ValueError("ranking columns must all have the same length")

    def where(row: int) -> str:
        return f"ranking of item {item_ids[row]!r} by rater {rater_ids[row]!r}"

    short = np.flatnonzero(sizes < 2)
    if short.size:
        raise ValueError(f"{where(int(short[0]))}: a ranking needs at least two policies")
    policies, flat_policy = _policy_column(policy, "rankings")
    if not (flat_policy.size == rank.size == sizes.sum()):
        raise ValueError("ranking columns: policy and rank need one entry per ranked response (sizes.sum())")
    width = max(len(policies), 1)
    row_of = np.repeat(np.arange(n, dtype=np.int64), sizes)

    out_of_range = np.flatnonzero((rank < 1) | (rank > sizes[row_of]))
    if out_of_range.size:
        r = int(row_of[out_of_range[0]])
        raise ValueError(f"{where(r)}: ranks must be 1..{sizes[r]}, got {rank[row_of == r].tolist()}")
    # k distinct ranks in 1..k are a permutation: a repeated rank is a tie.
    for key, what in ((row_of * (width + 1) + rank, "tie: two responses share a rank"),
                      (row_of * width + flat_policy, "a policy appears more than once")):
        dup = _first_duplicate(key)
        if dup is not None:
            raise ValueError(f"{where(int(row_of[dup]))}: {what}; rankings must be strict")

    table_rank = np.full((n, len(policies)), -1, dtype=np.int16)
    table_rank[row_of, flat_policy] = rank - 1
    table_length = np.full((n, len(policies)), np.nan)
    if length is not None:
        length = np.asarray(length, dtype=float)
        if length.size != rank.size or np.any(length < 0):
            raise ValueError("ranking lengths must be non-negative numbers (NaN when unknown), one per ranked response")
        table_length[row_of, flat_policy] = length

    prompt, prompts = _codes(prompt_ids)
    item, items = _codes(item_ids)
    rater, raters = _codes(rater_ids)
    dup = _first_duplicate(item * max(len(raters), 1) + rater)
    if dup is not None:
        raise ValueError(
            f"rater {rater_ids[dup]!r} ranked item {item_ids[dup]!r} more than once; keep one ranking per rater and item"
        )
    _check_item_prompt(item, prompt, items, "rankings")
    return RankingTable(policies, prompts, items, raters, table_rank, table_length, prompt, item, rater)


def encode_harm_labels(labels: Iterable[HarmLabel | Mapping[str, Any]]) -> HarmTable:
    """Encode harm labels once into a :class:`HarmTable`.

    Raises ``ValueError`` if a rater labelled the same policy's response to an item twice.
    """
    labels = as_harm_labels(labels)
    return encode_harm_columns(
        [lab.item_id for lab in labels], [lab.prompt_id for lab in labels], [lab.rater_id for lab in labels],
        [lab.policy for lab in labels], [lab.harmless for lab in labels],
    )


def encode_harm_columns(item_ids: Column, prompt_ids: Column, rater_ids: Column,
                        policy_names: Sequence[str] | Coded, harmless: Sequence[bool] | np.ndarray) -> HarmTable:
    """The same table from five aligned columns (one entry per label), with the same checks,
    for callers that read labels from a database and need not build one object per label.
    ``policy_names`` may be :class:`Coded`; ``harmless`` may be a bool array."""
    n = len(policy_names.codes) if isinstance(policy_names, Coded) else len(policy_names)
    if not all(len(column) == n for column in (item_ids, prompt_ids, rater_ids, harmless)):
        raise ValueError("harm label columns must all have the same length")
    policies, policy = _policy_column(policy_names, "harm labels")
    if isinstance(harmless, np.ndarray) and harmless.dtype == bool:
        harm = harmless
    else:
        if not all(isinstance(v, (bool, np.bool_)) for v in set(harmless)):
            raise ValueError("harm labels: harmless must be True or False")
        harm = np.fromiter((bool(v) for v in harmless), dtype=bool, count=n)
    prompt, prompts = _codes(prompt_ids)
    item, items = _codes(item_ids)
    rater, raters = _codes(rater_ids)
    key = (item * max(len(raters), 1) + rater) * max(len(policies), 1) + policy
    dup = _first_duplicate(key)
    if dup is not None:
        raise ValueError(
            f"rater {rater_ids[dup]!r} labelled policy {policies[policy[dup]]!r} on item {item_ids[dup]!r} more than once"
        )
    _check_item_prompt(item, prompt, items, "harm labels")
    return HarmTable(policies, prompts, items, raters, policy, harm, prompt, item, rater)


def ensure_ranking_table(rankings: RankingsInput) -> RankingTable:
    """Pass a :class:`RankingTable` through; encode anything else."""
    return rankings if isinstance(rankings, RankingTable) else encode_rankings(rankings)


def ensure_harm_table(labels: HarmInput) -> HarmTable:
    """Pass a :class:`HarmTable` through; encode anything else."""
    return labels if isinstance(labels, HarmTable) else encode_harm_labels(labels)
