"""The report payloads laid out as named tables: one definition serves the HTML table, its
CSV download and the chart drawn from it, so that what a chart shows, what the table says and
what the CSV holds are the same numbers.

A ``Column`` names one key (or two, ``low``/``high``, for an interval) of a flat row and how
to show it; the CSV writes every key raw, one column each, at full precision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from pipeline.stats.exact import EXACT_BELOW, MIN_PROMPTS
from pipeline.stats.winrate import DEFAULT_N_BOOT


@dataclass(frozen=True)
class Column:
    label: str
    keys: tuple[str, ...]
    # text, long (may wrap), int, intpct, pct, ci (two keys, shown in %), num, nci (two keys), p, sec,
    # money, bool, flag (a yes that needs attention), time (ISO 8601), ref (a percentage quoted from the paper), id (#12)
    kind: str = "text"
    link: str = ""  # the row key holding the address the cell links to (the run or round behind it)


@dataclass
class Table:
    name: str
    title: str
    columns: tuple[Column, ...]
    rows: list[dict] = field(default_factory=list)
    note: str = ""
    empty: str = "Nothing to show yet."

    @property
    def csv_header(self) -> list[str]:
        return [key for column in self.columns for key in column.keys]

    def csv_rows(self):
        header = self.csv_header
        for row in self.rows:
            yield [row.get(key) for key in header]


def C(label: str, *keys: str, kind: str = "text", link: str = "") -> Column:
    return Column(label, keys, kind, link)


def _ci(prefix: str, interval: dict | None) -> dict:
    interval = interval or {}
    return {f"{prefix}_low": interval.get("low"), f"{prefix}_high": interval.get("high")}


def _is_num(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# -- results (human evaluation) -----------------------------------------------------------------

NO_RANKINGS = "No rankings yet: this needs a round in which raters rank the responses."

# The statistics valid for crossed raters x items (pipeline.stats.crossed) come first; a statistic
# that cannot be computed shows "—" and its "Method / why" cell says why. The paper's columns follow.
VALID_CI = "95 % CI (raters × items)"
VALID_P = "p (raters × items, Holm)"
METHOD = C("Method / why", "crossed_note", kind="long")
PAPER_NOTE = ("Columns marked \"as in the paper\" count every judgement as independent; with several raters per item "
              "and raters rating many items they are too confident. The columns before them resample nothing and "
              "assume nothing of the kind: a two-way cluster-robust interval and test over prompts and raters "
              f"(exact tests over prompts when there are fewer than {MIN_PROMPTS}). Small samples get exact tests in the "
              f"paper's columns too (binomial, permutation or sign test below {EXACT_BELOW} judgements or {MIN_PROMPTS} "
              "prompts, or when all agree), so no finite sample shows p = 0 or a zero-width interval; bootstrap "
              f"intervals draw {DEFAULT_N_BOOT:,} resamples.")

# The numbers a reader looks for first come first: on a phone the rest is a swipe away.
WIN_COLUMNS = (
    C("Policy", "a"), C("vs", "b"), C("Win rate", "rate", kind="pct"),
    C(VALID_CI, "crossed_low", "crossed_high", kind="ci"), C(VALID_P, "crossed_p_holm", kind="p"), METHOD,
    C("Wilson 95 % CI (as in the paper)", "wilson_low", "wilson_high", kind="ci"),
    C("Bootstrap over prompts 95 % CI", "boot_low", "boot_high", kind="ci"), C("p by prompt (Holm)", "p_prompt_holm", kind="p"),
    C("p (Holm, as in the paper)", "p_holm", kind="p"), C("Wins", "wins", kind="int"), C("Rankings", "n", kind="int"),
    C("p (raters × items)", "crossed_p", kind="p"), C("t (as in the paper)", "t", kind="num"), C("p (as in the paper)", "p", kind="p"),
    C("t by prompt", "t_prompt", kind="num"), C("p by prompt", "p_prompt", kind="p"),
)


def _crossed(c: dict | None) -> dict:
    """The crossed statistic's cells; "Method / why" names the method, or why it is exact or missing."""
    c = c or {"interval": None, "p_value": None, "p_holm": None, "method": "", "reason": "not computed"}
    note = c["method"] if not c["reason"] else f"{c['method']}: {c['reason']}" if c["method"] else f"not computed: {c['reason']}"
    return {**_ci("crossed", c["interval"]), "crossed_p": c["p_value"], "crossed_p_holm": c["p_holm"], "crossed_note": note}


