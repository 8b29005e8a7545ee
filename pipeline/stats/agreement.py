"""Inter-rater agreement: Krippendorff's alpha, percent agreement, agreement with the majority.

Krippendorff's alpha in coincidence-matrix form. Let ``h_uc`` count the raters who gave value
``c`` to unit ``u`` and ``m_u = Σ_c h_uc``; only units with ``m_u ≥ 2`` are pairable. Then ::

    o_ck = Σ_u (h_uc·h_uk − [c = k]·h_uc) / (m_u − 1)      coincidences
    n_c  = Σ_k o_ck,   n = Σ_c n_c
    α    = 1 − (n − 1)·Σ_ck o_ck δ²_ck / Σ_ck n_c n_k δ²_ck

with ``δ²_ck = [c ≠ k]`` (nominal) or, for ordered values,
``δ²_ck = (Σ_{g=c..k} n_g − (n_c + n_k)/2)²`` (ordinal).

Units: for rankings a unit is ``(item, policy)`` and its values are the rank positions raters
gave that policy within that item (ordinal); for harm labels a unit is ``(item, policy)`` and
its values harmless/harmful (nominal).
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ._common import Serializable
from .tables import HarmInput, RankingsInput, ensure_harm_table, ensure_ranking_table

__all__ = [
    "AgreementStats",
    "RaterAgreement",
    "krippendorff_alpha",
    "alpha_from_codes",
    "percent_agreement",
    "rater_majority_agreement",
    "ranking_agreement",
    "harm_agreement",
]

NAN = float("nan")
LEVELS = ("nominal", "ordinal")


def _unit_value_counts(unit: np.ndarray, value: np.ndarray, n_units: int, n_values: int) -> np.ndarray:
    """``h[u, c]``: how many raters gave value ``c`` to unit ``u``."""
    flat = np.bincount(unit * n_values + value, minlength=n_units * n_values)
    return flat.reshape(n_units, n_values).astype(float)


def _delta2(n_c: np.ndarray, level: str) -> np.ndarray:
    k = n_c.size
    if level == "nominal":
        return 1.0 - np.eye(k)
    if level == "ordinal":
        cum = np.cumsum(n_c)
        lo = np.minimum.outer(np.arange(k), np.arange(k))
        hi = np.maximum.outer(np.arange(k), np.arange(k))
        # Σ_{g=lo..hi} n_g = cum[hi] − cum[lo] + n_lo
        between = cum[hi] - cum[lo] + n_c[lo]
        return (between - (n_c[:, None] + n_c[None, :]) / 2.0) ** 2
    raise ValueError(f"level must be one of {LEVELS}, got {level!r}")


def _alpha_from_counts(h: np.ndarray, level: str) -> float:
    m = h.sum(axis=1)
    h = h[m >= 2]
    m = m[m >= 2]
    if h.shape[0] == 0:
        return NAN
    scaled = h / (m - 1)[:, None]
    o = scaled.T @ h - np.diag(scaled.sum(axis=0))
    n_c = o.sum(axis=1)
    n = n_c.sum()
    d2 = _delta2(n_c, level)
    expected = (np.outer(n_c, n_c) * d2).sum()
    if expected == 0:
        # Every pairable value identical: no variation to agree or disagree about.
        return NAN
    return float(1.0 - (n - 1.0) * (o * d2).sum() / expected)


def alpha_from_codes(unit: ArrayLike, value: ArrayLike, level: str = "nominal", *, n_values: int | None = None) -> float:
    """Krippendorff's alpha from one ``(unit, value)`` pair per rating.

    ``unit`` are integer unit codes, ``value`` integer codes whose order is the order of the
    values (only relevant for ``ordinal``).
    """
    unit = np.asarray(unit, dtype=np.int64)
    value = np.asarray(value, dtype=np.int64)
    if unit.size == 0:
        return NAN
    n_values = int(value.max()) + 1 if n_values is None else n_values
    return _alpha_from_counts(_unit_value_counts(unit, value, int(unit.max()) + 1, n_values), level)


def krippendorff_alpha(reliability_data: ArrayLike, level: str = "nominal") -> float:
    """Krippendorff's alpha of a ``raters × units`` matrix with NaN for missing ratings.

    Same layout as ``krippendorff.alpha(reliability_data=...)``; the value domain is the set
    of values present, in sorted order.
    """
    data = np.asarray(reliability_data, dtype=float)
    if data.ndim != 2:
        raise ValueError("reliability_data must be a 2-D raters × units array")
    rater_idx, unit_idx = np.nonzero(~np.isnan(data))
    domain, codes = np.unique(data[rater_idx, unit_idx], return_inverse=True)
    return alpha_from_codes(unit_idx, codes, level, n_values=domain.size)


def percent_agreement(unit: ArrayLike, value: ArrayLike) -> float:
    """Share of agreeing pairs among all pairs of ratings of the same unit by different raters.

    ``Σ_u Σ_c h_uc(h_uc − 1) / Σ_u m_u(m_u − 1)``; NaN when no unit has two ratings.
    """
    unit = np.asarray(unit, dtype=np.int64)
    value = np.asarray(value, dtype=np.int64)
    if unit.size == 0:
        return NAN
    h = _unit_value_counts(unit, value, int(unit.max()) + 1, int(value.max()) + 1)
    m = h.sum(axis=1)
    pairs = (m * (m - 1)).sum()
    return float((h * (h - 1)).sum() / pairs) if pairs else NAN


@dataclass(frozen=True)
class RaterAgreement(Serializable):
    """How often ``rater`` agreed with the majority of the other raters of the same unit.

    ``n`` counts the rater's ratings whose unit had other raters with a unique majority value.
    """

    rater: object
    n: int
    agreement: float


def rater_majority_agreement(unit: ArrayLike, value: ArrayLike, rater: ArrayLike, raters: tuple[Hashable, ...]) -> tuple[RaterAgreement, ...]:
    """Leave-one-out majority agreement per rater.

    For each rating, the majority is the most frequent value among the *other* raters of the
    unit (``h_u − e_own``). Ratings whose unit has no other rater, or whose leave-one-out
    majority is tied, are skipped — a tie has no majority to agree with.
    """
    unit = np.asarray(unit, dtype=np.int64)
    value = np.asarray(value, dtype=np.int64)
    rater = np.asarray(rater, dtype=np.int64)
    if unit.size == 0:
        return tuple(RaterAgreement(r, 0, NAN) for r in raters)
    n_values = int(value.max()) + 1
    h = _unit_value_counts(unit, value, int(unit.max()) + 1, n_values)
    # The verdict depends only on (unit, own value), so decide it once per cell of h rather
    # than once per rating: others[u, v, :] = h[u, :] − e_v.
    others = h[:, None, :] - np.eye(n_values)[None, :, :]
    top = others.max(axis=2)
    usable_uv = (top > 0) & ((others == top[:, :, None]).sum(axis=2) == 1)
    agree_uv = usable_uv & (np.diagonal(others, axis1=1, axis2=2) == top)
    usable = usable_uv[unit, value]
    agree = agree_uv[unit, value]
    n = np.bincount(rater[usable], minlength=len(raters))
    k = np.bincount(rater[agree], minlength=len(raters))
    return tuple(
        RaterAgreement(r, int(n[i]), float(k[i] / n[i]) if n[i] else NAN) for i, r in enumerate(raters)
    )


@dataclass(frozen=True)
class AgreementStats(Serializable):
    """Agreement summary for one kind of judgement.

    ``alpha`` is Krippendorff's alpha at ``level``; ``percent_agreement`` the share of agreeing
    rater pairs; ``majority_agreement`` the pooled leave-one-out majority agreement;
    ``raters`` the per-rater version of it.
    """

    level: str
    alpha: float
    percent_agreement: float
    majority_agreement: float
    n_units: int
    n_pairable_units: int
    n_ratings: int
    raters: tuple[RaterAgreement, ...]


def _stats(unit: np.ndarray, value: np.ndarray, rater: np.ndarray, raters: tuple[Hashable, ...], n_units: int, level: str) -> AgreementStats:
    per_rater = rater_majority_agreement(unit, value, rater, raters)
    used = sum(r.n for r in per_rater)
    agreed = sum(r.agreement * r.n for r in per_rater if r.n)
    if unit.size:
        m = np.bincount(unit, minlength=n_units)
        pairable = int((m >= 2).sum())
        n_values = int(value.max()) + 1
        alpha = _alpha_from_counts(_unit_value_counts(unit, value, n_units, n_values), level)
    else:
        pairable, alpha = 0, NAN
    return AgreementStats(level, alpha, percent_agreement(unit, value), float(agreed / used) if used else NAN,
                          int(np.unique(unit).size), pairable, int(unit.size), per_rater)


def ranking_agreement(rankings: RankingsInput) -> AgreementStats:
    """Ordinal alpha on rank positions, units ``(item, policy)``; plus percent/majority agreement."""
    table = ensure_ranking_table(rankings)
    k = len(table.policies)
    row, col = np.nonzero(table.rank >= 0)
    unit = table.item[row] * k + col
    value = table.rank[row, col].astype(np.int64)
    return _stats(unit, value, table.rater[row], table.raters, len(table.items) * k, "ordinal")


def harm_agreement(labels: HarmInput) -> AgreementStats:
    """Nominal alpha on harmless/harmful, units ``(item, policy)``; plus percent/majority agreement."""
    table = ensure_harm_table(labels)
    k = max(len(table.policies), 1)
    unit = table.item * k + table.policy
    value = table.harmless.astype(np.int64)
    return _stats(unit, value, table.rater, table.raters, len(table.items) * k, "nominal")
