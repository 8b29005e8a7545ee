"""The "paper" page of an experiment: the paper's Table 1, harmless rates, Table 2, Table 3,
Figure 5 and Appendix M, laid out from the same report payloads as the other pages.

Nothing is computed here that another page computes: the rows are those of the results and
alignment tables (``tables.py``, ``run_tables.py``), picked and given two extras, the paper's own number (a grey
column, quoted from SPEC.md) and a link to the round or run each row comes from. Every table's
empty text is the command that fills it.
"""

from __future__ import annotations

from dataclasses import replace

from django.urls import reverse

from webapp.experiments.models import Experiment
from webapp.rating.models import Mode, Round
from webapp.reports import run_selectors, run_tables, selectors, tables
from webapp.reports.tables import C, Column, Table

SFT = "sft"

# The paper's figures as SPEC.md §3-4 states them: win rate over SFT by (task, policy); a task
# of None where SPEC names none (the same-size comparison of §3).
PAPER_VS_SFT: dict[tuple[str | None, str], tuple[float, str]] = {
    ("summarization", "rlaif"): (0.71, "summarization"),
    ("summarization", "rlhf"): (0.73, "summarization"),
    ("helpful", "rlaif"): (0.63, "helpful dialogue"),
    ("helpful", "rlhf"): (0.64, "helpful dialogue"),
    (None, "direct-rlaif"): (0.74, "direct RLAIF, labeler the size of the policy"),
    (None, "same-size-rlaif"): (0.68, "distilled RLAIF, labeler the size of the policy"),
}
PAPER_HEAD_TO_HEAD = (0.50, "RLAIF vs RLHF, about even")
PAPER_HARMLESS = {"sft": 0.64, "rlhf": 0.76, "rlaif": 0.88}
HEAD_TO_HEAD = ("rlaif", "rlhf")


def _admin(model: str, pk: int | None) -> str | None:
    return reverse(f"admin:{model}_change", args=[pk]) if pk is not None else None


def _commands(slug: str) -> dict[str, str]:
    """What fills each block, as the researcher would type it (or the button that does)."""
    manage = "python manage.py"
    return {
        "table1": f"No rankings yet. Start the pipeline with the \u201cRun the experiment\u201d button or `{manage} run_experiment "
                  f"{slug} --arms sft rlhf rlaif`, then open a round on its samples (`{manage} make_round --experiment {slug}`) "
                  "and let raters rank.",
        "harmless": f"No harmless/harmful judgements yet. Open a round that asks about harm: `{manage} make_round --experiment "
                    f"{slug} --mode both`.",
        "table2": f"No labeling sweep yet. Run `{manage} label_sweep --experiment {slug} --split test --limit 100`.",
        "table3": f"No labeler comparison yet. Run `{manage} label_compare --experiment {slug} --models smollm2-135m-instruct "
                  "smollm2-135m-instruct@bf16-mlp --limit 100`.",
        "figure5": f"No reward-model curve yet. Label the training pairs (`{manage} label --experiment {slug} --split train`), "
                   f"then run `{manage} rm_curve --experiment {slug} --sizes 50 100 200 --labels human ai`; or start the "
                   f"pipeline with \u201cReward-model curve (Figure 5)\u201d ticked (`{manage} run_experiment {slug} --reward-curve`).",
        "appendix_m": f"No self-consistency rows yet. Run `{manage} label_sweep --experiment {slug} --split test --limit 100 "
                      "--self-consistency 4 16`.",
    }


def _round_finder(experiment: Experiment):
    """The newest round in which all of ``policies`` take part (ranked, or judged for harm)."""
    rounds = list(Round.objects.filter(experiment=experiment).order_by("-created_at", "-id").values_list("id", "policies", "mode"))

    def find(*policies: str, harm: bool = False) -> int | None:
        modes = (Mode.HARMLESS, Mode.BOTH) if harm else (Mode.RANK, Mode.BOTH)
        return next((pk for pk, names, mode in rounds if mode in modes and set(policies) <= set(names or ())), None)

    return find


def _with_round(row: dict, round_id: int | None) -> dict:
    return {**row, "round_id": round_id, "round_url": _admin("rating_round", round_id)}


ROUND = C("Round", "round_id", kind="id", link="round_url")
PAPER = C("Paper", "paper", kind="ref")
PAPER_SETTING = C("Paper's setting", "paper_setting", kind="long")


def _table1(win: dict[str, Table] | None, task: str, find, empty: str) -> Table:
    rows = []
    if win is not None:
        for row in win["vs_baseline"].rows:
            paper, setting = PAPER_VS_SFT.get((task, row["a"])) or PAPER_VS_SFT.get((None, row["a"])) or (None, "")
            rows.append(_with_round({**row, "paper": paper, "paper_setting": setting}, find(row["a"], row["b"])))
        for row in win["win_rates"].rows:
            if (row["a"], row["b"]) == HEAD_TO_HEAD or (row["b"] == "reference" and row["a"] in HEAD_TO_HEAD):
                paper, setting = PAPER_HEAD_TO_HEAD if row["b"] != "reference" else (None, "")
                rows.append(_with_round({**row, "paper": paper, "paper_setting": setting}, find(row["a"], row["b"])))
    return Table("paper_table1", "Table 1: win rates vs SFT, and RLAIF vs RLHF", (
        C("Policy", "a"), C("vs", "b"), C("Win rate", "rate", kind="pct"), PAPER,
        C(tables.VALID_CI, "crossed_low", "crossed_high", kind="ci"), C(tables.VALID_P, "crossed_p_holm", kind="p"),
        C("Rankings", "n", kind="int"), ROUND, PAPER_SETTING,
    ), rows, empty=empty,
        note="The interval and test are those the results page shows first (valid for crossed raters × items), over "
             "every round of the experiment; Holm corrects over the comparisons with SFT, and over every pair for "
             "RLAIF vs RLHF. The round linked is the newest that ranks both. The grey column is the paper's number "
             "as SPEC.md quotes it, for comparison only.")


