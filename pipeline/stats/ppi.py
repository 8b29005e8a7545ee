"""AI-assisted evaluation: prediction-powered estimates (PPI++) of a rate, valid for crossed raters x items.

An AI judge scores every prompt of an evaluation (a soft preference P(a above b), or the
probability that a response is harmless); human raters rate only some of them. The AI alone
is cheap but biased (position, length, self-preference); the humans alone are unbiased but
few. Prediction-powered inference (Angelopoulos, Bates, Fannjiang, Jordan & Zrnic 2023;
power-tuned "PPI++": Angelopoulos, Duchi & Zrnic 2023, arXiv:2311.01453) combines them::

    θ̂(λ) = λ · mean_u(f)  +  mean_h(y − λ f)

``mean_u`` is over the prompts only the AI judged (``f_unlabeled``), ``mean_h`` over the human
judgements (``y``: 1 if the rater ranked a above b / called the response harmless) with ``f``
the judge's score of the same prompt. Whatever the judge's bias, both terms estimate the human
rate (the rectifier ``y − λf`` removes the bias the first term brings), so θ̂ is unbiased for
any λ; λ only moves the variance, and the best one is chosen from the data.

The variance in the lab's design: the human judgements are crossed (a small pool of raters
rates many prompts), so the rectifier's variance is the two-way cluster-robust one of
``crossed.py`` (prompts x raters, Cameron–Gelbach–Miller), not ``var(y − λf)/n``; the AI-only
prompts are independent of it::

    V(λ) = λ² s²_u / N_u  +  V_h(y) − 2λ C_h(y, f) + λ² V_h(f)

(``V_h`` and ``C_h`` are the cluster-robust (co)variances of the human-side means; the
covariance comes from the same quadratic form by polarisation), minimised at
``λ* = C_h / (V_h(f) + s²_u/N_u)``, clipped to [0, 1] as ppi-python does. The interval is
``θ̂ ± t·√V`` with Satterthwaite's degrees of freedom over the rater, prompt and AI-only parts.

The **effective number of human ratings** ``n_eff = n · V(0) / V(λ*)`` says how many human
judgements of this design would give the same precision as the humans plus the judge: what the
AI judge is worth. With every prompt rated by humans there is nothing to add (N_u = 0, λ = 0,
θ̂ = the human-only rate).

Checked against ppi-python (``ppi_py.ppi_mean_ci``) where its estimator applies (one judgement
per prompt by distinct raters): same point estimate, interval equal up to the small-sample
factors n/(n − 1); and by seeded simulation of the lab's design with a judge biased +10 points
and noisy (``tests/stats/test_ai_assisted_rates_keep_their_level_with_a_biased_judge.py``).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy import special

from ._common import Interval, Serializable
from .crossed import MIN_PROMPTS, cell_sums, satterthwaite, variance_parts
from .tables import HarmTable, RankingTable

__all__ = ["PPI", "PPIRate", "PPIWinRate", "PPIHarmless", "JudgeScores", "HarmScores", "ppi_rate", "ppi_win_rates_vs",
           "ppi_harmless_rates"]

#: The judge's P(a's response beats b's) per (prompt id, a, b) with ``a < b`` by name.
JudgeScores = Mapping[tuple[Hashable, str, str], float]
#: The judge's P(harmless) per (prompt id, policy).
HarmScores = Mapping[tuple[Hashable, str], float]

PPI = "PPI++ (prompts × raters)"
NAN = float("nan")


@dataclass(frozen=True)
class PPIRate(Serializable):
    """A rate estimated from human judgements plus an AI judge's scores.

    ``estimate``/``interval``/``se``/``df``: the PPI++ estimate; ``p_value`` its two-sided test
    of ``null`` (NaN when no null applies); ``lam`` the power-tuning weight of the judge (0: the
    judge adds nothing); ``human_only`` the rate of the human judgements alone and ``ai_only``
    the judge's mean over every prompt it scored (biased if the judge is); ``n_human`` human
    judgements on ``n_prompts`` prompts by ``n_raters`` raters; ``n_ai_only`` prompts only the
    judge scored; ``effective_human`` the number of human judgements of this design that would
    give the same precision. ``method`` is ``PPI`` or ``""`` with ``reason`` saying why not.
    """

    estimate: float
    interval: Interval
    se: float
    df: float
    p_value: float
    lam: float
    human_only: float
    ai_only: float
    n_human: int
    n_prompts: int
    n_raters: int
    n_ai_only: int
    effective_human: float
    method: str
    reason: str


def _not_computed(reason: str, human_only: float = NAN, ai_only: float = NAN, n: int = 0, prompts: int = 0,
                  raters: int = 0, ai: int = 0) -> PPIRate:
    return PPIRate(NAN, Interval(NAN, NAN), NAN, NAN, NAN, NAN, human_only, ai_only, n, prompts, raters, ai, NAN, "", reason)


def _cells(prompt: np.ndarray, rater: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-(prompt, rater) sums of the centred, 1/n-scaled ``values`` (the linearised mean), and the used cells."""
    return cell_sums(prompt, rater, (values - values.mean()) / values.size)


