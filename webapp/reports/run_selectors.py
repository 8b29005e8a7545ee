"""Reads of the report pages about pipeline runs: AI-labeler alignment (prompt techniques,
labeler models, position bias, calibration), reward-model accuracy, training curves and cost.

Run metrics are JSON written by other stages, and their keys have grown over time, so every
number is read through a tolerant accessor: a missing or malformed key gives ``None`` (shown
as "—") rather than an error page. Payloads are cached under a fingerprint of the runs.
"""

from __future__ import annotations

import math

import numpy as np
from django.conf import settings
from django.db.models import Count, Max, Sum

from webapp.experiments.models import Experiment
from webapp.pipeline.models import AILabel, LabelingRun, LabelingSweep, TrainingKind, TrainingMetric, TrainingRun
from webapp.rating.models import Judgement
from webapp.reports.selectors import cached, digest, human_report, rater_report


def runs_fingerprint(experiment: Experiment) -> str:
    """Changes whenever a run is added, makes progress, finishes, or logs a training step."""
    stage = {"n": Count("id"), "last": Max("id"), "beat": Max("heartbeat_at"), "end": Max("finished_at"), "done": Sum("progress_done")}
    return digest(
        experiment.slug,
        experiment.created_at,
        LabelingRun.objects.filter(experiment=experiment).aggregate(**stage),
        TrainingRun.objects.filter(experiment=experiment).aggregate(**stage),
        LabelingSweep.objects.filter(experiment=experiment).aggregate(n=Count("id"), last=Max("id")),
        TrainingMetric.objects.filter(run__experiment=experiment).aggregate(n=Count("id"), last=Max("id")),
    )


def number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _pair(value) -> tuple[float | None, float | None]:
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return number(value[0]), number(value[1])
    return None, None


def labeler_numbers(metrics: dict) -> dict:
    """Alignment, position bias and label mass from a labeling run's metrics, flat or nested."""
    metrics = metrics if isinstance(metrics, dict) else {}
    alignment = metrics.get("alignment")
    if isinstance(alignment, dict):  # the metrics module's nested form
        z, low, high, n = alignment.get("z_acc"), alignment.get("ci_low"), alignment.get("ci_high"), alignment.get("n")
    else:
        z, n = alignment, metrics.get("n")
        low, high = _pair(metrics.get("alignment_ci"))
    bias = metrics.get("position_bias")
    bias = bias if isinstance(bias, dict) else {}
    return {
        "n": int(n) if n is not None and number(n) is not None else None,
        "alignment": number(z),
        "alignment_low": number(low),
        "alignment_high": number(high),
        "position1_rate": number(metrics.get("position1_rate", bias.get("position1_rate"))),
        "order_disagreement": number(metrics.get("order_disagreement", bias.get("order_disagreement"))),
        "label_mass": number(metrics.get("label_mass")),
        "copy_rate": number(metrics.get("copy_rate")),
    }


def calibration_bins(metrics: dict) -> list[dict]:
    """Calibration bins as dicts; bins given as [low, high, count, confidence, agreement] lists too."""
    keys = ("low", "high", "count", "mean_confidence", "agreement")
    raw = metrics.get("calibration") if isinstance(metrics, dict) else None
    rows = []
    for b in raw if isinstance(raw, list) else []:
        if isinstance(b, (list, tuple)) and len(b) == len(keys):
            b = dict(zip(keys, b))
        if isinstance(b, dict):
            row = {k: number(b.get(k)) for k in keys}
            row["count"] = int(row["count"] or 0)
            rows.append(row)
    return rows


def config_label(config: dict) -> str:
    """A labeling config in the paper's words: "detailed, 1-shot, CoT"."""
    config = config if isinstance(config, dict) else {}
    parts = [str(config.get("preamble", "?")), f"{config.get('shots', '?')}-shot"]
    if config.get("cot"):
        parts.append("CoT")
    if (config.get("self_consistency") or 1) > 1:
        parts.append(f"self-consistency ×{config['self_consistency']}")
    if config.get("calibrate"):
        parts.append("calibrated")
    if config.get("swap") is False:
        parts.append("one order")
    return ", ".join(parts)


def _labeling_row(run: LabelingRun) -> dict:
    config = run.config if isinstance(run.config, dict) else {}
    return {
        "run_id": run.pk, "model_spec": run.model_spec, "split": run.split, "status": run.status,
        "sweep_id": run.sweep_id, "config": config_label(config), "preamble": config.get("preamble"),
        "shots": config.get("shots"), "cot": config.get("cot"), "self_consistency": config.get("self_consistency", 1),
        "calibrate": bool(config.get("calibrate", False)), "labels": run.progress_done,
        **labeler_numbers(run.metrics),
    }