def _harmless(win: dict[str, Table] | None, find, empty: str) -> Table:
    rows = [] if win is None else [
        _with_round({**row, "paper": PAPER_HARMLESS.get(row["policy"])}, find(row["policy"], harm=True))
        for row in win["harmless"].rows
    ]
    return Table("paper_harmless", "Harmless rates (the paper's harmless task)", (
        C("Policy", "policy"), C("Harmless rate", "rate", kind="pct"), PAPER,
        C(tables.VALID_CI, "crossed_low", "crossed_high", kind="ci"), C("Judged", "n", kind="int"), ROUND,
    ), rows, empty=empty, note="The grey column is the paper's harmless rate as SPEC.md quotes it.")


def _linked(columns: tuple[Column, ...], **links: str) -> tuple[Column, ...]:
    """The columns of a table defined in ``tables.py``, the ones named linking to the row's URL
    key and moved to the front, so the run behind a row is in view on a narrow screen too."""
    linked = tuple(replace(c, link=links[c.keys[0]], kind="id") for c in columns if c.keys[0] in links)
    return linked + tuple(c for c in columns if c.keys[0] not in links)


def _self_consistency(row: dict) -> int:
    return row.get("self_consistency") or 1


def _run_links(row: dict) -> dict:
    return {**row, "run_url": _admin("pipeline_labelingrun", row.get("run_id")),
            "sweep_url": _admin("pipeline_labelingsweep", row.get("sweep_id") or row.get("comparison_id"))}


def _sweeps(found: dict[str, Table], commands: dict[str, str]) -> tuple[Table, Table]:
    """Table 2 (plain cells) and Appendix M (self-consistency cells beside their sweep's greedy CoT cell)."""
    source = found["prompt_techniques"]
    rows = [_run_links(r) for r in source.rows]
    k = _self_consistency
    # The greedy CoT cell that each self-consistency cell varies: same sweep, same preamble, 0-shot.
    varied = {(r["sweep_id"], r.get("preamble")) for r in rows if k(r) > 1}
    beside = [r for r in rows if k(r) > 1 or (k(r) == 1 and r.get("cot") and r.get("shots") == 0 and (r["sweep_id"], r.get("preamble")) in varied)]
    columns = _linked(source.columns, run_id="run_url", sweep_id="sweep_url")
    table2 = Table("paper_table2", "Table 2: prompting techniques", columns,
                   [r for r in rows if k(r) == 1], empty=commands["table2"],
                   note="Each sweep labels the same pairs with every cell; alignment is against the human labels.")
    appendix = Table("paper_appendix_m", "Appendix M: self-consistency", columns, beside,
                     empty=commands["appendix_m"],
                     note="Self-consistency samples K chain-of-thought rationales per order at T = 1; the greedy CoT cell "
                          "of the same sweep (self-consistency 1) is the row to read them against.")
    return table2, appendix


def _table3(found: dict[str, Table], empty: str) -> Table:
    source = found["labeler_models"]
    columns = _linked(source.columns, run_id="run_url", comparison_id="sweep_url")
    return Table("paper_table3", "Table 3: alignment by labeler", columns, [_run_links(r) for r in source.rows],
                 note=source.note, empty=empty)


def _figure5(found: dict[str, Table], empty: str) -> Table:
    source = found["rm_accuracy_vs_pairs"]
    columns = _linked(source.columns, run_id="run_url")
    rows = [{**r, "run_url": _admin("pipeline_trainingrun", r["run_id"])} for r in source.rows]
    return Table("paper_figure5", "Figure 5: reward-model accuracy vs training pairs", columns, rows, empty=empty,
                 note="Pairwise accuracy on the test split's human labels; each line is one reward-model run on nested "
                      "subsets of the training pairs.")


def paper_report(experiment: Experiment) -> tuple[dict[str, Table], dict]:
    """The paper page's tables by name, and the results payload they were read from (None when
    no round ranks SFT)."""
    commands = _commands(experiment.slug)
    try:
        payload: dict | None = selectors.human_report(experiment, SFT)
        table1_empty = commands["table1"]
    except selectors.BaselineError as error:
        payload, table1_empty = None, f"No round ranks SFT ({error}). " + commands["table1"]
    find = _round_finder(experiment)
    win = tables.results_tables(payload) if payload is not None else None
    found = run_tables.alignment_tables(run_selectors.alignment_report(experiment), run_selectors.training_report(experiment))
    table2, appendix = _sweeps(found, commands)
    made = [
        _table1(win, experiment.task, find, table1_empty),
        _harmless(win, find, commands["harmless"] if win is not None else table1_empty),
        table2,
        _table3(found, commands["table3"]),
        _figure5(found, commands["figure5"]),
        appendix,
    ]
    return {t.name: t for t in made}, payload or {}


PAPER_TABLES = ("paper_table1", "paper_harmless", "paper_table2", "paper_table3", "paper_figure5", "paper_appendix_m")
