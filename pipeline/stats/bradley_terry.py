"""Bradley–Terry strengths of all policies from the pairwise outcomes implied by rankings.

A strict ranking of k policies implies k(k−1)/2 pairwise outcomes. The Bradley–Terry model
says ``P(i beats j) = πᵢ / (πᵢ + πⱼ) = σ(θᵢ − θⱼ)`` with ``θ = log π``. We fit it by Hunter's
(2004) MM algorithm, whose update never decreases the likelihood::

    πᵢ ← Wᵢ / Σ_{j≠i} Nᵢⱼ / (πᵢ + πⱼ)

(``Wᵢ`` total wins of i, ``Nᵢⱼ`` comparisons of i and j), then fix the scale by
``mean(θ) = 0``. The MLE exists iff the "beat" graph is strongly connected (every policy can
be reached from every other along wins); otherwise we add ``PRIOR_WINS`` virtual wins to every
ordered pair and flag the fit as regularised.

Intervals are percentile bootstrap over prompts: the per-prompt win counts are reweighted by
the same resampling weights as the win-rate bootstrap, and all resamples are fitted at once
(the MM update is vectorised over the replicate axis); with fewer than ``MIN_PROMPTS`` prompts, or
resamples that all agree, there is no interval (NaN) rather than a zero-width one. Resampling prompts alone ignores that
raters are shared across prompts, so the statistic shown first is each policy's model win
probability against the baseline, ``σ(θ_p − θ_b)``, with a sandwich interval clustered by
prompt and by rater (``bradley_terry_crossed``): each ranking's influence ``H⁺ gᵣ`` on θ
(``gᵣ`` its score, ``H`` the information, singular along the mean-zero direction hence the
pseudo-inverse) is summed per (prompt, rater) cell into ``crossed.cell_variance``, with
Satterthwaite's t, as for the win rates.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import cast

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from ._common import Interval, Seed, Serializable, percentile_interval, prompt_bootstrap_weights
from .crossed import MIN_PROMPTS, TWO_WAY, Crossed, cell_sums, cell_variance, not_computed
from .tables import RankingsInput, RankingTable, ensure_ranking_table
from .winrate import DEFAULT_N_BOOT, PairCounts, pair_counts

__all__ = ["BTStrength", "BradleyTerry", "bradley_terry_crossed", "bradley_terry_strengths", "fit_bradley_terry",
           "PRIOR_WINS"]

PRIOR_WINS = 0.5
NAN = float("nan")


@dataclass(frozen=True)
class BTStrength(Serializable):
    """``log_strength`` θ of ``policy`` (mean 0 over policies) with a bootstrap ``interval``;
    ``crossed``: the model's P(policy beats the baseline) with its interval and test valid for
    crossed raters x items (None for the baseline itself, or before the baseline is known)."""

    policy: str
    log_strength: float
    interval: Interval
    crossed: Crossed | None = None


@dataclass(frozen=True)
class BradleyTerry(Serializable):
    """Fitted strengths (sorted by policy name) and how the fit went."""

    strengths: tuple[BTStrength, ...]
    n_comparisons: int
    iterations: int
    converged: bool
    regularized: bool
    n_boot: int
    n_boot_regularized: int

    def win_probability(self, a: str, b: str) -> float:
        """Model-implied ``P(a beats b) = σ(θ_a − θ_b)``."""
        theta = {s.policy: s.log_strength for s in self.strengths}
        return float(1.0 / (1.0 + np.exp(theta[b] - theta[a])))


def _strongly_connected(wins: np.ndarray) -> np.ndarray:
    """Per replicate: is the directed graph ``i → j if i beat j at least once`` strongly connected?

    Reachability by repeated squaring of the adjacency matrix (with self-loops);
    ``ceil(log2 k)`` squarings cover every path length up to k.
    """
    k = wins.shape[-1]
    reach = ((wins > 0) | np.eye(k, dtype=bool)).astype(np.int64)
    for _ in range(max(1, int(np.ceil(np.log2(max(k, 2)))))):
        reach = (reach @ reach > 0).astype(np.int64)
    return cast(np.ndarray, reach.all(axis=(-2, -1)))  # wins is [R, k, k]: one flag per replicate


def fit_bradley_terry(wins: ArrayLike, *, max_iter: int = 10_000, tol: float = 1e-10) -> tuple[np.ndarray, int, bool, bool | np.ndarray]:
    """Fit θ for one or many win matrices ``wins[..., i, j]`` = times i beat j.

    Returns ``(theta, iterations, converged, regularized)`` where ``theta`` has the shape of
    ``wins`` without the last axis and ``regularized`` flags the matrices that needed the
    ``PRIOR_WINS`` virtual wins because their MLE does not exist (a bool for one matrix, a bool
    array for many).
    """
    wins = np.asarray(wins, dtype=float)
    single = wins.ndim == 2
    w = wins[None] if single else wins
    k = w.shape[-1]
    off_diag = 1.0 - np.eye(k)
    w = w * off_diag
    regularized = ~_strongly_connected(w)
    w = w + PRIOR_WINS * regularized[:, None, None] * off_diag

    total_wins = w.sum(axis=2)
    games = w + np.swapaxes(w, 1, 2)
    theta = np.zeros(w.shape[:2])
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - the count of iterations is reported after the loop
        pi = np.exp(theta)
        denom = (games / (pi[:, :, None] + pi[:, None, :])).sum(axis=2)
        new = np.log(total_wins / denom)
        new -= new.mean(axis=1, keepdims=True)
        delta = np.max(np.abs(new - theta)) if new.size else 0.0
        theta = new
        if delta < tol:
            converged = True
            break
    if single:
        return theta[0], it, converged, bool(regularized[0])
    return theta, it, converged, regularized


def _win_matrices(counts: PairCounts, weights: np.ndarray) -> np.ndarray:
    """``(replicates, k, k)`` win matrices from per-prompt pair counts and prompt weights."""
    k = len(counts.policies)
    won = weights @ counts.wins
    lost = weights @ (counts.n - counts.wins)
    out = np.zeros((weights.shape[0], k, k))
    for c, (i, j) in enumerate(counts.pairs):
        out[:, i, j] = won[:, c]
        out[:, j, i] = lost[:, c]
    return out


def _bradley_terry(counts: PairCounts, weights: np.ndarray, confidence: float) -> BradleyTerry:
    k = len(counts.policies)
    if k < 2:
        return BradleyTerry(tuple(BTStrength(p, 0.0, Interval(NAN, NAN)) for p in counts.policies),
                            0, 0, True, False, int(weights.shape[0]), 0)
    full = _win_matrices(counts, np.ones((1, counts.wins.shape[0])))[0]
    theta, iterations, converged, regularized = fit_bradley_terry(full)
    n_boot = int(weights.shape[0])
    if n_boot:
        boot, _, _, boot_reg = fit_bradley_terry(_win_matrices(counts, weights))
        low, high = percentile_interval(boot, confidence, axis=0)
        n_boot_reg = int(np.count_nonzero(boot_reg))
        # Too few prompts to resample, or resamples that all agree: no interval rather than a zero-width one.
        if np.count_nonzero(counts.n.sum(axis=1) > 0) < MIN_PROMPTS:
            low, high = np.full(k, np.nan), np.full(k, np.nan)
        low, high = np.where(high > low, low, np.nan), np.where(high > low, high, np.nan)
    else:
        low = high = np.full(k, np.nan)
        n_boot_reg = 0
    strengths = tuple(
        BTStrength(p, float(theta[j]), Interval(float(low[j]), float(high[j]))) for j, p in enumerate(counts.policies)
    )
    return BradleyTerry(strengths, int(counts.n.sum()), iterations, converged, bool(regularized), n_boot, n_boot_reg)


def bradley_terry_strengths(rankings: RankingsInput, *, n_boot: int = DEFAULT_N_BOOT, seed: Seed = 0, confidence: float = 0.95) -> BradleyTerry:
    """Bradley–Terry log-strengths of every policy with prompt-clustered bootstrap intervals."""
    table = ensure_ranking_table(rankings)
    weights = prompt_bootstrap_weights(len(table.prompts), n_boot, seed)
    return _bradley_terry(pair_counts(table), weights, confidence)


def _influence(table: RankingTable, theta: np.ndarray) -> np.ndarray | None:
    """``(rankings, k)``: each ranking's first-order share of θ̂ − θ, ``H⁺ gᵣ``; None if H is 0."""
    k = len(table.policies)
    grad = np.zeros((table.n, k))
    info = np.zeros((k, k))
    present = table.rank >= 0
    for i in range(k):
        for j in range(i + 1, k):
            both = present[:, i] & present[:, j]
            if not both.any():
                continue
            s = special.expit(theta[i] - theta[j])
            resid = np.where(both, (table.rank[:, i] < table.rank[:, j]) - s, 0.0)
            grad[:, i] += resid
            grad[:, j] -= resid
            d = np.zeros(k)
            d[i], d[j] = 1.0, -1.0
            info += both.sum() * s * (1 - s) * np.outer(d, d)
    if not np.any(info):
        return None
    return grad @ np.linalg.pinv(info)


