"""Statistics of human evaluation (SPEC §4): win rates, significance, harmlessness, length
control, Bradley–Terry strengths, rater agreement and sample-size planning.

Plain Python on numpy/scipy — it never imports Django, so the pipeline, the Celery workers and
the report views can all use it. Plain data in (:class:`Ranking`, :class:`HarmLabel` or dicts
with the same keys), frozen dataclasses out; every result has ``to_dict()`` for JSON.

The usual entry point is :func:`compute_report`.
"""

from ._common import Interval, wilson_interval
from .agreement import (
    AgreementStats,
    RaterAgreement,
    alpha_from_codes,
    harm_agreement,
    krippendorff_alpha,
    percent_agreement,
    ranking_agreement,
    rater_majority_agreement,
)
from .bradley_terry import BradleyTerry, BTStrength, bradley_terry_strengths, fit_bradley_terry
from .crossed import Crossed, crossed_harmless, crossed_win_rates
from .harmless import (
    HarmlessRate,
    ProportionTest,
    compare_harmless,
    harmless_rates,
    harmless_tests,
    two_proportion_z_test,
)
from .length import LengthControl, LogisticFit, fit_logistic, length_control, length_table
from .power import (
    PowerPlan,
    plan_sample_size,
    power_one_sample,
    power_two_sample,
    sample_size_one_sample,
    sample_size_two_sample,
)
from .records import HarmLabel, Ranking
from .report import Report, compute_report
from .significance import (
    TTest,
    holm,
    paired_prompt_t_test,
    t_test_one_sample,
    t_test_one_sample_counts,
    t_test_paired,
    t_test_two_sample,
    t_test_two_sample_counts,
)
from .tables import HarmTable, RankingTable, encode_harm_labels, encode_rankings
from .winrate import (
    WinRate,
    WinRateComparison,
    baseline_comparisons,
    compare_win_rates,
    outcomes,
    pair_counts,
    win_rate,
    win_rate_table,
    win_rates_vs,
)

__all__ = [
    "AgreementStats", "BTStrength", "BradleyTerry", "HarmLabel", "HarmTable", "HarmlessRate", "Interval",
    "LengthControl", "LogisticFit", "PowerPlan", "ProportionTest", "Ranking", "RankingTable", "RaterAgreement",
    "Report", "TTest", "WinRate", "WinRateComparison", "Crossed",
    "alpha_from_codes", "baseline_comparisons", "crossed_harmless", "crossed_win_rates", "bradley_terry_strengths", "compare_harmless", "compare_win_rates",
    "compute_report", "encode_harm_labels", "encode_rankings", "fit_bradley_terry", "fit_logistic",
    "harm_agreement", "harmless_rates", "harmless_tests", "holm", "krippendorff_alpha", "length_control",
    "length_table", "outcomes", "pair_counts", "paired_prompt_t_test", "percent_agreement", "plan_sample_size",
    "power_one_sample", "power_two_sample", "ranking_agreement", "rater_majority_agreement",
    "sample_size_one_sample", "sample_size_two_sample", "t_test_one_sample", "t_test_one_sample_counts",
    "t_test_paired", "t_test_two_sample", "t_test_two_sample_counts", "two_proportion_z_test",
    "wilson_interval", "win_rate", "win_rate_table", "win_rates_vs",
]