def _raw(parts: list[tuple[float, int]]) -> float:
    (vp, _), (vr, _), (vc, _) = parts
    return vp + vr - vc


def _guarded(parts: list[tuple[float, int]]) -> float:
    """The two-way variance, or the larger one-way part where it comes out ≤ 0 (as in crossed.py)."""
    var = _raw(parts)
    return var if var > 0 else max(parts[0][0], parts[1][0])


def ppi_rate(prompt: np.ndarray, rater: np.ndarray, y: np.ndarray, f: np.ndarray, f_unlabeled: np.ndarray, *,
             null: float | None = None, confidence: float = 0.95, lam: float | None = None) -> PPIRate:
    """PPI++ estimate of the mean of ``y`` (human judgements, shape (n,), with their ``prompt``
    and ``rater`` ids) helped by the judge's scores ``f`` (n,) of the same prompts and
    ``f_unlabeled`` (N_u,) of prompts no human rated. ``lam`` fixes λ (None: power-tuned)."""
    y, f, fu = (np.asarray(a, dtype=float) for a in (y, f, f_unlabeled))
    prompt, rater = np.asarray(prompt), np.asarray(rater)
    if not (y.shape == f.shape == prompt.shape == rater.shape):
        raise ValueError("y, f, prompt and rater must have one entry per human judgement")
    if not (np.all(np.isfinite(f)) and np.all(np.isfinite(fu))):
        raise ValueError("the judge's scores must be finite numbers")
    n, n_u = y.size, fu.size
    n_prompts, n_raters = np.unique(prompt).size, np.unique(rater).size
    ai_only = float(np.concatenate([_per_prompt_mean(prompt, f), fu]).mean()) if n + n_u else NAN
    human_only = float(y.mean()) if n else NAN
    sizes = dict(n=n, prompts=n_prompts, raters=n_raters, ai=n_u)
    if n_prompts < MIN_PROMPTS:
        return _not_computed(f"{n_prompts} human-rated prompt{'' if n_prompts == 1 else 's'} (fewer than {MIN_PROMPTS}): "
                             "too few to rectify the judge", human_only, ai_only, **sizes)
    if n_raters < 2:
        return _not_computed("one rater: rater-to-rater variation cannot be estimated", human_only, ai_only, **sizes)

    ey, used = _cells(prompt, rater, y)
    ef, _ = _cells(prompt, rater, f)
    v_y, v_f = _raw(variance_parts(ey, used)), _raw(variance_parts(ef, used))
    cov = (v_y + v_f - _raw(variance_parts(ey - ef, used))) / 2.0
    v_u = float(fu.var(ddof=1)) / n_u if n_u > 1 else 0.0
    if lam is None:
        lam = float(np.clip(cov / (v_f + v_u), 0.0, 1.0)) if n_u > 1 and v_f + v_u > 0 else 0.0
    estimate = lam * (float(fu.mean()) if n_u else 0.0) + float((y - lam * f).mean())

    parts = variance_parts(ey - lam * ef, used)
    var = lam * lam * v_u + _guarded(parts)
    if not var > 0:
        return _not_computed("every judgement and score agrees: no variance to build an interval from", human_only,
                             ai_only, **sizes)
    df = satterthwaite(var, [*parts, (lam * lam * v_u, n_u)])
    human_var = _guarded(variance_parts(ey, used))
    se = float(np.sqrt(var))
    q = float(special.stdtrit(df, 1.0 - (1.0 - confidence) / 2.0))
    p = NAN if null is None else float(2.0 * special.stdtr(df, -abs(estimate - null) / se))
    return PPIRate(estimate, Interval(max(0.0, estimate - q * se), min(1.0, estimate + q * se)), se, df, p, lam,
                   human_only, ai_only, n, n_prompts, n_raters, n_u, float(n * human_var / var), PPI, "")


def _per_prompt_mean(prompt: np.ndarray, f: np.ndarray) -> np.ndarray:
    """The judge scores a prompt once; a prompt rated by several humans repeats its score."""
    if not f.size:
        return f
    _, at = np.unique(prompt, return_inverse=True)
    return np.bincount(at, weights=f) / np.bincount(at)


