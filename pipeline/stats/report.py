"""One call that computes every table of the human-evaluation report page.

``compute_report(rankings, harm_labels)`` encodes the data once, draws one set of
prompt-bootstrap weights (shared by the win-rate and Bradley–Terry intervals, so the two are
computed on the same resamples), and returns a frozen :class:`Report`; ``report.to_dict()``
is JSON-ready (NaN → None). Plain Python + numpy/scipy; no Django.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from itertools import combinations

from ._common import Serializable, prompt_bootstrap_weights
from .agreement import AgreementStats, harm_agreement, ranking_agreement
from .bradley_terry import BradleyTerry, _bradley_terry, bradley_terry_crossed
from .crossed import CrossedHarmless, CrossedWinRates, crossed_harmless, crossed_win_rates, with_holm
from .harmless import HarmlessRate, ProportionTest, harmless_rates, harmless_tests
from .length import LengthControl, length_table
from .tables import HarmInput, RankingsInput, ensure_harm_table, ensure_ranking_table
from .winrate import (
    DEFAULT_N_BOOT,
    WinRate,
    WinRateComparison,
    _baseline_comparisons,
    _rows_vs,
    _table_rows,
    pair_counts,
)

__all__ = ["Report", "compute_report"]


@dataclass(frozen=True)
class Report(Serializable):
    """Every table of the report. Tuples of rows; each row is a frozen dataclass.

    Every win-rate, harmless-rate and comparison row carries ``crossed``: the interval and test
    valid for crossed raters x items (:mod:`pipeline.stats.crossed`), shown first; the other
    intervals and tests are those of the paper, which count judgements as independent.

    * ``win_rates`` — all ordered pairs; one-sample p-values Holm-adjusted over distinct pairs;
    * ``vs_baseline`` — each policy vs ``baseline``; Holm over those tests;
    * ``baseline_comparisons`` — each pair of policy-vs-baseline win rates: Student, Welch and
      paired-by-prompt t-tests, Holm within each kind;
    * ``harmless`` / ``harmless_tests`` — harmless rates with Wilson intervals, pairwise z-tests;
    * ``length`` — length gap and length-adjusted win rate for all ordered pairs;
    * ``bradley_terry`` — strengths with prompt-bootstrap intervals (None without rankings);
    * ``ranking_agreement`` / ``harm_agreement`` — Krippendorff's alpha and friends.
    """

    baseline: str
    policies: tuple[str, ...]
    n_rankings: int
    n_prompts: int
    n_items: int
    n_raters: int
    n_harm_labels: int
    n_boot: int
    seed: int | None
    confidence: float
    win_rates: tuple[WinRate, ...] = field(default=())
    vs_baseline: tuple[WinRate, ...] = field(default=())
    baseline_comparisons: tuple[WinRateComparison, ...] = field(default=())
    harmless: tuple[HarmlessRate, ...] = field(default=())
    harmless_tests: tuple[ProportionTest, ...] = field(default=())
    length: tuple[LengthControl, ...] = field(default=())
    bradley_terry: BradleyTerry | None = None
    ranking_agreement: AgreementStats | None = None
    harm_agreement: AgreementStats | None = None

    def win_rate(self, a: str, b: str) -> WinRate:
        """The row of ``a`` vs ``b`` from ``win_rates``."""
        for row in self.win_rates:
            if row.a == a and row.b == b:
                return row
        raise KeyError(f"no win rate of {a!r} vs {b!r}; policies are {list(self.policies)}")


def compute_report(
    rankings: RankingsInput,
    harm_labels: HarmInput = (),
    *,
    baseline: str = "sft",
    n_boot: int = DEFAULT_N_BOOT,
    seed: int | None = 0,
    confidence: float = 0.95,
) -> Report:
    """Compute the full human-evaluation report.

    ``rankings``: :class:`~pipeline.stats.records.Ranking` objects or dicts with the same keys;
    ``harm_labels``: :class:`~pipeline.stats.records.HarmLabel` objects or dicts (either may also be
    an already encoded table). ``n_boot``
    prompt-bootstrap resamples drawn from ``seed`` (same seed, same intervals).
    Raises ``ValueError`` for malformed input or a ``baseline`` that no ranking contains.
    """
    if n_boot < 0:
        raise ValueError(f"n_boot must be ≥ 0, got {n_boot}")
    table = ensure_ranking_table(rankings)
    harm = ensure_harm_table(harm_labels)
    if table.n and baseline not in table.policies:
        raise ValueError(f"baseline {baseline!r} is not among the ranked policies {list(table.policies)}")

    weights = prompt_bootstrap_weights(len(table.prompts), n_boot, seed)
    counts = pair_counts(table)
    rows = _table_rows(counts, weights, confidence)
    ranked = table.n > 0
    cw = crossed_win_rates(table, confidence=confidence)
    ch = crossed_harmless(harm, confidence=confidence)
    return Report(
        baseline=baseline,
        policies=table.policies,
        n_rankings=table.n,
        n_prompts=len(table.prompts),
        n_items=len(table.items),
        n_raters=len(table.raters),
        n_harm_labels=harm.n,
        n_boot=n_boot,
        seed=seed,
        confidence=confidence,
        win_rates=_crossed_all_pairs(rows, cw),
        vs_baseline=_crossed_rows(_rows_vs(counts, rows, baseline), cw) if ranked else (),
        baseline_comparisons=_crossed_comparisons(_baseline_comparisons(counts, baseline), cw) if ranked else (),
        harmless=tuple(replace(h, crossed=ch.rate(h.policy)) for h in harmless_rates(harm, confidence=confidence)),
        harmless_tests=_crossed_harm_tests(harmless_tests(harm), ch),
        length=length_table(table, confidence=confidence),
        bradley_terry=bradley_terry_crossed(_bradley_terry(counts, weights, confidence), table, baseline,
                                            confidence=confidence) if ranked else None,
        ranking_agreement=ranking_agreement(table),
        harm_agreement=harm_agreement(harm),
    )


def _crossed_rows(rows: tuple[WinRate, ...], cw: CrossedWinRates) -> tuple[WinRate, ...]:
    """``rows`` with their crossed statistic, Holm over these rows (one family)."""
    crossed = with_holm([cw.rate(r.a, r.b) for r in rows])
    return tuple(replace(r, crossed=c) for r, c in zip(rows, crossed))


def _crossed_all_pairs(rows: tuple[WinRate, ...], cw: CrossedWinRates) -> tuple[WinRate, ...]:
    """Every ordered pair; Holm over the distinct pairs (a row and its mirror share one test)."""
    pairs = list(combinations(cw.policies, 2))
    by_pair = dict(zip(pairs, with_holm([cw.rate(a, b) for a, b in pairs])))
    return tuple(replace(r, crossed=by_pair[(r.a, r.b)] if (r.a, r.b) in by_pair else by_pair[(r.b, r.a)].mirrored())
                 for r in rows)


def _crossed_comparisons(rows: tuple[WinRateComparison, ...], cw: CrossedWinRates) -> tuple[WinRateComparison, ...]:
    crossed = with_holm([cw.difference(r.first, r.second) for r in rows])
    return tuple(replace(r, crossed=c) for r, c in zip(rows, crossed))


def _crossed_harm_tests(rows: tuple[ProportionTest, ...], ch: CrossedHarmless) -> tuple[ProportionTest, ...]:
    crossed = with_holm([ch.difference(r.a, r.b) for r in rows])
    return tuple(replace(r, crossed=c) for r, c in zip(rows, crossed))
