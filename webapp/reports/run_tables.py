"""The run pages' tables: the AI-labeler alignment dashboard (with reward models and training),
the cost of AI against human labels, and the AI judge's bias card. Same ``Table``/``Column`` as
the results tables in ``webapp.reports.tables``; ``pages`` lays them out.
"""

from __future__ import annotations

from webapp.reports.tables import C, Table

# -- alignment, reward models, training -------------------------------------------------------------

ALIGNMENT_COLUMNS = (
    C("Alignment", "alignment", kind="pct"), C("95 % CI", "alignment_low", "alignment_high", kind="ci"),
    C("Position-1 rate", "position1_rate", kind="pct"), C("Orders disagree", "order_disagreement", kind="pct"),
    C("Label mass", "label_mass", kind="pct"), C("Labels", "n", kind="int"),
)


def alignment_tables(payload: dict, training: dict) -> dict[str, Table]:
    technique_rows = [{"sweep_id": s["sweep_id"], "sweep_model": s["model_spec"], **row} for s in payload["sweeps"] for row in s["rows"]]
    curve_rows = [{"run_id": r["run_id"], "label_source": r["label_source"], **p} for r in payload["reward_models"] for p in r["curve"]]
    tables = [
        Table("prompt_techniques", "Prompting techniques (the paper's Table 2)", (
            C("Preamble", "preamble"), C("Shots", "shots", kind="int"), C("CoT", "cot", kind="bool"),
            C("Self-consistency (rationales, T = 1)", "self_consistency", kind="int"), C("Calibrated", "calibrate", kind="bool"),
            *ALIGNMENT_COLUMNS, C("Copies last exemplar", "copy_rate", kind="pct"),
            C("Status", "status"), C("Run", "run_id", kind="int"), C("Sweep", "sweep_id", kind="int"),
        ), technique_rows, empty="No labeling sweep yet: start one with python manage.py label_sweep."),
        Table("labeler_models", "Alignment by labeler model (the paper's Table 3)", (
            C("Comparison", "comparison_id", kind="int"), C("Labeler model", "model_spec"), C("Precision", "precision"),
            C("Alignment", "alignment", kind="pct"), C("95 % CI", "alignment_low", "alignment_high", kind="ci"),
            C("Position-1 rate", "position1_rate", kind="pct"), C("Order disagreement", "order_disagreement", kind="pct"),
            C("Label mass", "label_mass", kind="pct"), C("Tokens per label", "tokens_per_label", kind="num"),
            C("AI cost per 1,000", "ai_cost_per_1k_labels", kind="money"), C("Labels", "n", kind="int"),
            C("Config", "config"), C("Run", "run_id", kind="int"), C("Status", "status"),
        ), payload["by_model"],
            note="Each comparison labels the same pairs with the same settings, so its rows can be read against each "
                 "other; labeling runs outside a comparison are not lined up here (their pairs or settings may differ).",
            empty="No labeler comparison yet: run manage.py label_compare --experiment SLUG --models SPEC SPEC."),
        Table("labeling_runs", "Labeling runs: alignment and position bias", (
            C("Run", "run_id", kind="int"), C("Config", "config"), *ALIGNMENT_COLUMNS, C("Model", "model_spec"),
            C("Split", "split"), C("Status", "status"),
        ), payload["labeling_runs"], note="Position-1 rate: how often the labeler chose whichever candidate it saw first (50 % is unbiased).",
            empty="No labeling run yet."),
        Table("calibration", "Calibration of the AI labels", (
            C("Run", "run_id", kind="int"), C("Config", "config"), C("Confidence from", "low", kind="pct"),
            C("to", "high", kind="pct"), C("Labels", "count", kind="int"), C("Mean confidence", "mean_confidence", kind="pct"),
            C("Agrees with humans", "agreement", kind="pct"),
        ), payload["calibration"], empty="No calibration bins recorded yet."),
        Table("label_mass", "Label mass: how much of the labeler's probability goes to an answer", (
            C("Run", "run_id", kind="int"), C("Model", "model_spec"), C("Config", "config"), C("Labels", "labels", kind="int"),
            C("Mean", "mean", kind="pct"), C("10th percentile", "p10", kind="pct"), C("Median", "median", kind="pct"),
            C("90th percentile", "p90", kind="pct"), C("Labels below the warning line", "below_warning", kind="pct"),
            C("Warning", "warning_text"),
        ), [{**r, "warning_text": "mean below the warning line: the labeler mostly does not answer" if r["warning"] else ""}
            for r in payload.get("label_mass", [])],
            note="Label mass is the probability the labeler puts on the answers \"1\" and \"2\" together; a soft label "
                 "from a small mass says little. The warning line is LABEL_MASS_WARNING (default 50 %).",
            empty="No labeling run yet."),
        Table("reward_models", "Reward models: pairwise accuracy on held-out human preferences", (
            C("Run", "run_id", kind="int"), C("Labels from", "label_source"), C("Accuracy", "accuracy", kind="pct"),
            C("95 % CI", "accuracy_low", "accuracy_high", kind="ci"), C("Arm", "arm"), C("Status", "status"),
        ), [{k: v for k, v in r.items() if k != "curve"} for r in payload["reward_models"]], empty="No reward model trained yet."),
        Table("rm_accuracy_vs_pairs", "Reward-model accuracy vs training pairs (the paper's Figure 5)", (
            C("Run", "run_id", kind="int"), C("Labels from", "label_source"), C("Training pairs", "pairs", kind="int"),
            C("Accuracy", "accuracy", kind="pct"), C("95 % CI", "low", "high", kind="ci"),
        ), curve_rows, empty="No reward model has recorded accuracy against training-set size yet."),
        Table("mixing", "Reward-model accuracy by share of human labels (mixing human and AI labels)", (
            C("Human share", "share", kind="pct"), C("Accuracy", "accuracy", kind="pct"),
            C("95 % CI", "accuracy_low", "accuracy_high", kind="ci"), C("Labels from", "label_source"),
            C("Run", "run_id", kind="int"), C("Status", "status"),
        ), payload.get("mixing", []),
            note="Each reward model trains on the same pairs with the same settings; only the share of pairs carrying "
                 "a human label (the rest carry the AI label) differs. Accuracy on the test split's human labels.",
            empty="No mixing sweep yet: run manage.py rm_mix --experiment SLUG --shares 0 0.25 0.5 0.75 1."),
        Table("training_runs", "Training runs", (
            C("Run", "run_id", kind="int"), C("Kind", "kind"), C("Arm", "arm"), C("Algorithm", "algorithm"),
            C("Labels from", "label_source"), C("Status", "status"), C("Steps logged", "steps", kind="int"), C("Curves", "keys", kind="long"),
        ), [{**{k: v for k, v in r.items() if k != "series"}, "steps": max((len(s["steps"]) for s in r["series"]), default=0),
             "keys": ", ".join(s["key"] for s in r["series"])} for r in training["runs"]], empty="No training run yet."),
        Table("training_curves", "Training curves (every logged value)", (
            C("Run", "run_id", kind="int"), C("Curve", "key"), C("Step", "step", kind="int"), C("Value", "value", kind="num"),
        ), [{"run_id": r["run_id"], "key": s["key"], "step": step, "value": value}
            for r in training["runs"] for s in r["series"] for step, value in zip(s["steps"], s["values"])]),
    ]
    return {t.name: t for t in tables}


