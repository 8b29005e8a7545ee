"""Sample-size planning for win-rate experiments (two-sided tests, normal approximation).

One-sample design — test a head-to-head win rate ``p₁`` against ``p₀`` (50 %)::

    n = ( z_{1−α/2}·√(p₀q₀) + z_{1−β}·√(p₁q₁) )² / (p₁ − p₀)²          (q = 1 − p)

Two-sample design — compare win rates ``p₁`` and ``p₂`` (e.g. RLAIF-vs-SFT against
RLHF-vs-SFT) with ``n`` outcomes in each group, pooled ``p̄ = (p₁ + p₂)/2``::

    n = ( z_{1−α/2}·√(2p̄q̄) + z_{1−β}·√(p₁q₁ + p₂q₂) )² / (p₁ − p₂)²

Power for a given ``n`` inverts these, counting both rejection tails; for the one-sample
design ``power = Φ((√n·|Δ| − z·√(p₀q₀))/√(p₁q₁)) + Φ((−√n·|Δ| − z·√(p₀q₀))/√(p₁q₁))``.

``n`` counts independent 0/1 outcomes (rated items, one rater each). When several raters rate
the same item, or items share prompts, multiply by the design effect ``1 + (m − 1)·ρ``
(``m`` ratings per cluster, ``ρ`` intra-cluster correlation) via ``design_effect``.
The t-tests actually run on the data agree with this z-approximation for n above ~30.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from scipy import special

from ._common import Serializable

__all__ = [
    "PowerPlan",
    "sample_size_one_sample",
    "power_one_sample",
    "sample_size_two_sample",
    "power_two_sample",
    "plan_sample_size",
]


def _check(alpha: float, p: float, name: str) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie strictly between 0 and 1, got {alpha!r}")
    if not 0.0 < p < 1.0:
        raise ValueError(f"{name} must lie strictly between 0 and 1, got {p!r}")


def _z(q: float) -> float:
    return float(special.ndtri(q))


def sample_size_one_sample(p1: float, p0: float = 0.5, *, alpha: float = 0.05, power: float = 0.8,
                           design_effect: float = 1.0) -> int:
    """Rated items needed to detect win rate ``p1`` against ``p0`` with the given power (rounded up)."""
    _check(alpha, p1, "p1")
    _check(alpha, p0, "p0")
    _check(alpha, power, "power")
    if p1 == p0:
        raise ValueError("p1 equals p0: no effect to detect")
    top = _z(1 - alpha / 2) * math.sqrt(p0 * (1 - p0)) + _z(power) * math.sqrt(p1 * (1 - p1))
    return math.ceil(design_effect * (top / (p1 - p0)) ** 2)


def power_one_sample(p1: float, n: float, p0: float = 0.5, *, alpha: float = 0.05, design_effect: float = 1.0) -> float:
    """Power of the two-sided one-sample test of ``p0`` when the true win rate is ``p1``."""
    _check(alpha, p1, "p1")
    _check(alpha, p0, "p0")
    n_eff = n / design_effect
    if n_eff <= 0:
        return float("nan")
    shift = math.sqrt(n_eff) * abs(p1 - p0)
    crit = _z(1 - alpha / 2) * math.sqrt(p0 * (1 - p0))
    sd = math.sqrt(p1 * (1 - p1))
    return float(special.ndtr((shift - crit) / sd) + special.ndtr((-shift - crit) / sd))


def sample_size_two_sample(p1: float, p2: float, *, alpha: float = 0.05, power: float = 0.8,
                           design_effect: float = 1.0) -> int:
    """Rated items needed *per group* to tell win rates ``p1`` and ``p2`` apart (rounded up)."""
    _check(alpha, p1, "p1")
    _check(alpha, p2, "p2")
    _check(alpha, power, "power")
    if p1 == p2:
        raise ValueError("p1 equals p2: no effect to detect")
    pbar = (p1 + p2) / 2
    top = _z(1 - alpha / 2) * math.sqrt(2 * pbar * (1 - pbar)) + _z(power) * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil(design_effect * (top / (p1 - p2)) ** 2)


def power_two_sample(p1: float, p2: float, n: float, *, alpha: float = 0.05, design_effect: float = 1.0) -> float:
    """Power of the two-sided two-sample comparison with ``n`` rated items per group."""
    _check(alpha, p1, "p1")
    _check(alpha, p2, "p2")
    n_eff = n / design_effect
    if n_eff <= 0:
        return float("nan")
    pbar = (p1 + p2) / 2
    shift = math.sqrt(n_eff) * abs(p1 - p2)
    crit = _z(1 - alpha / 2) * math.sqrt(2 * pbar * (1 - pbar))
    sd = math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return float(special.ndtr((shift - crit) / sd) + special.ndtr((-shift - crit) / sd))


@dataclass(frozen=True)
class PowerPlan(Serializable):
    """A planned comparison: ``n`` rated items (per group for ``two-sample``) and the power they give."""

    design: str
    p1: float
    p0: float
    alpha: float
    target_power: float
    design_effect: float
    n: int
    achieved_power: float


def plan_sample_size(p1: float, p0: float = 0.5, *, two_sample: bool = False, alpha: float = 0.05,
                     power: float = 0.8, design_effect: float = 1.0) -> PowerPlan:
    """Sample size for the planned effect, and the power that rounded-up ``n`` achieves.

    One-sample: ``p1`` against ``p0``. Two-sample: win rate ``p1`` against win rate ``p0``.
    """
    if two_sample:
        n = sample_size_two_sample(p1, p0, alpha=alpha, power=power, design_effect=design_effect)
        achieved = power_two_sample(p1, p0, n, alpha=alpha, design_effect=design_effect)
    else:
        n = sample_size_one_sample(p1, p0, alpha=alpha, power=power, design_effect=design_effect)
        achieved = power_one_sample(p1, n, p0, alpha=alpha, design_effect=design_effect)
    return PowerPlan("two-sample" if two_sample else "one-sample", p1, p0, alpha, power, design_effect, n, achieved)