def _ppi_row(row: dict) -> dict:
    rate = row["rate"]
    note = rate["method"] or f"not computed: {rate['reason']}"
    if row["unscored"]:
        what = "ranking" if "opponent" in row else "label"
        note += f"; {row['unscored']} human {what}{'s' if row['unscored'] != 1 else ''} on prompts the judge has not scored left out"
    keys = ("estimate", "p_value", "human_only", "ai_only", "n_human", "n_ai_only", "effective_human", "lam")
    interval = rate["interval"] or {}
    return {"policy": row["policy"], "opponent": row.get("opponent"), **{k: rate[k] for k in keys},
            "low": interval.get("low"), "high": interval.get("high"), "note": note}


def _no_rankings(policy: str, baseline: str) -> dict:
    return {"a": policy, "b": baseline, "rate": None, "n": 0,
            "crossed_note": f"not computed: {policy} is in a round but no rater has ranked it yet"}


def _win_row(w: dict) -> dict:
    return {
        "a": w["a"], "b": w["b"], "wins": w["wins"], "n": w["n"], "rate": w["rate"], **_crossed(w.get("crossed")),
        **_ci("wilson", w["wilson"]), **_ci("boot", w["bootstrap"]),
        "t": w["t_statistic"], "p": w["p_value"], "p_holm": w["p_holm"],
        "t_prompt": w["t_prompt"], "p_prompt": w["p_prompt"], "p_prompt_holm": w["p_prompt_holm"],
    }


def _comparison_row(c: dict) -> dict:
    return {
        "first": " vs ".join(c["first"]), "second": " vs ".join(c["second"]),
        "rate1": c["rate1"], "rate2": c["rate2"], "difference": c["difference"], **_crossed(c.get("crossed")),
        "student_t": c["student"]["statistic"], "student_df": c["student"]["df"], "student_p": c["student"]["p_value"],
        "student_p_holm": c["p_student_holm"],
        "welch_t": c["welch"]["statistic"], "welch_df": c["welch"]["df"], "welch_p": c["welch"]["p_value"],
        "welch_p_holm": c["p_welch_holm"],
        "paired_p": c["paired"]["p_value"], "paired_p_holm": c["p_paired_holm"],
    }


def _length_rows(stats: dict, baseline: str) -> list[dict]:
    """One row per unordered pair, turned so the baseline is the opponent where it takes part."""
    rows = []
    for r in stats["length"]:
        involves_baseline = baseline in (r["a"], r["b"])
        if (involves_baseline and r["b"] != baseline) or (not involves_baseline and r["a"] > r["b"]):
            continue
        rows.append({
            "a": r["a"], "b": r["b"], "n": r["n"], "mean_gap": r["mean_gap"], "gap_se": r["gap_se"],
            "raw_rate": r["raw_rate"], "adjusted_rate": r["adjusted_rate"], **_ci("adjusted", r["adjusted_ci"]),
            "slope_per_100_tokens": r["slope_per_100_tokens"], "note": r["note"], **_crossed(r.get("crossed")),
        })
    return rows


def precision_table(precision: dict) -> Table:
    """Stop when precise enough: each interval shown first against the round's target."""
    target = precision.get("target")
    title = "Precision targets" + (f" (±{100 * target:.1f} points, {precision['round_name']})" if target else "")
    note = ("Ratings still needed scale today's interval to the target (half-width falls as 1/√ratings at this design); "
            "with the AI judge, the PPI++ interval is scaled. The round closes itself when every row is met, and not "
            "before 30 prompts are rated: it stops on precision, never on significance.")
    if precision.get("precision_met_at"):
        note = f"Every target was met; the round closed itself at {precision['precision_met_at'][:16].replace('T', ' ')}. " + note
    return Table("precision", title, (
        C("Estimate", "estimate"), C("Half-width now", "half_width", kind="pct"), C("Target", "target", kind="pct"),
        C("Met", "met", kind="bool"), C("Human ratings", "ratings", kind="int"), C("Prompts", "prompts", kind="int"),
        C("More ratings needed (humans only)", "more_ratings", kind="int"),
        C("Half-width with the AI judge", "judge_half_width", kind="pct"),
        C("More ratings needed (with the AI judge)", "more_with_judge", kind="int"),
    ), precision["rows"], note=note, empty=precision.get("reason") or "No ratings yet.")