# -- cost -------------------------------------------------------------------------------------------


def _measured_note(measured: dict | None) -> str:
    if not measured or not measured["judgements"]:
        return "no judgement with a measured time yet"
    return (f"{measured['mean_seconds']:.1f} s of active time per judgement on average (median "
            f"{measured['median_seconds']:.1f} s, {measured['judgements']} judgements) at "
            f"${measured['hourly_rate']:.2f} an hour (HUMAN_HOURLY_RATE), one judgement counted as one label")


def cost_tables(payload: dict) -> dict[str, Table]:
    table = Table("cost", "AI vs human labels: cost per 1,000 labels", (
        C("Run", "run_id", kind="int"), C("AI per 1,000", "ai_cost_per_1k_labels", kind="money"),
        C("Human per 1,000 (flat price)", "human_cost_per_1k_labels", kind="money"), C("Human ÷ AI", "human_to_ai_ratio", kind="num"),
        C("Human per 1,000 (measured time)", "human_cost_per_1k_measured", kind="money"),
        C("Measured ÷ AI", "measured_to_ai_ratio", kind="num"),
        C("Labels", "labels", kind="int"), C("AI, this run", "ai_cost_total", kind="money"),
        C("Human, same labels", "human_cost_total", kind="money"), C("Tokens per label", "tokens_per_label", kind="num"),
        C("Model", "model_spec"), C("Config", "config"), C("Status", "status"),
    ), payload["runs"], note="AI cost from the tokens each run used and the token price saved with it; "
                             "human cost from the price per human label saved with the run, and from the raters' "
                             f"measured time: {_measured_note(payload.get('measured'))}.",
        empty="No labeling run yet.")
    return {table.name: table}


