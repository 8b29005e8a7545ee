"""What each report page shows, in order: blocks of a table and the charts drawn from it.

One function per page turns the page's payload (from the selectors) into template context;
``page_table`` finds any table by name for its CSV download. Nothing here touches the
database except through the selectors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from webapp.experiments.models import Experiment
from webapp.reports import figures, judge_selectors, paper_selectors, precision, run_selectors, run_tables, selectors, tables
from webapp.reports.figures import Figure
from webapp.reports.tables import Table

PAGES = ("results", "alignment", "raters", "cost", "paper")


# Past this many rows, a table that has a chart is folded away under it.
FOLD_ROWS = 12


@dataclass
class Block:
    table: Table
    figures: list[Figure] = field(default_factory=list)
    show_table: bool = True
    captions: bool = False  # name each chart (when one table has a chart per run)

    @property
    def collapsed(self) -> bool:
        return bool(self.figures) and len(self.table.rows) > FOLD_ROWS


def _tables(page: str, experiment: Experiment, baseline: str | None = None):
    """(tables, payload, extra) of a page; raises ``selectors.BaselineError``."""
    if page == "results":
        payload = selectors.human_report(experiment, baseline)
        found = {**tables.results_tables(payload), "precision": tables.precision_table(precision.experiment_precision(experiment))}
        return found, payload, None
    if page == "raters":
        payload = selectors.rater_report(experiment)
        return tables.rater_tables(payload), payload, None
    if page == "alignment":
        payload, training = run_selectors.alignment_report(experiment), run_selectors.training_report(experiment)
        found = {**run_tables.alignment_tables(payload, training), **run_tables.judge_tables(judge_selectors.judge_report(experiment))}
        return found, payload, training
    if page == "cost":
        payload = run_selectors.cost_report(experiment)
        return run_tables.cost_tables(payload), payload, None
    if page == "paper":
        found, payload = paper_selectors.paper_report(experiment)
        return found, payload, None
    raise KeyError(page)


# Which page each downloadable table is on, so its CSV link needs nothing but its name.
TABLE_PAGES = {
    **{name: "results" for name in ("precision", "win_rates", "vs_baseline", "baseline_tests", "ai_assisted", "ai_harmless", "harmless", "harmless_tests",
                                    "length_control", "bradley_terry", "lengths")},
    **{name: "raters" for name in ("agreement", "rounds", "raters", "excluded_raters")},
    **{name: "alignment" for name in ("prompt_techniques", "labeler_models", "labeling_runs", "calibration",
                                      "reward_models", "rm_accuracy_vs_pairs", "training_runs", "training_curves", "label_mass", "mixing",
                                      "judge_bias", "judge_calibration", "judge_leans")},
    "cost": "cost",
    **{name: "paper" for name in paper_selectors.PAPER_TABLES},
}


def page_table(name: str, experiment: Experiment, baseline: str | None = None) -> Table | None:
    page = TABLE_PAGES.get(name)
    return None if page is None else _tables(page, experiment, baseline)[0][name]


def _updated_at(payload: dict) -> datetime | None:
    return datetime.fromisoformat(payload["computed_at"]) if payload.get("computed_at") else None


def results_context(experiment: Experiment, baseline: str | None) -> dict:
    found, payload, _ = _tables("results", experiment, baseline)
    drawn = {f.name: f for f in figures.results_figures(found, payload["baseline"])}

    def block(name, show=True):
        return Block(found[name], [drawn[name]] if name in drawn else [], show)

    stats = payload["stats"]
    return {
        "experiment": experiment,
        "payload": payload,
        "stats": stats,
        "baseline": payload["baseline"],
        "policies": stats["policies"],
        "updated_at": _updated_at(payload),
        "fingerprint": payload["fingerprint"],
        "blocks": [block(n) for n in ("vs_baseline", "precision", "baseline_tests", "ai_assisted", "win_rates", "harmless", "harmless_tests", "ai_harmless",
                                      "bradley_terry", "length_control", "lengths")],
        "excluded": payload["excluded_raters"],
    }


def alignment_context(experiment: Experiment) -> dict:
    found, payload, training = _tables("alignment", experiment)
    drawn = {f.name: f for f in figures.alignment_figures(found, training)}
    curves = figures.training_figures(training, found["training_curves"])
    found["training_curves"].empty = "No training run has logged metrics yet."

    def block(name):
        return Block(found[name], [drawn[name]] if name in drawn else [])

    return {
        "experiment": experiment,
        "sections": [
            ("AI labeler", [block(n) for n in ("prompt_techniques", "labeler_models", "labeling_runs", "calibration",
                                                         "label_mass")]),
            ("Reward models", [block("reward_models"), block("rm_accuracy_vs_pairs"), block("mixing")]),
            ("Training", [block("training_runs"), Block(found["training_curves"], curves, show_table=False, captions=True)]),
            ("AI judge", [block(n) for n in ("judge_bias", "judge_calibration", "judge_leans")]),
        ],
    }


def raters_context(experiment: Experiment) -> dict:
    found, payload, _ = _tables("raters", experiment)
    return {"experiment": experiment, "blocks": [Block(t) for t in found.values()], "payload": payload}


def cost_context(experiment: Experiment) -> dict:
    found, payload, _ = _tables("cost", experiment)
    drawn = figures.cost_figures(found)
    return {"experiment": experiment, "blocks": [Block(found["cost"], drawn)], "payload": payload}


def paper_context(experiment: Experiment) -> dict:
    """The paper's tables and Figure 5 in the paper's order, each block with its CSV."""
    found, payload, _ = _tables("paper", experiment)
    curve = figures.rm_curve_figure(found["paper_figure5"])
    blocks = [Block(found[name], [curve] if name == "paper_figure5" and curve else []) for name in paper_selectors.PAPER_TABLES]
    return {"experiment": experiment, "blocks": blocks, "updated_at": _updated_at(payload)}
