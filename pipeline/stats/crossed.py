"""Intervals and tests valid for the lab's rating design: raters and items crossed.

Every judgement belongs to one item (nested in a prompt) and one rater, and the raters come
from a small pool that rates many items. Judgements sharing an item are correlated (item
effects), and so are judgements sharing a rater (rater effects: one rater prefers longer
answers, another is stricter about harm). Tests that count judgements as independent (the
paper's t-tests, Wilson intervals, two-proportion z-tests) are then far too confident: in
simulation of 60 items x 5 raters of 7 they reject a true null 14-28 % of the time.

The method: every rate is a ratio ``θ = Σ num / Σ den`` over judgements; its variance is the
two-way cluster-robust variance of Cameron, Gelbach & Miller (2011, J. Bus. Econ. Stat. 29(2))
of the linearised estimate, clustered by *prompt* and by *rater*::

    e_c = (num_c − θ·den_c) / Σ den            (per prompt x rater cell c)
    V   = V_prompts + V_raters − V_cells,      V_G = G/(G − 1) · Σ_g (Σ_{c∈g} e_c)²

(``V`` is replaced by the larger one-way variance in the rare sample where it comes out ≤ 0).
A difference of two rates of one table uses ``e₁ − e₂``, so their correlation (same prompts,
same raters) is kept. Prompts rather than items are the first factor because items are nested
in prompts (the encoding checks that every item has one prompt): clustering on the outer level
keeps any correlation between items of one prompt. With a pool of 7 raters the rater part of
``V`` rests on 7 clusters, so the reference distribution is Student's t with Satterthwaite's
degrees of freedom ``V² / Σ_G V_G²/(G − 1)`` (few when rater variation dominates, many when it
does not); interval ``θ ± t·√V``, p-value of the studentised ``(θ − θ₀)/√V``.

Why not the two-way ("pigeonhole") bootstrap of Owen (2007), which resamples prompts and
raters independently? It was implemented and measured first on the lab's design (60 items x 5
raters of 7, item sd 1-2, rater sd 0.5, 400 datasets): win rates were fine (coverage 96.5 %,
false positives 3.5 %), but harmless rates covered 97-97.5 % and the test of a difference of
harmless rates rejected a true null only 0.7-1.8 % of the time: Owen shows its variance
counts the residual (interaction) component about three times, which dominates when the
rater effect cancels in a difference. The cluster-robust variance has no such excess, needs no
replicates (the report stays fast and the same data always give the same numbers: no seed)
and with Satterthwaite's t measured 93.5-94.7 % coverage and 5.5-6.1 % false positives on that
design, 4,000 datasets per setting: slightly liberal with large item effects, within 93-97 % /
3-7 % (``tests/stats/test_crossed_statistics_keep_their_level_when_raters_and_items_are_crossed.py``).
Plain normal quantiles instead of Satterthwaite's t gave 8-11 % false positives; t with
min(prompts, raters) − 1 degrees of freedom was too conservative for harmless differences (2.6 %).

Exact small-sample path: with fewer than ``MIN_PROMPTS`` prompts, a single rater, or a sample
whose variance is 0 (every judgement agrees), the large-sample method says nothing useful, so
we count each prompt once (the design effect at its worst: all raters of a prompt agreeing):
the test is an exact two-sided sign test over prompts (``exact.sign_test``), the
interval a Clopper–Pearson interval for ``n = prompts`` (Beta quantiles, which allow the
non-integer ``k = rate x prompts``). So 4 wins of 4 on 4 prompts gives p = 0.125 and
[39.8 %, 100 %], never p = 0 or a zero-width interval. A statistic that cannot be computed at
all (two policies never ranked together, a policy without labels) has NaN numbers (null in
JSON) and says why in ``reason``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from scipy import special

from ._common import Interval, Serializable
from .exact import MIN_PROMPTS, clopper_pearson, sign_test
from .significance import holm
from .tables import HarmTable, RankingTable

__all__ = [
    "Crossed",
    "CrossedWinRates",
    "CrossedHarmless",
    "crossed_win_rates",
    "crossed_harmless",
    "exact_rate",
    "with_holm",
    "MIN_PROMPTS",
    "TWO_WAY",
    "EXACT",
]


TWO_WAY = "two-way cluster-robust (prompts × raters)"
EXACT = "exact, per prompt"
NAN = float("nan")


@dataclass(frozen=True)
class Crossed(Serializable):
    """One statistic valid for crossed raters x items.

    ``estimate`` is the rate (or difference of rates), ``interval`` its confidence interval,
    ``se`` its two-way standard error and ``df`` the Satterthwaite degrees of freedom (NaN on
    the exact path), ``p_value`` the two-sided test of ``estimate = null`` (NaN where no test
    applies, e.g. a harmless rate), ``p_holm`` adjusted within the table's family. ``method``
    is ``TWO_WAY``, ``EXACT`` or ``""`` (not computed); ``reason`` says why exact or why not
    computed. ``n_prompts``/``n_raters`` are those the statistic rests on.
    """

    estimate: float
    interval: Interval
    se: float
    df: float
    p_value: float
    p_holm: float
    method: str
    reason: str
    n_prompts: int
    n_raters: int

    def mirrored(self) -> Crossed:
        """The same statistic for ``1 − rate`` (B vs A): same test, reflected interval."""
        return Crossed(1.0 - self.estimate, self.interval.mirrored(), self.se, self.df, self.p_value, self.p_holm,
                       self.method, self.reason, self.n_prompts, self.n_raters)

    def with_p_holm(self, p_holm: float) -> Crossed:
        return Crossed(self.estimate, self.interval, self.se, self.df, self.p_value, p_holm, self.method,
                       self.reason, self.n_prompts, self.n_raters)


def not_computed(reason: str) -> Crossed:
    return Crossed(NAN, Interval(NAN, NAN), NAN, NAN, NAN, NAN, "", reason, 0, 0)


def with_holm(rows: Sequence[Crossed]) -> list[Crossed]:
    """The rows with ``p_holm`` adjusted over them (NaN p-values stay NaN and do not count)."""
    return [c.with_p_holm(float(p)) for c, p in zip(rows, holm([c.p_value for c in rows]))]


def exact_rate(k: float, n: float, confidence: float) -> Interval:
    """Clopper–Pearson interval for ``k`` of ``n`` (``k`` may be non-integer): Beta quantiles."""
    return clopper_pearson(k, n, confidence)


@dataclass(frozen=True, eq=False)
class _Ratios:
    """S rates ``num/den`` of one table, with their sums per (prompt, rater) cell."""

    rate: np.ndarray  # (S,)
    den: np.ndarray  # (S,)
    cell_num: np.ndarray  # (P, R, S)
    cell_den: np.ndarray  # (P, R, S)

    def prompt_share(self, k: int) -> np.ndarray:
        """Per-prompt rate of statistic ``k``; NaN where the prompt has none."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.cell_num[:, :, k].sum(axis=1) / self.cell_den[:, :, k].sum(axis=1)