# -- the AI judge --------------------------------------------------------------------------------

NO_JUDGE = "No AI judge has scored a round yet: run manage.py ai_judge ROUND_ID (or a pipeline with --ai-judge)."


def judge_tables(judge: dict) -> dict[str, Table]:
    cards = judge["judges"]
    tables = [
        Table("judge_bias", "AI judge bias card", (
            C("Judge model", "judge_spec"), C("Pairs scored", "pairs", kind="int"),
            C("Pairs raters ranked too", "pairs_with_humans", kind="int"),
            C("Flips when swapped", "flip_rate", kind="pct"), C("P(first shown wins)", "first_shown", kind="pct"),
            C("Longer wins: judge", "longer_ai", kind="pct"), C("Longer wins: raters", "longer_human", kind="pct"),
            C("Length bias (judge − raters)", "length_gap", kind="pct"),
            C("Calibration error (ECE)", "ece", kind="num"), C("Brier vs raters (0.25 = coin)", "brier", kind="num"),
        ), cards,
            note="Position bias: how often the preferred response changes when the two are shown the other way round, "
                 "and the chance given to whichever is shown first (50 % is unbiased). Length bias: on the same "
                 "items, how much more often the judge prefers the longer response than the raters do. "
                 "Calibration: the judge's confidence against the raters' agreement with it.",
            empty=NO_JUDGE),
        Table("judge_calibration", "AI judge calibration against raters", (
            C("Judge model", "judge_spec"), C("Confidence from", "low", kind="pct"), C("to", "high", kind="pct"),
            C("Pairs", "pairs", kind="int"), C("Rankings", "rankings", kind="int"),
            C("Mean confidence", "mean_confidence", kind="pct"), C("Raters agreeing", "human_agreement", kind="pct"),
        ), [{"judge_spec": c["judge_spec"], **b} for c in cards for b in c["reliability"] if b["pairs"]], empty=NO_JUDGE),
        Table("judge_leans", "AI judge lean per policy (self-preference)", (
            C("Judge model", "judge_spec"), C("Policy", "policy"), C("Pairs", "pairs", kind="int"),
            C("Judge's win rate", "ai_win_rate", kind="pct"), C("Raters' win rate", "human_win_rate", kind="pct"),
            C("Judge − raters", "gap", kind="pct"),
        ), [{"judge_spec": c["judge_spec"], **lean} for c in cards for lean in c["leans"]],
            note="A judge built on the same model as a policy tends to favour it: a positive gap on that policy.",
            empty=NO_JUDGE),
    ]
    return {t.name: t for t in tables}