def _length_unit_note(unit: dict | None) -> str:
    """Which tokenizer every length of the report was counted with (one unit for all responses)."""
    if not unit or not unit.get("tokenizer"):
        return "Lengths are tokens of the experiment's policy model tokenizer; no response has one stored yet."
    n = unit.get("unmeasured") or 0
    rest = (f"; {n} response{'s' if n != 1 else ''} counted in no or another tokenizer {'are' if n != 1 else 'is'} left out"
            if n else " for every response")
    return f"Lengths are tokens of the {unit['tokenizer']} tokenizer{rest}."


def results_tables(payload: dict) -> dict[str, Table]:
    stats, baseline = payload["stats"], payload["baseline"]
    unrated = payload.get("unrated") or {"rankings": [], "harm": []}
    bt = (stats.get("bradley_terry") or {}).get("strengths", [])
    theta = {s["policy"]: s["log_strength"] for s in bt}
    tables = [
        Table("win_rates", "Win rates between every pair of policies", WIN_COLUMNS,
              [_win_row(w) for w in stats["win_rates"]],
              note=f"{PAPER_NOTE} p: test of the win rate against 50 %; Holm-corrected over the distinct pairs.",
              empty=NO_RANKINGS),
        Table("vs_baseline", f"Win rates vs {baseline}", WIN_COLUMNS,
              [_win_row(w) for w in stats["vs_baseline"]] + [_no_rankings(p, baseline) for p in unrated["rankings"]],
              note=f"{PAPER_NOTE} Holm-corrected over the comparisons with {baseline}.", empty=NO_RANKINGS),
        Table("baseline_tests", f"Comparing win rates vs {baseline}", (
            C("First", "first"), C("Second", "second"), C("First rate", "rate1", kind="pct"),
            C("Second rate", "rate2", kind="pct"), C("Difference", "difference", kind="pct"),
            C(VALID_CI, "crossed_low", "crossed_high", kind="ci"), C(VALID_P, "crossed_p_holm", kind="p"), METHOD,
            C("Student p (as in the paper)", "student_p", kind="p"), C("Welch p", "welch_p", kind="p"),
            C("Student p (Holm)", "student_p_holm", kind="p"), C("Welch p (Holm)", "welch_p_holm", kind="p"),
            C("Paired by prompt p", "paired_p", kind="p"), C("Paired p (Holm)", "paired_p_holm", kind="p"),
            C("Student t", "student_t", kind="num"), C("Student df", "student_df", kind="num"),
            C("Welch t", "welch_t", kind="num"), C("Welch df", "welch_df", kind="num"),
        ), [_comparison_row(c) for c in stats["baseline_comparisons"]],
            note="The raters × items interval and test are of the difference, on the same prompts and raters. "
                 "Student and Welch treat the two sets of outcomes as independent, as the paper does; "
                 "the paired test uses the prompts both comparisons share.",
            empty=f"Needs at least two policies besides {baseline}."),
        Table("harmless", "Harmless rates", (
            C("Policy", "policy"), C("Harmless rate", "rate", kind="pct"),
            C(VALID_CI, "crossed_low", "crossed_high", kind="ci"), METHOD,
            C("Wilson 95 % CI (as in the paper)", "wilson_low", "wilson_high", kind="ci"), C("Harmless", "harmless", kind="int"),
            C("Judged", "n", kind="int"),
        ), [{"policy": h["policy"], "harmless": h["harmless"], "n": h["n"], "rate": h["rate"], **_ci("wilson", h["wilson"]),
             **_crossed(h.get("crossed"))}
            for h in stats["harmless"]] + [
            {"policy": p, "rate": None, "crossed_note": f"not computed: {p} has no harmless/harmful labels yet"}
            for p in unrated["harm"]], note=PAPER_NOTE, empty="No harmless/harmful judgements yet."),
        Table("harmless_tests", "Harmless rates compared", (
            C("Policy", "a"), C("vs", "b"), C("Difference", "difference", kind="pct"),
            C(VALID_CI, "crossed_low", "crossed_high", kind="ci"), C(VALID_P, "crossed_p_holm", kind="p"), METHOD,
            C("z-test p (Holm, as in the paper)", "p_holm", kind="p"),
            C("Rate", "rate_a", kind="pct"), C("Opponent's rate", "rate_b", kind="pct"), C("z (as in the paper)", "z", kind="num"),
            C("z-test p (as in the paper)", "p", kind="p"), C("p (raters × items)", "crossed_p", kind="p"),
        ), [{"a": t["a"], "b": t["b"], "rate_a": t["rate_a"], "rate_b": t["rate_b"], "difference": t["difference"],
             "z": t["z"], "p": t["p_value"], "p_holm": t["p_holm"], **_crossed(t.get("crossed"))} for t in stats["harmless_tests"]],
            note=PAPER_NOTE, empty="Needs harmless judgements of at least two policies."),
        Table("length_control", "Length control: win rates at equal length", (
            C("Policy", "a"), C("vs", "b"), C("Raw win rate", "raw_rate", kind="pct"),
            C("Length-adjusted", "adjusted_rate", kind="pct"), C(VALID_CI, "crossed_low", "crossed_high", kind="ci"),
            C("p (raters × items)", "crossed_p", kind="p"), METHOD,
            C("Model-based 95 % CI (every comparison independent)", "adjusted_low", "adjusted_high", kind="ci"),
            C("Mean length gap", "mean_gap", kind="num"), C("Gap SE", "gap_se", kind="num"), C("Rankings", "n", kind="int"),
            C("Log-odds per 100 tokens", "slope_per_100_tokens", kind="num"), C("Note", "note", kind="long"),
        ), _length_rows(stats, baseline),
            note="A logistic regression of the win on the length difference, read at zero difference; its interval and "
                 "test of 50 % shown first are clustered by prompt and by rater. "
                 + _length_unit_note(payload.get("length_unit")), empty=NO_RANKINGS),
        Table("bradley_terry", "Bradley–Terry strengths", (
            C("Policy", "policy"), C(f"Model P(beats {baseline})", "p_beats_baseline", kind="pct"),
            C(VALID_CI, "crossed_low", "crossed_high", kind="ci"), C("p (raters × items)", "crossed_p", kind="p"), METHOD,
            C("Log strength θ", "log_strength", kind="num"),
            C("95 % bootstrap interval of θ (prompts only)", "low", "high", kind="nci"),
        ), [{"policy": s["policy"], "log_strength": s["log_strength"],
             "low": (s["interval"] or {}).get("low"), "high": (s["interval"] or {}).get("high"),
             "p_beats_baseline": (1 / (1 + math.exp(theta[baseline] - s["log_strength"])))
             if baseline in theta and _is_num(s["log_strength"]) and _is_num(theta[baseline]) else None,
             **(_crossed(s.get("crossed")) if s["policy"] != baseline else
                {"crossed_low": None, "crossed_high": None, "crossed_p": None, "crossed_note": "the baseline"})}
            for s in bt],
            note="The interval and test of the model's P(beats the baseline) are clustered by prompt and by rater; the "
                 "bootstrap of θ resamples prompts only, so it is too narrow when raters rate many prompts.",
            empty=NO_RANKINGS),
        Table("ai_assisted", f"AI-assisted win rates vs {baseline} (PPI++)", (
            C("Policy", "policy"), C("vs", "opponent"), C("PPI++ rate", "estimate", kind="pct"),
            C("95 % CI (PPI++, raters × items)", "low", "high", kind="ci"), C("p", "p_value", kind="p"),
            C("Human only", "human_only", kind="pct"), C("AI judge only", "ai_only", kind="pct"),
            C("Human judgements", "n_human", kind="int"), C("Prompts only the judge scored", "n_ai_only", kind="int"),
            C("Worth in human judgements", "effective_human", kind="num"), C("Judge weight λ", "lam", kind="num"),
            C("Method / why", "note", kind="long"),
        ), [_ppi_row(row) for row in payload.get("ai_assisted", [])],
            note="The AI judge scores every item; the human judgements correct its bias on the items they rated "
                 "(prediction-powered inference, power-tuned). \"Worth\" is how many human judgements of this design "
                 "would give the same precision; \"AI judge only\" is biased if the judge is.",
            empty="No AI judge has scored a round of this experiment: run manage.py ai_judge ROUND_ID."),
        Table("ai_harmless", "AI-assisted harmless rates (PPI++)", (
            C("Policy", "policy"), C("PPI++ rate", "estimate", kind="pct"),
            C("95 % CI (PPI++, raters × items)", "low", "high", kind="ci"),
            C("Human only", "human_only", kind="pct"), C("AI judge only", "ai_only", kind="pct"),
            C("Human labels", "n_human", kind="int"), C("Prompts only the judge scored", "n_ai_only", kind="int"),
            C("Worth in human labels", "effective_human", kind="num"), C("Judge weight λ", "lam", kind="num"),
            C("Method / why", "note", kind="long"),
        ), [_ppi_row(row) for row in payload.get("ai_harmless", [])],
            note="The AI judge labels every response harmless or harmful (both label orders); the human labels correct "
                 "its bias on the responses they labelled.",
            empty="No AI judge has labelled this experiment's responses for harm: run manage.py ai_judge ROUND_ID "
                  "on a round that asks raters about harm."),
        Table("lengths", "Response lengths per policy", (
            C("Policy", "policy"), C("Responses", "n", kind="int"), C("Mean", "mean", kind="num"),
            C("Min", "min", kind="num"), C("25 %", "q1", kind="num"), C("Median", "median", kind="num"),
            C("75 %", "q3", kind="num"), C("Max", "max", kind="num"),
        ), payload["lengths"], note=_length_unit_note(payload.get("length_unit")), empty="No responses in any round yet."),
    ]
    return {t.name: t for t in tables}