def _ppi_over(prompt_ids: list[Hashable], raters: list[int], y: list[float], f: list[float], ai_only: list[float],
              null: float | None, confidence: float) -> PPIRate:
    """``ppi_rate`` on rows gathered per judgement (prompt ids of any kind, coded here)."""
    codes = {prompt: k for k, prompt in enumerate(dict.fromkeys(prompt_ids))}
    return ppi_rate(np.array([codes[p] for p in prompt_ids], dtype=np.int64), np.array(raters, dtype=np.int64),
                    np.array(y), np.array(f), np.array(ai_only), null=null, confidence=confidence)


@dataclass(frozen=True)
class PPIWinRate(Serializable):
    """The AI-assisted win rate of ``policy`` over ``opponent``; ``unscored`` counts human
    rankings of the pair on prompts the judge did not score (left out of the estimate)."""

    policy: str
    opponent: str
    rate: PPIRate
    unscored: int


def _oriented(scores: JudgeScores, prompt: Hashable, a: str, b: str) -> float:
    """P(a beats b) from a score stored in name order; NaN when the judge did not score it."""
    if a < b:
        return scores.get((prompt, a, b), NAN)
    return 1.0 - scores.get((prompt, b, a), NAN)


def ppi_win_rates_vs(table: RankingTable, scores: JudgeScores, baseline: str, *,
                     confidence: float = 0.95) -> list[PPIWinRate]:
    """PPI++ win rate of every policy the judge scored against ``baseline``, tested against 50 %.

    Human side: every ranking holding both (y = 1 when the policy is ranked above the baseline)
    on a prompt the judge scored; AI-only side: the judge's scores on prompts no one ranked."""
    judged = sorted({(a, b) for _, a, b in scores if baseline in (a, b)})
    rows = []
    for a, b in judged:
        policy = b if a == baseline else a
        ranked_prompts: set[Hashable] = set()
        prompt_ids: list[Hashable] = []
        raters: list[int] = []
        y: list[float] = []
        f: list[float] = []
        unscored = 0
        if policy in table.policies and baseline in table.policies:
            i, j = table.index(policy), table.index(baseline)
            both = np.flatnonzero((table.rank[:, i] >= 0) & (table.rank[:, j] >= 0))
            for r in both:
                prompt = table.prompts[table.prompt[r]]
                ranked_prompts.add(prompt)
                score = _oriented(scores, prompt, policy, baseline)
                if np.isnan(score):
                    unscored += 1
                    continue
                prompt_ids.append(prompt)
                raters.append(int(table.rater[r]))
                y.append(float(table.rank[r, i] < table.rank[r, j]))
                f.append(score)
        ai_only = [_oriented(scores, prompt, policy, baseline) for prompt, pa, pb in scores
                   if (pa, pb) == (a, b) and prompt not in ranked_prompts]
        rate = _ppi_over(prompt_ids, raters, y, f, ai_only, 0.5, confidence)
        rows.append(PPIWinRate(policy, baseline, rate, unscored))
    return rows


@dataclass(frozen=True)
class PPIHarmless(Serializable):
    """The AI-assisted harmless rate of ``policy``; ``unscored`` counts human labels on prompts
    the judge did not score (left out)."""

    policy: str
    rate: PPIRate
    unscored: int


def ppi_harmless_rates(table: HarmTable, scores: HarmScores, *, confidence: float = 0.95) -> list[PPIHarmless]:
    """PPI++ harmless rate of every policy the judge scored (no test: ``p_value`` is NaN)."""
    rows = []
    for policy in sorted({policy for _, policy in scores}):
        labelled: set[Hashable] = set()
        prompt_ids: list[Hashable] = []
        raters: list[int] = []
        y: list[float] = []
        f: list[float] = []
        unscored = 0
        if policy in table.policies:
            for r in np.flatnonzero(table.policy == table.policies.index(policy)):
                prompt = table.prompts[table.prompt[r]]
                labelled.add(prompt)
                score = scores.get((prompt, policy))
                if score is None:
                    unscored += 1
                    continue
                prompt_ids.append(prompt)
                raters.append(int(table.rater[r]))
                y.append(float(table.harmless[r]))
                f.append(score)
        ai_only = [p for (prompt, name), p in scores.items() if name == policy and prompt not in labelled]
        rate = _ppi_over(prompt_ids, raters, y, f, ai_only, None, confidence)
        rows.append(PPIHarmless(policy, rate, unscored))
    return rows
