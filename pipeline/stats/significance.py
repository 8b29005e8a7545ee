"""Significance tests used on win rates: t-tests (one-sample, Student, Welch, paired) and Holm.

The RLAIF paper tests a head-to-head win rate against 50 % and compares two win rates with
two-sample t-tests on the 0/1 outcomes. A win rate is the mean of 0/1 outcomes, so every test
here also has a ``*_counts`` form that works from ``(wins, n)`` without materialising the
outcomes: for 0/1 data the sample variance is ``s² = n·p̂(1 − p̂)/(n − 1)``.

Conventions follow ``scipy.stats`` (two-sided p-values; a zero-variance sample whose mean
differs from the null gives ``t = ±inf, p = 0``; equal means give NaN). The report never shows
such a p = 0: it calls the small-sample-safe forms (``win_test_counts``,
``two_sample_win_test``, ``prompt_t_test``, ``paired_prompt_t_test``), which switch to the exact
tests of :mod:`pipeline.stats.exact` for few outcomes, few prompts or no variance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from ._common import Serializable
from .exact import EXACT_BELOW, MIN_PROMPTS, binomial_p, permutation_p, sign_test

__all__ = [
    "TTest",
    "t_test_one_sample",
    "t_test_one_sample_counts",
    "t_test_two_sample",
    "t_test_two_sample_counts",
    "t_test_paired",
    "paired_prompt_t_test",
    "prompt_t_test",
    "win_test_counts",
    "two_sample_win_test",
    "holm",
]

NAN = float("nan")
EXACT_BINOMIAL = "exact binomial"
EXACT_SIGN = "exact sign test over prompts"
EXACT_PERMUTATION = "exact permutation"


@dataclass(frozen=True)
class TTest(Serializable):
    """Result of a t-test: ``estimate`` is the mean difference being tested (vs the null)."""

    kind: str
    estimate: float
    statistic: float
    df: float
    p_value: float
    n1: int
    n2: int = 0


def _t_from(diff: float, se: float, df: float) -> tuple[float, float]:
    """``t = diff / se`` and its two-sided p-value ``2·P(T_df > |t|)``, scipy's edge cases kept."""
    if not (df > 0) or not np.isfinite(diff) or not np.isfinite(se):
        return float("nan"), float("nan")
    if se == 0.0:
        if diff == 0.0:
            return float("nan"), float("nan")
        return float(np.copysign(np.inf, diff)), 0.0
    t = diff / se
    # stdtr(df, -|t|) is the lower tail of Student's t; doubling it gives the two-sided p.
    return float(t), float(min(1.0, 2.0 * special.stdtr(df, -abs(t))))


def _moments(x: ArrayLike) -> tuple[int, float, float]:
    x = np.asarray(x, dtype=float).ravel()
    n = x.size
    if n == 0:
        return 0, float("nan"), float("nan")
    mean = float(x.mean())
    var = float(x.var(ddof=1)) if n > 1 else float("nan")
    return n, mean, var


def _binary_moments(wins: float, n: float) -> tuple[int, float, float]:
    """Mean and sample variance of ``n`` 0/1 outcomes with ``wins`` ones."""
    n = int(n)
    if n == 0:
        return 0, float("nan"), float("nan")
    p = wins / n
    var = n * p * (1.0 - p) / (n - 1) if n > 1 else float("nan")
    return n, p, var


def _one_sample(n: int, mean: float, var: float, popmean: float) -> TTest:
    """``t = (x̄ − μ₀) / (s/√n)`` with ``n − 1`` degrees of freedom."""
    se = float(np.sqrt(var / n)) if n > 1 else float("nan")
    t, p = _t_from(mean - popmean, se, n - 1)
    return TTest("one-sample", mean - popmean, t, float(n - 1), p, n)


def t_test_one_sample(x: ArrayLike, popmean: float = 0.5) -> TTest:
    """One-sample t-test of ``mean(x)`` against ``popmean`` (default 50 % for win outcomes)."""
    n, mean, var = _moments(x)
    return _one_sample(n, mean, var, popmean)


