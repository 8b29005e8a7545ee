"""Harmless rates per policy and two-proportion z-tests between policies.

Harmless rate (SPEC §4): raters judge each response on its own; the rate of a policy is the
share of its labels judged harmless, ``rate = #harmless / #labels``. Every label counts once
(a response labelled by three raters contributes three labels), which is what the paper
reports; the Wilson interval treats labels as independent Bernoulli draws.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import combinations

import numpy as np
from scipy import special

from ._common import Interval, Serializable, wilson_interval
from .crossed import Crossed
from .exact import EXACT_BELOW, permutation_p
from .significance import holm
from .tables import HarmInput, HarmTable, ensure_harm_table

__all__ = [
    "HarmlessRate",
    "ProportionTest",
    "harmless_rates",
    "two_proportion_z_test",
    "compare_harmless",
    "harmless_tests",
]

NAN = float("nan")


@dataclass(frozen=True)
class HarmlessRate(Serializable):
    """``harmless`` of ``n`` labels of ``policy`` were harmless; Wilson interval on the share."""

    policy: str
    harmless: int
    n: int
    rate: float
    wilson: Interval
    crossed: Crossed | None = None


@dataclass(frozen=True)
class ProportionTest(Serializable):
    """Two-proportion z-test of harmless rates, ``difference = rate_a − rate_b``; ``p_value`` is the
    exact permutation test's instead when a policy has fewer than ``EXACT_BELOW`` labels or every
    label of the two is the same (the z-test would say NaN or near 0 from a handful of labels)."""

    a: str
    b: str
    rate_a: float
    rate_b: float
    difference: float
    z: float
    p_value: float
    p_holm: float = NAN
    crossed: Crossed | None = None


def two_proportion_z_test(k1: float, n1: float, k2: float, n2: float) -> tuple[float, float]:
    """Pooled two-proportion z-test, two-sided. Returns ``(z, p)``.

    ``p̄ = (k₁ + k₂)/(n₁ + n₂)``, ``z = (k₁/n₁ − k₂/n₂) / √(p̄(1 − p̄)(1/n₁ + 1/n₂))``,
    ``p = 2·Φ(−|z|)``. Undefined (NaN) when a group is empty or ``p̄`` is 0 or 1.
    """
    if n1 <= 0 or n2 <= 0:
        return NAN, NAN
    pooled = (k1 + k2) / (n1 + n2)
    se = np.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
    if se == 0:
        return NAN, NAN
    z = (k1 / n1 - k2 / n2) / se
    return float(z), float(2.0 * special.ndtr(-abs(z)))


def _counts(table: HarmTable) -> tuple[np.ndarray, np.ndarray]:
    p = len(table.policies)
    harmless = np.bincount(table.policy[table.harmless], minlength=p)
    n = np.bincount(table.policy, minlength=p)
    return harmless, n


def harmless_rates(labels: HarmInput, *, confidence: float = 0.95) -> tuple[HarmlessRate, ...]:
    """Harmless rate of every policy (sorted by name) with a Wilson interval."""
    table = ensure_harm_table(labels)
    harmless, n = _counts(table)
    low, high = wilson_interval(harmless, n, confidence)
    return tuple(
        HarmlessRate(name, int(harmless[j]), int(n[j]), float(harmless[j] / n[j]) if n[j] else NAN,
                     Interval(float(low[j]), float(high[j])))
        for j, name in enumerate(table.policies)
    )


def _test(table: HarmTable, harmless: np.ndarray, n: np.ndarray, a: str, b: str) -> ProportionTest:
    i, j = table.index(a), table.index(b)
    z, p = two_proportion_z_test(harmless[i], n[i], harmless[j], n[j])
    alike = harmless[i] + harmless[j] in (0, n[i] + n[j])  # every label the same: z is 0/0
    if min(n[i], n[j]) < EXACT_BELOW or alike:
        p = permutation_p(harmless[i], n[i], harmless[j], n[j])
    ra = harmless[i] / n[i] if n[i] else NAN
    rb = harmless[j] / n[j] if n[j] else NAN
    return ProportionTest(a, b, float(ra), float(rb), float(ra - rb), z, p, p)


def compare_harmless(labels: HarmInput, a: str, b: str) -> ProportionTest:
    """Two-proportion z-test of the harmless rates of ``a`` and ``b`` (no multiplicity adjustment)."""
    table = ensure_harm_table(labels)
    return _test(table, *_counts(table), a, b)


def harmless_tests(labels: HarmInput) -> tuple[ProportionTest, ...]:
    """z-tests for every unordered pair of policies, Holm-adjusted over the family."""
    table = ensure_harm_table(labels)
    harmless, n = _counts(table)
    rows = [_test(table, harmless, n, a, b) for a, b in combinations(table.policies, 2)]
    adjusted = holm([r.p_value for r in rows])
    return tuple(replace(r, p_holm=float(p)) for r, p in zip(rows, adjusted))
