"""Length control: do raters prefer a policy for its content or for writing longer answers?

For the comparisons of A vs B (rankings containing both, with lengths recorded) we report

* the mean length gap ``mean(len_A − len_B)`` in tokens, with its standard error;
* a length-adjusted win rate: the logistic regression ::

      P(A ranked above B) = σ(β₀ + β₁·(len_A − len_B))

  read at zero length difference, ``σ(β₀)`` — the win rate A would have against an equally
  long B. Its interval shown first (``crossed``) is ``σ(β₀ ± t·se(β₀))`` with the sandwich
  variance of β₀ clustered two ways, by prompt and by rater (each comparison's influence
  ``[H⁻¹ xᵢ(yᵢ − pᵢ)]₀`` summed per cluster, ``crossed.cell_variance``: V_prompts + V_raters −
  V_cells) and Satterthwaite's t, as for the other rates; its test is of β₀ = 0 (50 % at equal
  length). The model-based Wald interval (inverse Fisher information, every comparison
  independent) is kept as ``adjusted_ci``; on the lab's design it covers only 73-82 %.

The fit is Newton–Raphson (IRLS) with step halving on the grouped data (identical
``(difference, outcome)`` pairs are merged with counts, so 100,000 comparisons reduce to a few
hundred rows). When the outcomes are perfectly separated by the length difference — or all
equal — the maximum-likelihood estimate does not exist; we then add a small ridge penalty
(``L2_PENALTY`` on the coefficients of the standardised difference) and say so in ``penalized``.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from ._common import Interval, Serializable, z_quantile
from .crossed import MIN_PROMPTS, TWO_WAY, Crossed, cell_sums, cell_variance, not_computed
from .tables import RankingsInput, RankingTable, ensure_ranking_table

__all__ = ["LogisticFit", "LengthControl", "fit_logistic", "length_control", "length_table", "L2_PENALTY"]

NAN = float("nan")
L2_PENALTY = 0.01


@dataclass(frozen=True)
class LogisticFit(Serializable):
    """``P(y = 1) = σ(intercept + slope·x)``; ``se_*`` from the (penalised) inverse Hessian."""

    intercept: float
    slope: float
    se_intercept: float
    se_slope: float
    n: int
    iterations: int
    converged: bool
    penalized: bool
    note: str


def _separated(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> bool:
    """True when the MLE does not exist: one outcome only, or a threshold splits the outcomes.

    In one dimension (quasi-)complete separation means ``max x[y=0] ≤ min x[y=1]`` or the
    reverse; then the slope runs off to ±∞. Only meaningful when ``x`` varies.
    """
    ones, zeros = x[(y == 1) & (w > 0)], x[(y == 0) & (w > 0)]
    if ones.size == 0 or zeros.size == 0:
        return True
    return bool(zeros.max() <= ones.min() or ones.max() <= zeros.min())


def fit_logistic(x: ArrayLike, y: ArrayLike, weights: ArrayLike | None = None, *, l2: float | None = None, max_iter: int = 100, tol: float = 1e-10) -> LogisticFit:
    """Fit ``y ~ σ(β₀ + β₁x)`` by Newton–Raphson on (optionally count-weighted) data.

    Maximises ``ℓ(β) = Σ wᵢ[yᵢηᵢ − log(1 + e^ηᵢ)] − ½λ‖β̃‖²`` where ``β̃`` are the coefficients
    for ``x`` divided by its RMS (so ``λ`` means the same whatever the unit of ``x``), and
    ``λ = 0`` unless ``l2`` is given or the data are separated (then ``L2_PENALTY``).
    A constant ``x`` fits the intercept alone (slope 0, ``se_slope`` NaN).
    """
    x = np.asarray(x, dtype=float).ravel()
    y = np.asarray(y, dtype=float).ravel()
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float).ravel()
    n = int(round(w.sum()))
    if n == 0:
        return LogisticFit(NAN, NAN, NAN, NAN, 0, 0, False, False, "no data")
    # Scale, do not centre: the intercept must stay the log-odds at zero difference.
    scale = float(np.sqrt(np.average(x * x, weights=w)))
    varies = scale > 0 and np.ptp(x[w > 0]) > 0
    notes = []
    if not varies:
        notes.append("no variation in x: intercept-only fit")
        scale = 1.0
    u = x / scale
    X = np.column_stack([np.ones_like(u), u]) if varies else np.ones((u.size, 1))

    penalized = l2 is not None and l2 > 0
    lam = float(l2) if penalized and l2 is not None else 0.0
    if not penalized and (_separated(u, y, w) if varies else (y[w > 0].min() == y[w > 0].max())):
        penalized, lam = True, L2_PENALTY
        notes.append(f"outcomes perfectly separated: ridge penalty λ={L2_PENALTY:g} on standardised coefficients")

    def objective(beta: np.ndarray) -> float:
        eta = X @ beta
        return float(np.sum(w * (y * eta - np.logaddexp(0.0, eta))) - 0.5 * lam * beta @ beta)

    ybar = np.clip(np.average(y, weights=w), 1e-6, 1 - 1e-6)
    beta = np.zeros(X.shape[1])
    beta[0] = np.log(ybar / (1 - ybar))
    current = objective(beta)
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - the count of iterations is reported after the loop
        p = special.expit(X @ beta)
        grad = X.T @ (w * (y - p)) - lam * beta
        hess = (X * (w * p * (1 - p))[:, None]).T @ X + lam * np.eye(X.shape[1])
        try:
            step = np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            notes.append("singular Hessian")
            break
        # Step halving keeps Newton monotone; logistic Newton rarely needs it, but cheaply safe.
        t = 1.0
        while t > 1e-6:
            trial = beta + t * step
            value = objective(trial)
            if value >= current - 1e-12 * abs(current):
                break
            t /= 2
        beta, current = trial, value
        if np.max(np.abs(t * step)) < tol:
            converged = True
            break
    p = special.expit(X @ beta)
    hess = (X * (w * p * (1 - p))[:, None]).T @ X + lam * np.eye(X.shape[1])
    try:
        cov = np.linalg.inv(hess)
        se = np.sqrt(np.clip(np.diag(cov), 0, None))
    except np.linalg.LinAlgError:
        se = np.full(X.shape[1], np.nan)
    if not converged:
        notes.append(f"did not converge in {max_iter} iterations")
    slope = float(beta[1] / scale) if varies else 0.0
    se_slope = float(se[1] / scale) if varies else NAN
    return LogisticFit(float(beta[0]), slope, float(se[0]), se_slope, n, it, converged, penalized, "; ".join(notes))


@dataclass(frozen=True)
class LengthControl(Serializable):
    """Length check of ``a`` vs ``b`` over ``n`` comparisons with both lengths known.

    ``mean_gap`` = mean(len_a − len_b) tokens (``gap_se`` its standard error); ``raw_rate`` is
    the plain win rate on those comparisons; ``adjusted_rate`` = σ(β₀), the win rate at equal
    length, with a Wald ``adjusted_ci`` (model-based) and ``crossed``, its interval and test
    valid for crossed raters x items (shown first); ``slope_per_100_tokens`` is β₁ × 100 (log-odds).
    """

    a: str
    b: str
    n: int
    mean_gap: float
    gap_se: float
    raw_rate: float
    adjusted_rate: float
    adjusted_ci: Interval
    slope_per_100_tokens: float
    penalized: bool
    note: str
    crossed: Crossed | None = None

    def mirror(self) -> LengthControl:
        """``b`` vs ``a``: flipping sides negates x and y−½, so β₀ → −β₀ and β₁ is unchanged."""
        return LengthControl(self.b, self.a, self.n, -self.mean_gap, self.gap_se, 1.0 - self.raw_rate,
                             1.0 - self.adjusted_rate, self.adjusted_ci.mirrored(), self.slope_per_100_tokens,
                             self.penalized, self.note, self.crossed.mirrored() if self.crossed else None)


def _grouped(diff: np.ndarray, win: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge identical ``(diff, win)`` rows into counts: the likelihood only needs those."""
    values, inverse = np.unique(diff, return_inverse=True)
    counts = np.bincount(inverse * 2 + win.astype(np.int64), minlength=2 * values.size).astype(float)
    x, y = np.repeat(values, 2), np.tile([0.0, 1.0], values.size)
    keep = counts > 0
    return x[keep], y[keep], counts[keep]