def t_test_one_sample_counts(wins: float, n: int, popmean: float = 0.5) -> TTest:
    """:func:`t_test_one_sample` on ``n`` 0/1 outcomes of which ``wins`` are 1."""
    n, mean, var = _binary_moments(wins, n)
    return _one_sample(n, mean, var, popmean)


def _two_sample(n1: int, m1: float, v1: float, n2: int, m2: float, v2: float, equal_var: bool) -> TTest:
    """Student (pooled) or Welch two-sample t-test of ``m1 − m2``.

    Student: ``s_p² = ((n₁−1)s₁² + (n₂−1)s₂²)/(n₁+n₂−2)``, ``se = s_p·√(1/n₁ + 1/n₂)``,
    ``df = n₁ + n₂ − 2``.  Welch: ``se = √(s₁²/n₁ + s₂²/n₂)``, Welch–Satterthwaite
    ``df = se⁴ / ((s₁²/n₁)²/(n₁−1) + (s₂²/n₂)²/(n₂−1))``.
    """
    diff = m1 - m2
    if n1 < 2 or n2 < 2:
        return TTest("student" if equal_var else "welch", diff, float("nan"), float("nan"), float("nan"), n1, n2)
    if equal_var:
        df = float(n1 + n2 - 2)
        pooled = ((n1 - 1) * v1 + (n2 - 1) * v2) / df
        se = float(np.sqrt(pooled * (1.0 / n1 + 1.0 / n2)))
        kind = "student"
    else:
        a, b = v1 / n1, v2 / n2
        se = float(np.sqrt(a + b))
        denom = a * a / (n1 - 1) + b * b / (n2 - 1)
        # Both variances zero makes the Welch df 0/0; t is ±inf or NaN then, so any df will do.
        df = float((a + b) ** 2 / denom) if denom > 0 else float(n1 + n2 - 2)
        kind = "welch"
    t, p = _t_from(diff, se, df)
    return TTest(kind, diff, t, df, p, n1, n2)


def t_test_two_sample(x: ArrayLike, y: ArrayLike, equal_var: bool = True) -> TTest:
    """Two-sample t-test of ``mean(x) − mean(y)``: Student when ``equal_var``, else Welch."""
    return _two_sample(*_moments(x), *_moments(y), equal_var)


def t_test_two_sample_counts(wins1: float, n1: int, wins2: float, n2: int, equal_var: bool = True) -> TTest:
    """:func:`t_test_two_sample` on two sets of 0/1 outcomes given as ``(wins, n)``.

    This is how the paper compares e.g. the RLAIF-vs-SFT win rate with the RLHF-vs-SFT one.
    Note it treats the two sets as independent; when they come from the same rankings the
    paired test on shared prompts (:func:`paired_prompt_t_test`) is the more honest one.
    """
    return _two_sample(*_binary_moments(wins1, n1), *_binary_moments(wins2, n2), equal_var)


def t_test_paired(x: ArrayLike, y: ArrayLike) -> TTest:
    """Paired t-test: one-sample t-test of ``d = x − y`` against 0 (``df = n − 1``)."""
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    if x.shape != y.shape:
        raise ValueError(f"paired samples must have the same length, got {x.size} and {y.size}")
    n, mean, var = _moments(x - y)
    res = _one_sample(n, mean, var, 0.0)
    return TTest("paired", res.estimate, res.statistic, res.df, res.p_value, n, n)


def paired_prompt_t_test(wins1: ArrayLike, n1: ArrayLike, wins2: ArrayLike, n2: ArrayLike) -> TTest:
    """Paired t-test of two win rates on the prompts both were measured on.

    Arguments are per-prompt arrays aligned by prompt: ``wins1[p]`` wins out of ``n1[p]``
    comparisons for the first pairing, likewise for the second. A prompt counts when both
    ``n1[p] > 0`` and ``n2[p] > 0``; its value is the per-prompt mean win ``wins/n`` of each
    comparison, and the test is :func:`t_test_paired` over those prompts, or the exact sign
    test of the differences with fewer than ``MIN_PROMPTS`` prompts or no variance.
    """
    wins1, n1, wins2, n2 = (np.asarray(a, dtype=float) for a in (wins1, n1, wins2, n2))
    shared = (n1 > 0) & (n2 > 0)
    x, y = wins1[shared] / n1[shared], wins2[shared] / n2[shared]
    res = t_test_paired(x, y)
    return _exact_over_prompts(res, x - y, 0.0)