def _ratios(prompt: np.ndarray, rater: np.ndarray, n_prompts: int, n_raters: int,
            num: np.ndarray, den: np.ndarray) -> _Ratios:
    """Sum ``num`` and ``den`` ``(rows, S)`` into per-(prompt, rater) cells, one bincount each."""
    cell = np.asarray(prompt, dtype=np.int64) * n_raters + np.asarray(rater, dtype=np.int64)
    size = n_prompts * n_raters
    s = num.shape[1]
    cells = np.empty((2, size, s))
    for k in range(s):
        cells[0, :, k] = np.bincount(cell, weights=num[:, k], minlength=size)
        cells[1, :, k] = np.bincount(cell, weights=den[:, k], minlength=size)
    num_cells, den_cells = cells.reshape(2, n_prompts, n_raters, s)
    total_num, total_den = num_cells.sum(axis=(0, 1)), den_cells.sum(axis=(0, 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(total_den > 0, total_num / np.maximum(total_den, 1e-300), np.nan)
    return _Ratios(rate, total_den, num_cells, den_cells)


@dataclass(frozen=True)
class _TwoWay:
    var: float
    df: float
    n_prompts: int
    n_raters: int


def _two_way(r: _Ratios, terms: Sequence[tuple[int, float]]) -> _TwoWay:
    """Two-way cluster-robust variance of ``Σ sign·rate_k`` and its Satterthwaite df."""
    e = np.zeros(r.cell_num.shape[:2])
    used = np.zeros(e.shape, dtype=bool)
    for k, sign in terms:
        e += sign * (r.cell_num[:, :, k] - r.rate[k] * r.cell_den[:, :, k]) / r.den[k]
        used |= r.cell_den[:, :, k] > 0
    return cell_variance(e, used)


def variance_parts(e: np.ndarray, used: np.ndarray) -> list[tuple[float, int]]:
    """``[(V_prompts, G), (V_raters, G), (V_cells, G)]`` of per-(prompt, rater) cell sums ``e``
    of a linearised estimate; ``used`` marks the cells holding judgements."""
    prompts, raters = used.any(axis=1), used.any(axis=0)
    parts = []
    for sums in (e.sum(axis=1)[prompts], e.sum(axis=0)[raters], e[used]):
        g = sums.size
        parts.append((float(g / (g - 1) * np.sum(sums ** 2)) if g > 1 else 0.0, g))
    return parts


def satterthwaite(var: float, parts: Sequence[tuple[float, int]]) -> float:
    """Degrees of freedom ``V² / Σ V_G²/(G − 1)`` of a sum of cluster variance parts."""
    spread = sum(v * v / (g - 1) for v, g in parts if g > 1)
    return max(1.0, var * var / spread) if spread > 0 else NAN


def cell_sums(prompt: np.ndarray, rater: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-(prompt, rater) sums of one value per judgement ``(P, R)``, and which cells hold a
    judgement: the input of ``cell_variance`` for any linearised estimate (its influences)."""
    p_codes, pi = np.unique(prompt, return_inverse=True)
    r_codes, ri = np.unique(rater, return_inverse=True)
    shape = (p_codes.size, r_codes.size)
    cell = pi * shape[1] + ri
    e = np.bincount(cell, weights=values, minlength=shape[0] * shape[1]).reshape(shape)
    used = (np.bincount(cell, minlength=shape[0] * shape[1]) > 0).reshape(shape)
    return e, used


def cell_variance(e: np.ndarray, used: np.ndarray) -> _TwoWay:
    """``V = V_prompts + V_raters − V_cells`` (the larger one-way part if that is ≤ 0) and its df."""
    parts = variance_parts(e, used)
    (vp, gp), (vr, gr), (vc, _) = parts
    var = vp + vr - vc
    if not var > 0:
        var = max(vp, vr)
    return _TwoWay(var, satterthwaite(var, parts), int(gp), int(gr))


def _why_exact(n_prompts: int, n_raters: int, var: float) -> str:
    if n_prompts < MIN_PROMPTS:
        return f"{n_prompts} prompt{'' if n_prompts == 1 else 's'} (fewer than {MIN_PROMPTS}): exact test over prompts"
    if n_raters < 2:
        return "one rater: rater-to-rater variation cannot be estimated; exact test over prompts"
    if not var > 0:
        return "every judgement agrees: exact test over prompts"
    return ""


def _t_based(estimate: float, w: _TwoWay, null: float | None, confidence: float,
             bounds: tuple[float, float]) -> Crossed:
    se = float(np.sqrt(w.var))
    q = float(special.stdtrit(w.df, 1.0 - (1.0 - confidence) / 2.0))
    interval = Interval(max(bounds[0], estimate - q * se), min(bounds[1], estimate + q * se))
    p = NAN if null is None else float(2.0 * special.stdtr(w.df, -abs(estimate - null) / se))
    return Crossed(estimate, interval, se, w.df, p, p, TWO_WAY, "", w.n_prompts, w.n_raters)


def _rate(r: _Ratios, k: int, null: float | None, confidence: float, empty: str) -> Crossed:
    if not r.den[k] > 0:
        return not_computed(empty)
    estimate = float(r.rate[k])
    w = _two_way(r, [(k, 1.0)])
    why = _why_exact(w.n_prompts, w.n_raters, w.var)
    if not why:
        return _t_based(estimate, w, null, confidence, (0.0, 1.0))
    shares = r.prompt_share(k)
    shares = shares[~np.isnan(shares)]
    p = NAN if null is None else sign_test(shares, null)
    m = shares.size
    return Crossed(estimate, exact_rate(estimate * m, m, confidence), NAN, NAN, p, p, EXACT, why, m, w.n_raters)


def _difference(r: _Ratios, first: tuple[int, bool], second: tuple[int, bool], confidence: float,
                empty: str) -> Crossed:
    """``rate₁ − rate₂`` (a ``True`` flag reads that rate as ``1 − rate``), tested against 0."""
    (k1, f1), (k2, f2) = first, second
    if not (r.den[k1] > 0 and r.den[k2] > 0):
        return not_computed(empty)

    def side(x: np.ndarray, flip: bool) -> np.ndarray:
        return 1.0 - x if flip else x

    estimate = float(side(r.rate[k1], f1) - side(r.rate[k2], f2))
    w = _two_way(r, [(k1, -1.0 if f1 else 1.0), (k2, 1.0 if f2 else -1.0)])
    why = _why_exact(w.n_prompts, w.n_raters, w.var)
    if not why:
        return _t_based(estimate, w, 0.0, confidence, (-1.0, 1.0))
    d = side(r.prompt_share(k1), f1) - side(r.prompt_share(k2), f2)
    d = d[~np.isnan(d)]
    # Each rate's exact interval at 1 − α/2: their difference then covers with at least 1 − α.
    level = 1.0 - (1.0 - confidence) / 2.0
    i1, i2 = (_rate(r, k, None, level, empty).interval for k in (k1, k2))
    i1, i2 = (i1.mirrored() if f1 else i1), (i2.mirrored() if f2 else i2)
    p = sign_test(d, 0.0)
    return Crossed(estimate, Interval(i1.low - i2.high, i1.high - i2.low), NAN, NAN, p, p, EXACT, why,
                   int(d.size), w.n_raters)


@dataclass(frozen=True, eq=False)
class CrossedWinRates:
    """Win rates of every unordered pair ``pairs[k] = (i, j)`` (``policies[i]`` over ``policies[j]``)."""

    policies: tuple[str, ...]
    pairs: tuple[tuple[int, int], ...]
    ratios: _Ratios
    confidence: float

    def _column(self, a: str, b: str) -> tuple[int, bool]:
        i, j = self.policies.index(a), self.policies.index(b)
        return self.pairs.index((min(i, j), max(i, j))), i > j

    def rate(self, a: str, b: str) -> Crossed:
        """Win rate of ``a`` over ``b``, tested against 50 % (no multiplicity adjustment)."""
        k, flip = self._column(a, b)
        row = _rate(self.ratios, k, 0.5, self.confidence, f"{a} and {b} were never ranked together")
        return row.mirrored() if flip else row

    def difference(self, first: tuple[str, str], second: tuple[str, str]) -> Crossed:
        """Win rate ``first`` minus win rate ``second``, tested against 0."""
        empty = f"{' vs '.join(first)} or {' vs '.join(second)} has no rankings"
        return _difference(self.ratios, self._column(*first), self._column(*second), self.confidence, empty)


def crossed_win_rates(table: RankingTable, *, confidence: float = 0.95) -> CrossedWinRates:
    """The crossed statistics of the win rates of every pair of policies of ``table``."""
    pairs = tuple(combinations(range(len(table.policies)), 2))
    present = table.rank >= 0
    num = np.zeros((table.n, len(pairs)))
    den = np.zeros((table.n, len(pairs)))
    for k, (i, j) in enumerate(pairs):
        both = present[:, i] & present[:, j]
        den[:, k] = both
        num[:, k] = both & (table.rank[:, i] < table.rank[:, j])
    ratios = _ratios(table.prompt, table.rater, len(table.prompts), len(table.raters), num, den)
    return CrossedWinRates(table.policies, pairs, ratios, confidence)


@dataclass(frozen=True, eq=False)
class CrossedHarmless:
    """Harmless rates of every policy of one table."""

    policies: tuple[str, ...]
    ratios: _Ratios
    confidence: float

    def rate(self, policy: str) -> Crossed:
        """Harmless rate of ``policy`` (no test: ``p_value`` is NaN)."""
        return _rate(self.ratios, self.policies.index(policy), None, self.confidence,
                     f"{policy} has no harmless/harmful labels")

    def difference(self, a: str, b: str) -> Crossed:
        """Harmless rate of ``a`` minus that of ``b``, tested against 0."""
        i, j = self.policies.index(a), self.policies.index(b)
        missing = a if not self.ratios.den[i] > 0 else b
        return _difference(self.ratios, (i, False), (j, False), self.confidence,
                           f"{missing} has no harmless/harmful labels")


def crossed_harmless(table: HarmTable, *, confidence: float = 0.95) -> CrossedHarmless:
    """The crossed statistics of the harmless rate of every policy of ``table``."""
    den = np.zeros((table.n, len(table.policies)))
    den[np.arange(table.n), table.policy] = 1.0
    num = den * table.harmless[:, None]
    ratios = _ratios(table.prompt, table.rater, len(table.prompts), len(table.raters), num, den)
    return CrossedHarmless(table.policies, ratios, confidence)