def _control(table: RankingTable, i: int, j: int, confidence: float) -> LengthControl:
    a, b = table.policies[i], table.policies[j]
    ri, rj = table.rank[:, i], table.rank[:, j]
    li, lj = table.length[:, i], table.length[:, j]
    use = (ri >= 0) & (rj >= 0) & ~np.isnan(li) & ~np.isnan(lj)
    n = int(use.sum())
    if n == 0:
        return LengthControl(a, b, 0, NAN, NAN, NAN, NAN, Interval(NAN, NAN), NAN, False, "no length data")
    diff = li[use] - lj[use]
    win = (ri[use] < rj[use]).astype(float)
    gap_se = float(diff.std(ddof=1) / np.sqrt(n)) if n > 1 else NAN
    fit = fit_logistic(*_grouped(diff, win))
    z = z_quantile(confidence)
    ci = Interval(float(special.expit(fit.intercept - z * fit.se_intercept)),
                  float(special.expit(fit.intercept + z * fit.se_intercept)))
    crossed = _crossed_intercept(fit, diff, win, table.prompt[use], table.rater[use], confidence)
    return LengthControl(a, b, n, float(diff.mean()), gap_se, float(win.mean()), float(special.expit(fit.intercept)),
                         ci, 100.0 * fit.slope, fit.penalized, fit.note, crossed)