def bradley_terry_crossed(bt: BradleyTerry, rankings: RankingsInput, baseline: str, *,
                          confidence: float = 0.95) -> BradleyTerry:
    """``bt`` with each policy's ``crossed``: σ(θ_p − θ_baseline), clustered by prompt and rater."""
    table = ensure_ranking_table(rankings)
    if baseline not in table.policies:
        return bt
    theta = np.array([s.log_strength for s in bt.strengths])
    n_prompts, n_raters = len(set(table.prompt.tolist())), len(set(table.rater.tolist()))
    why = ("the maximum-likelihood strengths do not exist (a policy never won or never lost)" if bt.regularized
           else f"{n_prompts} prompt{'' if n_prompts == 1 else 's'} (fewer than {MIN_PROMPTS})" if n_prompts < MIN_PROMPTS
           else "one rater: rater-to-rater variation cannot be estimated" if n_raters < 2 else "")
    influence = None if why else _influence(table, theta)
    if influence is None and not why:
        why = "no policies ranked together"
    b = table.index(baseline)
    q_level = 1.0 - (1.0 - confidence) / 2.0
    strengths = []
    for p, strength in enumerate(bt.strengths):
        if p == b:
            strengths.append(replace(strength, crossed=None))
            continue
        if why or influence is None:
            strengths.append(replace(strength, crossed=not_computed(why)))
            continue
        two_way = cell_variance(*cell_sums(table.prompt, table.rater, influence[:, p] - influence[:, b]))
        delta, se = float(theta[p] - theta[b]), float(np.sqrt(two_way.var))
        if not se > 0:  # no variation left to measure: a zero-width interval and p = 0 would be false
            strengths.append(replace(strength, crossed=not_computed("every ranking agrees: no variance to build an interval from")))
            continue
        q = float(special.stdtrit(two_way.df, q_level))
        rate = float(special.expit(delta))
        p_value = float(2.0 * special.stdtr(two_way.df, -abs(delta) / se))
        strengths.append(replace(strength, crossed=Crossed(
            rate, Interval(float(special.expit(delta - q * se)), float(special.expit(delta + q * se))),
            rate * (1 - rate) * se, two_way.df, p_value, p_value, TWO_WAY, "", two_way.n_prompts, two_way.n_raters)))
    return replace(bt, strengths=tuple(strengths))