def _by_model(experiment: Experiment, by_id: dict[int, dict]) -> list[dict]:
    """Table 3: the runs of each labeler comparison (``label_compare``), which label the same
    pairs with the same config; runs outside a comparison are not lined up (their pairs or
    config may differ), so they stay in the labeling-runs table only."""
    table = []
    comparisons = LabelingSweep.objects.filter(experiment=experiment, kind=LabelingSweep.Kind.MODELS).order_by("-created_at", "-id")
    for sweep in comparisons:
        for run in sweep.runs.order_by("id"):
            row = by_id.get(run.pk)
            if row is None:
                continue
            table.append({
                "comparison_id": sweep.pk, "model_spec": run.model_spec, "precision": run.config.get("precision", "exact"),
                "run_id": run.pk, "status": run.status, "config": row["config"], "n": row["n"],
                "alignment": row["alignment"], "alignment_low": row["alignment_low"], "alignment_high": row["alignment_high"],
                "position1_rate": row.get("position1_rate"), "order_disagreement": row.get("order_disagreement"),
                "label_mass": row.get("label_mass"), "tokens_per_label": run.tokens_per_label,
                "ai_cost_per_1k_labels": run.ai_cost_per_1k_labels,
            })
    return table


def _curve(value) -> list[dict]:
    """RM accuracy vs training pairs: [[n, acc], ...], [[n, acc, low, high], ...] or dicts."""
    points = []
    for p in value if isinstance(value, list) else []:
        if isinstance(p, dict):
            acc = p.get("accuracy")
            acc = acc.get("accuracy") if isinstance(acc, dict) else acc
            p = [p.get("n", p.get("pairs")), acc, p.get("low"), p.get("high")]
        if isinstance(p, (list, tuple)) and len(p) >= 2 and number(p[0]) is not None and number(p[1]) is not None:
            points.append({"pairs": int(p[0]), "accuracy": number(p[1]),
                           "low": number(p[2]) if len(p) > 2 else None, "high": number(p[3]) if len(p) > 3 else None})
    return sorted(points, key=lambda p: p["pairs"])


def _reward_row(run: TrainingRun) -> dict:
    metrics = run.metrics if isinstance(run.metrics, dict) else {}
    low, high = _pair(metrics.get("reward/accuracy_ci"))
    return {
        "run_id": run.pk, "arm": run.arm, "algorithm": run.algorithm, "label_source": run.label_source,
        "status": run.status, "model_spec": run.model_spec,
        "accuracy": number(metrics.get("reward/accuracy")),
        "accuracy_low": low if low is not None else number(metrics.get("reward/accuracy_low")),
        "accuracy_high": high if high is not None else number(metrics.get("reward/accuracy_high")),
        "curve": _curve(metrics.get("reward/accuracy_vs_pairs")),
    }


def _alignment_report(experiment: Experiment) -> dict:
    runs = list(LabelingRun.objects.filter(experiment=experiment).order_by("-created_at", "-id"))
    rows = [_labeling_row(run) for run in runs]
    by_id = {row["run_id"]: row for row in rows}
    sweeps = [
        {
            "sweep_id": sweep.pk, "model_spec": sweep.model_spec, "split": sweep.split, "limit": sweep.limit,
            "created_at": sweep.created_at.isoformat(),
            "rows": [by_id[run_id] for run_id in sweep.runs.order_by("id").values_list("id", flat=True) if run_id in by_id],
        }
        for sweep in LabelingSweep.objects.filter(experiment=experiment, kind=LabelingSweep.Kind.TECHNIQUES)
        .order_by("-created_at", "-id")
    ]
    calibration = [
        {"run_id": run.pk, "config": by_id[run.pk]["config"], "model_spec": run.model_spec, **b}
        for run in runs
        for b in calibration_bins(run.metrics)
    ]
    reward = TrainingRun.objects.filter(experiment=experiment, kind=TrainingKind.REWARD).order_by("id")
    return {
        "label_mass": [_label_mass_row(run, by_id[run.pk]["config"]) for run in runs],
        "experiment": experiment.slug,
        "sweeps": sweeps,
        "by_model": _by_model(experiment, by_id),
        "labeling_runs": rows,
        "calibration": calibration,
        "reward_models": [_reward_row(run) for run in reward],
        "mixing": _mixing_rows(reward),
    }


def _mixing_rows(reward) -> list[dict]:
    """rm_mix's reward models: held-out accuracy per share of human labels, newest run per share."""
    rows: dict[float, dict] = {}
    for run in reward.filter(arm="rm-mix").order_by("id"):
        share = float(run.label_source.partition(":")[2] or 0.5)
        rows[share] = {"share": share, **{k: v for k, v in _reward_row(run).items() if k != "curve"}}
    return [rows[share] for share in sorted(rows)]


def _label_mass_row(run: LabelingRun, config: str) -> dict:
    """How the run's label mass is spread over its labels, and the share below the warning line."""
    mass = np.fromiter(AILabel.objects.filter(run=run).values_list("label_mass", flat=True), dtype=float)
    threshold = settings.LABEL_MASS_WARNING
    q = np.quantile(mass, [0.1, 0.5, 0.9]) if mass.size else [None] * 3
    mean = float(mass.mean()) if mass.size else None
    return {"run_id": run.pk, "model_spec": run.model_spec, "config": config, "labels": int(mass.size), "mean": mean,
            "p10": _float(q[0]), "median": _float(q[1]), "p90": _float(q[2]),
            "below_warning": float(np.mean(mass < threshold)) if mass.size else None,
            "warning": mean is not None and mean < threshold}