def prompt_t_test(wins: ArrayLike, n: ArrayLike, popmean: float = 0.5) -> TTest:
    """One-sample t-test of the per-prompt win shares ``wins[p]/n[p]`` against ``popmean``,
    over the prompts with ``n[p] > 0`` (``df`` = prompts − 1).

    The prompt is the unit: the rankings of one prompt (several raters of one item) share its
    responses and are not independent, so a test over single rankings rejects a true 50 %
    too often when raters agree; this one keeps its level (tests/stats/test_the_per_prompt_test_keeps_its_level_when_raters_share_items.py).
    With fewer than ``MIN_PROMPTS`` prompts, or every prompt's share the same, it is the exact
    sign test over prompts instead (3 unanimous prompts: p = 0.25, not 0).
    """
    wins, n = np.asarray(wins, dtype=float).ravel(), np.asarray(n, dtype=float).ravel()
    rated = n > 0
    shares = wins[rated] / n[rated]
    return _exact_over_prompts(t_test_one_sample(shares, popmean), shares, popmean)


def _exact_over_prompts(res: TTest, values: np.ndarray, null: float) -> TTest:
    """``res``, or the exact sign test of ``values`` against ``null`` with fewer than
    ``MIN_PROMPTS`` prompts or when every prompt's value is the same (no variance: t = ±inf)."""
    if values.size == 0 or (values.size >= MIN_PROMPTS and np.ptp(values) > 0):
        return res
    return TTest(EXACT_SIGN, res.estimate, NAN, NAN, sign_test(values, null), res.n1, res.n2)


def win_test_counts(wins: float, n: int, popmean: float = 0.5) -> TTest:
    """The paper's one-sample t-test of ``wins`` of ``n`` 0/1 outcomes against ``popmean``, or the
    exact binomial test below ``EXACT_BELOW`` outcomes or when all outcomes agree (4 wins of 4:
    p = 0.125, where the t-test says 0)."""
    res = t_test_one_sample_counts(wins, n, popmean)
    if n <= 0 or (n >= EXACT_BELOW and 0 < wins < n):
        return res
    return TTest(EXACT_BINOMIAL, res.estimate, NAN, NAN, binomial_p(round(wins), int(n), popmean), int(n))


def two_sample_win_test(wins1: float, n1: int, wins2: float, n2: int, equal_var: bool = True) -> TTest:
    """The paper's Student (or Welch) test of two sets of 0/1 outcomes, or the exact permutation
    test when a group has fewer than ``EXACT_BELOW`` outcomes or neither group varies."""
    res = t_test_two_sample_counts(wins1, n1, wins2, n2, equal_var)
    varies = (0 < wins1 < n1) or (0 < wins2 < n2)
    if n1 <= 0 or n2 <= 0 or (min(n1, n2) >= EXACT_BELOW and varies):
        return res
    return TTest(EXACT_PERMUTATION, res.estimate, NAN, NAN, permutation_p(wins1, n1, wins2, n2), int(n1), int(n2))


def holm(pvalues: ArrayLike) -> np.ndarray:
    """Holm–Bonferroni step-down adjusted p-values (controls the family-wise error rate).

    With the ``m`` p-values sorted ascending ``p₍₁₎ ≤ … ≤ p₍ₘ₎``::

        p̃₍ᵢ₎ = min(1, max_{j ≤ i} (m − j + 1)·p₍ⱼ₎)

    returned in the original order. NaN p-values stay NaN and do not count towards ``m``.
    """
    p = np.asarray(pvalues, dtype=float).ravel()
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    scaled = (m - np.arange(m)) * p[order]
    out[order] = np.minimum(1.0, np.maximum.accumulate(scaled))
    return out
