"""Exact small-sample tests and intervals: what the report uses when a sample is too small (or too
unanimous) for a large-sample formula to mean anything.

A t-test or z-test on 4 wins of 4 divides by a zero standard deviation and says p = 0; a
percentile bootstrap of 3 unanimous prompts says [100 %, 100 %]. Neither is a statement a finite
sample supports. The replacements here are exact, never give p = 0 or a zero-width interval from
a finite sample, and need nothing but the counts:

* ``binomial_p`` — two-sided exact binomial test of ``k`` successes in ``n`` against ``p0``
  (scipy's convention: the total probability of outcomes no more likely than the observed one).
  4 wins of 4 against 50 % gives 2 x 0.5⁴ = 0.125.
* ``sign_test`` — exact sign test over prompts: the binomial test of how many per-prompt values
  lie above the null among those that differ from it (a prompt is one unit however many raters
  it has: the design effect at its worst).
* ``permutation_p`` — exact two-sample permutation test of two sets of 0/1 outcomes ``k₁/n₁``
  vs ``k₂/n₂``: relabelling the pooled outcomes puts ``X ~ Hypergeometric(n₁ + n₂, k₁ + k₂, n₁)``
  wins in the first group, and the difference of means grows with ``X``, so the two-sided p is
  ``min(1, 2·min(P(X ≤ k₁), P(X ≥ k₁)))``, scipy.stats.permutation_test's definition, with the
  whole permutation distribution summed instead of sampled.
* ``clopper_pearson`` — the exact (Clopper–Pearson) interval of ``k`` of ``n`` from Beta quantiles
  (``k`` may be non-integer, e.g. a rate times a number of prompts).

When the report uses them (``EXACT_BELOW``): the paper's t- and z-tests on outcomes switch to the
exact test below 30 outcomes per group, or whenever a group has no variance. Measured on the
one-sample test of a true 50 % (every outcome of n Bernoulli(½) draws enumerated): the t-test
rejects 6.2 % at n = 5 and 7.0 % at n = 8 at a nominal 5 %, and it gives p = 0 to any unanimous
sample; from n = 10 to 40 the two tests reject the same outcomes (2-4 %), so the exact test costs
no power where the t-test is fine, and 30 leaves a margin. Tests over prompts (one value per
prompt) switch below ``MIN_PROMPTS`` (10) prompts, as the crossed statistics do, or when every
prompt's value is the same.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from ._common import Interval

__all__ = ["EXACT_BELOW", "MIN_PROMPTS", "binomial_p", "sign_test", "permutation_p", "clopper_pearson"]

#: Below this many outcomes in a group, the paper's t- and z-tests give way to exact tests.
EXACT_BELOW = 30
#: Below this many prompts, tests and intervals over prompts are exact (and the crossed ones too).
MIN_PROMPTS = 10
NAN = float("nan")
# Outcomes whose probability equals the observed one up to rounding count as "as extreme" (scipy's 1 + 1e-7).
_RELATIVE_TIE = 1.0 + 1e-7


def _log_binomial_pmf(n: int, p: float) -> np.ndarray:
    x = np.arange(n + 1, dtype=float)
    with np.errstate(divide="ignore"):
        return (special.gammaln(n + 1) - special.gammaln(x + 1) - special.gammaln(n - x + 1)
                + special.xlogy(x, p) + special.xlog1py(n - x, -p))


def binomial_p(k: int, n: int, p0: float = 0.5) -> float:
    """Two-sided exact binomial p-value of ``k`` successes in ``n`` trials against ``p0``; NaN for ``n = 0``."""
    k, n = int(k), int(n)
    if n <= 0:
        return NAN
    if not 0 <= k <= n:
        raise ValueError(f"successes must lie in 0..{n}, got {k}")
    pmf = np.exp(_log_binomial_pmf(n, p0))
    return float(min(1.0, pmf[pmf <= pmf[k] * _RELATIVE_TIE].sum()))


def sign_test(values: np.ndarray, null: float) -> float:
    """Exact two-sided sign test of per-prompt ``values`` against ``null`` (values equal to it dropped)."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    above, below = int(np.count_nonzero(values > null)), int(np.count_nonzero(values < null))
    return 1.0 if above + below == 0 else binomial_p(above, above + below, 0.5)


def permutation_p(k1: float, n1: float, k2: float, n2: float) -> float:
    """Exact two-sided permutation p-value of ``k₁/n₁ − k₂/n₂`` (0/1 outcomes); NaN if a group is empty."""
    k1, n1, k2, n2 = int(k1), int(n1), int(k2), int(n2)
    if n1 <= 0 or n2 <= 0:
        return NAN
    total, ones = n1 + n2, k1 + k2
    x = np.arange(max(0, ones - n2), min(n1, ones) + 1)
    log_pmf = (special.gammaln(ones + 1) - special.gammaln(x + 1) - special.gammaln(ones - x + 1)
               + special.gammaln(total - ones + 1) - special.gammaln(n1 - x + 1) - special.gammaln(total - ones - n1 + x + 1)
               - special.gammaln(total + 1) + special.gammaln(n1 + 1) + special.gammaln(n2 + 1))
    pmf = np.exp(log_pmf)
    pmf /= pmf.sum()  # rounding only: the hypergeometric sums to 1
    lower, upper = pmf[x <= k1].sum(), pmf[x >= k1].sum()
    return float(min(1.0, 2.0 * min(lower, upper)))


def clopper_pearson(k: float, n: float, confidence: float) -> Interval:
    """Clopper–Pearson interval for ``k`` of ``n`` (``k`` may be non-integer): Beta quantiles; NaN for ``n = 0``."""
    if n <= 0:
        return Interval(NAN, NAN)
    alpha = 1.0 - confidence
    low = 0.0 if k <= 0 else float(special.betaincinv(k, n - k + 1.0, alpha / 2.0))
    high = 1.0 if k >= n else float(special.betaincinv(k + 1.0, n - k, 1.0 - alpha / 2.0))
    return Interval(low, high)