def _float(value) -> float | None:
    return None if value is None else float(value)


def alignment_report(experiment: Experiment) -> dict:
    return cached("alignment", experiment, runs_fingerprint(experiment), lambda: _alignment_report(experiment))


def _training_report(experiment: Experiment) -> dict:
    runs = list(TrainingRun.objects.filter(experiment=experiment).order_by("id"))
    series: dict[int, dict[str, tuple[list, list]]] = {run.pk: {} for run in runs}
    points = TrainingMetric.objects.filter(run__experiment=experiment).order_by("run_id", "step")
    for run_id, step, values in points.values_list("run_id", "step", "values").iterator(chunk_size=2000):
        for key, value in (values.items() if isinstance(values, dict) else ()):
            if number(value) is not None:
                steps, ys = series[run_id].setdefault(key, ([], []))
                steps.append(step)
                ys.append(float(value))
    return {
        "experiment": experiment.slug,
        "runs": [
            {
                "run_id": run.pk, "kind": run.kind, "arm": run.arm, "algorithm": run.algorithm,
                "label_source": run.label_source, "status": run.status,
                "series": [{"key": k, "steps": s, "values": v} for k, (s, v) in sorted(series[run.pk].items())],
            }
            for run in runs
        ],
    }


def training_report(experiment: Experiment) -> dict:
    return cached("training", experiment, runs_fingerprint(experiment), lambda: _training_report(experiment))


def _cost_row(run: LabelingRun) -> dict:
    labels = run.progress_done
    ai_1k, human_1k = run.ai_cost_per_1k_labels, run.human_cost_per_1k_labels
    return {
        "run_id": run.pk, "model_spec": run.model_spec, "status": run.status, "config": config_label(run.config),
        "labels": labels, "prompt_tokens": run.prompt_tokens, "generated_tokens": run.generated_tokens,
        "tokens_per_label": run.tokens_per_label, "price_per_1k_tokens": run.price_per_1k_tokens,
        "price_per_human_label": run.price_per_human_label,
        "ai_cost_per_1k_labels": ai_1k, "human_cost_per_1k_labels": human_1k,
        "ai_cost_total": (run.prompt_tokens + run.generated_tokens) / 1000 * run.price_per_1k_tokens,
        "human_cost_total": labels * run.price_per_human_label,
        "human_to_ai_ratio": human_1k / ai_1k if ai_1k > 0 else None,
    }


def measured_human_time(experiment: Experiment) -> dict:
    """The raters' measured active time per judgement (the browser's count of visible seconds)
    and what a human label costs at ``HUMAN_HOURLY_RATE`` by that time."""
    times = np.fromiter(Judgement.objects.filter(round__experiment=experiment, active_ms__isnull=False)
                        .values_list("active_ms", flat=True), dtype=float) / 1000.0
    rate = settings.HUMAN_HOURLY_RATE
    if not times.size:
        return {"judgements": 0, "mean_seconds": None, "median_seconds": None, "hourly_rate": rate,
                "cost_per_label": None, "cost_per_1k_labels": None}
    per_label = float(times.mean()) * rate / 3600.0
    return {"judgements": int(times.size), "mean_seconds": float(times.mean()), "median_seconds": float(np.median(times)),
            "hourly_rate": rate, "cost_per_label": per_label, "cost_per_1k_labels": 1000.0 * per_label}


def cost_report(experiment: Experiment) -> dict:
    """AI vs human cost per 1,000 labels for every labeling run (prices saved with the run), and
    human labels priced from the raters' measured time beside the flat price."""

    def compute():
        rows = [_cost_row(run) for run in LabelingRun.objects.filter(experiment=experiment).order_by("id")]
        return {
            "experiment": experiment.slug,
            "runs": rows,
            "labels": sum(r["labels"] for r in rows),
            "ai_cost_total": sum(r["ai_cost_total"] for r in rows),
            "human_cost_total": sum(r["human_cost_total"] for r in rows),
        }

    payload = cached("cost", experiment, runs_fingerprint(experiment), compute)
    measured = measured_human_time(experiment)
    per_1k = measured["cost_per_1k_labels"]
    runs = [{**row, "human_cost_per_1k_measured": per_1k,
             "measured_to_ai_ratio": per_1k / row["ai_cost_per_1k_labels"] if per_1k is not None and row["ai_cost_per_1k_labels"] > 0 else None}
            for row in payload["runs"]]
    return {**payload, "runs": runs, "measured": measured}


def experiment_report(experiment: Experiment, baseline: str | None = None) -> dict:
    """Every table of every report page, as the ``report`` command prints it."""
    return {
        "experiment": experiment.slug,
        "report": human_report(experiment, baseline),
        "raters": rater_report(experiment),
        "alignment": alignment_report(experiment),
        "training": training_report(experiment),
        "cost": cost_report(experiment),
    }