def _crossed_intercept(fit: LogisticFit, diff: np.ndarray, win: np.ndarray, prompt: np.ndarray, rater: np.ndarray,
                       confidence: float) -> Crossed:
    """σ(β₀) with the two-way clustered sandwich interval and the test of β₀ = 0."""
    n_prompts, n_raters = np.unique(prompt).size, np.unique(rater).size
    if not np.isfinite(fit.intercept):
        return not_computed(fit.note or "the logistic fit failed")
    if fit.penalized:
        return not_computed("outcomes perfectly separated: the length-adjusted rate is a penalised guess")
    if n_prompts < MIN_PROMPTS:
        return not_computed(f"{n_prompts} prompt{'' if n_prompts == 1 else 's'} (fewer than {MIN_PROMPTS}): "
                            "too few for a clustered interval")
    if n_raters < 2:
        return not_computed("one rater: rater-to-rater variation cannot be estimated")
    X = np.column_stack([np.ones_like(diff), diff]) if np.isfinite(fit.se_slope) else np.ones((diff.size, 1))
    beta = np.array([fit.intercept, fit.slope])[: X.shape[1]]
    p = special.expit(X @ beta)
    try:
        bread = np.linalg.inv((X * (p * (1 - p))[:, None]).T @ X)
    except np.linalg.LinAlgError:
        return not_computed("singular information matrix")
    influence = (X * (win - p)[:, None]) @ bread[0]  # each comparison's share of β̂₀ − β₀
    two_way = cell_variance(*cell_sums(prompt, rater, influence))
    se = float(np.sqrt(two_way.var))
    if not se > 0:  # no variation left to measure: a zero-width interval and p = 0 would be false
        return not_computed("every comparison agrees with the fit: no variance to build an interval from")
    q = float(special.stdtrit(two_way.df, 1.0 - (1.0 - confidence) / 2.0))
    rate = float(special.expit(fit.intercept))
    interval = Interval(float(special.expit(fit.intercept - q * se)), float(special.expit(fit.intercept + q * se)))
    p_value = float(2.0 * special.stdtr(two_way.df, -abs(fit.intercept) / se))
    return Crossed(rate, interval, rate * (1 - rate) * se, two_way.df, p_value, p_value, TWO_WAY, "",
                   two_way.n_prompts, two_way.n_raters)


def length_control(rankings: RankingsInput, a: str, b: str, *, confidence: float = 0.95) -> LengthControl:
    """Length gap and length-adjusted win rate of ``a`` vs ``b``."""
    table = ensure_ranking_table(rankings)
    if a == b:
        raise ValueError(f"length control needs two different policies, got {a!r} twice")
    return _control(table, table.index(a), table.index(b), confidence)


def length_table(rankings: RankingsInput, *, confidence: float = 0.95) -> tuple[LengthControl, ...]:
    """:func:`length_control` for every ordered pair (mirrors derived from one fit per pair)."""
    table = ensure_ranking_table(rankings)
    by_pair = {}
    for i, j in combinations(range(len(table.policies)), 2):
        row = _control(table, i, j, confidence)
        by_pair[(i, j)], by_pair[(j, i)] = row, row.mirror()
    k = len(table.policies)
    return tuple(by_pair[(i, j)] for i in range(k) for j in range(k) if i != j)