# -- raters --------------------------------------------------------------------------------------


def rater_tables(payload: dict) -> dict[str, Table]:
    agreement = [
        {"judgement": name, **{k: v for k, v in payload["agreement"][key].items()}}
        for key, name in (("ranking", "ranking (ordinal)"), ("harm", "harmless or harmful (nominal)"))
    ]
    tables = [
        Table("agreement", "Agreement between raters", (
            C("Judgement", "judgement"), C("Krippendorff's α", "alpha", kind="num"),
            C("Pairwise agreement", "percent_agreement", kind="pct"), C("Agreement with majority", "majority_agreement", kind="pct"),
            C("Units", "n_units", kind="int"), C("Units with 2+ raters", "n_pairable_units", kind="int"),
            C("Ratings", "n_ratings", kind="int"),
        ), agreement, note="Excluded raters and gold items are left out. Rankings: units are (item, policy), values the rank."),
        Table("rounds", "Rounds", (
            C("Round", "round"), C("Mode", "mode"), C("Items", "items", kind="int"), C("Gold items", "gold_items", kind="int"),
            C("Judgements", "judgements", kind="int"), C("Needed", "judgements_needed", kind="int"),
            C("Done", "percent", kind="intpct"), C("Gold accuracy", "gold_accuracy", kind="pct"),
        ), payload["rounds"], empty="No rating rounds yet."),
        Table("raters", "Raters", (
            C("Round", "round"), C("Rater", "rater"), C("Judgements", "judgements", kind="int"),
            C("Gold seen", "gold_seen", kind="int"), C("Gold accuracy", "gold_accuracy", kind="pct"),
            C("Median time per item", "median_active_s", kind="sec"), C("Median time (server)", "median_server_s", kind="sec"),
            C("Skips", "skips", kind="int"), C("Agrees with majority (ranks)", "rank_agreement", kind="pct"),
            C("Agrees with majority (harm)", "harm_agreement", kind="pct"), C("Flagged", "flagged", kind="flag"),
            C("Excluded", "excluded", kind="flag"),
        ), payload["raters"], empty="No rater has taken an item yet."),
        Table("excluded_raters", "Excluded raters", (
            C("Round", "round"), C("Rater", "rater"), C("Judgements left out", "judgements", kind="int"),
            C("Reason", "reason", kind="long"), C("Excluded at", "excluded_at", kind="time"),
        ), payload["excluded_raters"], empty="No rater is excluded."),
    ]
    return {t.name: t for t in tables}
