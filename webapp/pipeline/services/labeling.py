"""Labeling runs: create one, execute it resumably, and measure it against human labels.

Django side of the AI labeler: the ML work is ``pipeline.labeling`` (plain Python); this
module feeds it pairs from the database in chunks and saves each chunk's labels in one
transaction, so a run killed at any point resumes where its last chunk ended.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F

from pipeline import registry
from pipeline.configs import LabelingConfig
from pipeline.labeling import metrics as label_metrics
from pipeline.labeling.engine import Labeler, Sample
from pipeline.labeling.prompts import exemplars
from pipeline.progress import Progress, ProgressFn
from webapp.experiments.models import Experiment, PreferencePair
from webapp.experiments.selectors import split_has_human_labels
from webapp.pipeline import artifacts, runs
from webapp.pipeline.models import AILabel, LabelingRun, LabelingSweep

# The paper's Table 2 grid: preamble x shots x chain of thought.
SWEEP_GRID = [
    {"preamble": preamble, "shots": shots, "cot": cot}
    for preamble in ("base", "detailed")
    for shots in (0, 1, 2)
    for cot in (False, True)
]


@functools.lru_cache(maxsize=2)
def load_labeler(spec: str, precision: str) -> registry.LoadedModel:
    # One labeler stays loaded per worker process: sweeps and successive runs reuse it.
    artifacts.pull_spec(spec)  # a checkpoint trained on another machine, with a remote artifact root
    registry.prepare(spec, settings.ARTIFACT_LOCAL, allow_download=settings.ALLOW_MODEL_DOWNLOAD)
    return registry.load_causal_lm(spec, settings.ARTIFACT_LOCAL, allow_download=settings.ALLOW_MODEL_DOWNLOAD)


def labeling_run_create(
    *,
    experiment: Experiment,
    config: LabelingConfig,
    split: str = "train",
    model_spec: str | None = None,
    limit: int | None = None,
    sweep: LabelingSweep | None = None,
    pair_source: str = "",
) -> LabelingRun:
    """``pair_source``: label the self-generated pairs of that source instead of the imported ones."""
    pairs = _pairs(experiment, split, limit, pair_source)
    return LabelingRun.objects.create(
        experiment=experiment,
        split=split,
        limit=limit,
        sweep=sweep,
        pair_source=pair_source,
        config=config.to_dict(),
        model_spec=model_spec or experiment.labeler_model,
        progress_total=pairs.count(),
        price_per_1k_tokens=settings.PRICE_PER_1K_TOKENS,
        price_per_human_label=settings.PRICE_PER_HUMAN_LABEL,
    )


def _pairs(experiment: Experiment, split: str, limit: int | None, pair_source: str = ""):
    pairs = (PreferencePair.with_self.filter(source=pair_source) if pair_source else PreferencePair.objects).filter(
        prompt__experiment=experiment, prompt__split=split).order_by("id")
    return pairs[:limit] if limit else pairs


def labeling_run_execute(
    *,
    run_id: int,
    worker: str | None = None,
    force: bool = False,
    chunk_size: int | None = None,
    on_progress: ProgressFn | None = None,
) -> LabelingRun | None:
    """Claim the run and label every pair it has not labelled yet; None if it could not be claimed."""
    run = runs.run_claim(model=LabelingRun, run_id=run_id, worker=worker, force=force)
    if run is None:
        return None
    config = LabelingConfig.from_dict(run.config)
    chunk_size = chunk_size or default_chunk_size(config)
    with runs.run_working(run):
        done_ids = set(run.labels.values_list("pair_id", flat=True))
        todo = [pair for pair in _pairs(run.experiment, run.split, run.limit, run.pair_source).select_related("prompt") if pair.pk not in done_ids]
        total = len(done_ids) + len(todo)
        progress = Progress.durable(len(done_ids), total, "labeling")
        runs.run_heartbeat(run, **runs.progress_fields(progress))
        if on_progress:
            on_progress(progress)
        labeler = Labeler(load_labeler(run.model_spec, config.precision), config)
        start = time.perf_counter()
        for offset in range(0, len(todo), chunk_size):
            chunk = todo[offset : offset + chunk_size]
            labels = labeler.label([Sample(p.prompt.context, p.candidate_1, p.candidate_2, key=str(p.pk)) for p in chunk])
            _save_chunk(run, chunk, labels, total)
            if on_progress:  # after the chunk's commit: what the caller shows is stored
                on_progress(Progress.durable(run.progress_done, total, "labeling"))
        seconds = time.perf_counter() - start
        summary = labeling_run_metrics(run=run)
        if config.calibrate:
            summary["calibration_prior"] = labeler.content_free_prior()
        summary["engine/pairs_per_second"] = len(todo) / seconds if todo and seconds > 0 else None
        summary["engine/pairs_labelled_this_attempt"] = len(todo)
        runs.run_finish(run, metrics=summary)
    return run


def default_chunk_size(config: LabelingConfig) -> int:
    """Pairs saved per transaction when the stage does not say: what a killed run resumes from."""
    return max(config.batch_size * 4, 16)


def labeling_pairs_label(*, run: LabelingRun, start: int, stop: int) -> int:
    """Label the run's pairs ``[start, stop)`` (in id order) that have no label yet; returns how
    many it labelled. Takes no claim: the caller holds the chunk (``services.fanout``), and a
    pair another worker labelled meanwhile is skipped when saving (the unique constraint)."""
    config = LabelingConfig.from_dict(run.config)
    pairs = list(_pairs(run.experiment, run.split, run.limit, run.pair_source).select_related("prompt")[start:stop])
    done = set(AILabel.objects.filter(run=run, pair__in=pairs).values_list("pair_id", flat=True))
    todo = [pair for pair in pairs if pair.pk not in done]
    if not todo:
        return 0
    labeler = Labeler(load_labeler(run.model_spec, config.precision), config)
    labels = labeler.label([Sample(p.prompt.context, p.candidate_1, p.candidate_2, key=str(p.pk)) for p in todo])
    rows = _label_rows(run, todo, labels)
    with transaction.atomic():
        AILabel.objects.bulk_create(rows, ignore_conflicts=True)
        LabelingRun.objects.filter(pk=run.pk).update(progress_done=AILabel.objects.filter(run=run).count(), **_added_tokens(rows))
    return len(todo)


def _label_rows(run: LabelingRun, chunk: list[PreferencePair], labels) -> list[AILabel]:
    return [
        AILabel(
            run=run,
            pair=pair,
            p_order1=label.p_order1,
            p_order2=label.p_order2,
            p=label.p,
            label_mass=label.label_mass,
            rationales=list(label.rationales),
            prompt_tokens=label.prompt_tokens,
            generated_tokens=label.generated_tokens,
        )
        for pair, label in zip(chunk, labels)
    ]


def _added_tokens(rows: list[AILabel]) -> dict:
    """The run's token counters raised by what ``rows`` used (update fields, summed in the database)."""
    return {"prompt_tokens": F("prompt_tokens") + sum(r.prompt_tokens for r in rows),
            "generated_tokens": F("generated_tokens") + sum(r.generated_tokens for r in rows)}


def _save_chunk(run: LabelingRun, chunk: list[PreferencePair], labels, total: int) -> None:
    rows = _label_rows(run, chunk, labels)
    with transaction.atomic():
        # ignore_conflicts: a chunk saved by a worker that was then presumed dead is not doubled.
        AILabel.objects.bulk_create(rows, ignore_conflicts=True)
        done = AILabel.objects.filter(run=run).count()
        runs.run_heartbeat(
            run,
            **runs.progress_fields(Progress.durable(done, total, "labeling")),
            **_added_tokens(rows),
        )
    run.refresh_from_db(fields=["prompt_tokens", "generated_tokens", "progress_done"])


def labeling_run_metrics(*, run: LabelingRun) -> dict:
    """Alignment with the human labels, position bias, label mass, calibration and exemplar copy rate of a run."""
    labels = list(run.labels.filter(pair__human_choice__isnull=False).select_related("pair"))
    config = LabelingConfig.from_dict(run.config)
    shots = exemplars(config.task, config.exemplar_set, config.shots)
    # every pair here has a human choice (the query keeps only those)
    result = label_metrics.evaluate(labels, [label.pair.human_choice for label in labels if label.pair.human_choice is not None],
                                    last_exemplar_answer=shots[-1].preferred if shots else None)
    return {
        "n": result.alignment.n,
        "alignment": result.alignment.z_acc if labels else None,
        "alignment_ci": [result.alignment.ci_low, result.alignment.ci_high] if labels else None,
        "alignment_single_order": result.alignment_single_order.z_acc if labels else None,
        "position1_rate": result.position_bias.position1_rate if labels else None,
        "order_disagreement": result.position_bias.order_disagreement,
        "label_mass": result.label_mass if labels else None,
        "calibration": [b.to_dict() for b in result.calibration],
        "ties": result.alignment.ties,
        "copy_rate": result.copy_rate,
        "last_exemplar_answer": shots[-1].preferred if shots else None,
        "cost/ai_per_1k_labels": run.ai_cost_per_1k_labels,
        "cost/human_per_1k_labels": run.human_cost_per_1k_labels,
    }


def labeling_sweep_create(
    *, experiment: Experiment, split: str, limit: int | None, model_spec: str | None = None, base: LabelingConfig,
    self_consistency: tuple[int, ...] = (), calibrate: bool = False,
) -> LabelingSweep:
    """One run per (preamble, shots, CoT) cell of the grid, all on the same pairs; with
    ``self_consistency`` (the paper's Appendix M), one more 0-shot CoT cell per K: K rationales
    sampled at T = 1 per order, averaged, beside the plain (greedy) CoT cell. With ``calibrate``,
    every cell also runs with contextual calibration (``pipeline.labeling.calibration``), so the
    table compares each cell with and without it."""
    for k in self_consistency:
        if k < 2:
            raise ValueError(f"self-consistency samples at least 2 rationales, got {k}")
    with transaction.atomic():
        sweep = LabelingSweep.objects.create(
            experiment=experiment, split=split, limit=limit, model_spec=model_spec or experiment.labeler_model
        )
        extra: list[dict[str, Any]] = [
            {"preamble": "base", "shots": 0, "cot": True, "self_consistency": k, "temperature": 1.0}
            for k in sorted(set(self_consistency))]
        cells: list[dict[str, Any]] = [*SWEEP_GRID, *extra]
        if calibrate:
            cells = [variant for cell in cells for variant in (cell, {**cell, "calibrate": True})]
        for cell in cells:
            labeling_run_create(
                experiment=experiment,
                config=base.replace(**cell),
                split=split,
                model_spec=sweep.model_spec,
                limit=limit,
                sweep=sweep,
            )
    return sweep


def labeling_compare_create(
    *, experiment: Experiment, split: str, limit: int | None, labelers: list[tuple[str, str]], base: LabelingConfig
) -> LabelingSweep:
    """The paper's Table 3: one run per (model spec, precision) on the same pairs with the same config."""
    if len(labelers) < 2:
        raise ValueError("a comparison needs at least two labelers (model specs, or one spec at two precisions)")
    if not split_has_human_labels(experiment, split):
        raise ValueError(f"{experiment.slug}/{split} has no pairs with a human label to measure the labelers against")
    for spec, _ in labelers:
        try:
            registry.resolve(spec, settings.ARTIFACT_LOCAL, allow_download=settings.ALLOW_MODEL_DOWNLOAD)
        except (registry.ModelNotFound, FileNotFoundError, ValueError) as exc:
            raise ValueError(f"labeler {spec!r} cannot be found: {exc}") from None
    with transaction.atomic():
        sweep = LabelingSweep.objects.create(experiment=experiment, split=split, limit=limit, kind=LabelingSweep.Kind.MODELS,
                                             model_spec=", ".join(f"{s}@{p}" for s, p in labelers))
        for spec, precision in labelers:
            labeling_run_create(experiment=experiment, config=base.replace(precision=precision), split=split,
                                model_spec=spec, limit=limit, sweep=sweep)
    return sweep


def labeling_sweep_table(*, sweep: LabelingSweep) -> list[dict]:
    """The comparison table: one row per config with its alignment and position bias."""
    table = []
    for run in sweep.runs.order_by("id"):
        config = run.config
        table.append(
            {
                "run_id": run.pk,
                "preamble": config["preamble"],
                "shots": config["shots"],
                "cot": config["cot"],
                "self_consistency": config.get("self_consistency", 1),
                "calibrate": config.get("calibrate", False),
                "status": run.status,
                "n": run.metrics.get("n"),
                "alignment": run.metrics.get("alignment"),
                "alignment_ci": run.metrics.get("alignment_ci"),
                "position1_rate": run.metrics.get("position1_rate"),
                "order_disagreement": run.metrics.get("order_disagreement"),
                "label_mass": run.metrics.get("label_mass"),
                "copy_rate": run.metrics.get("copy_rate"),
            }
        )
    return table


# The fields of a sweep cell that a pipeline's labeling stage takes over (the rest, e.g. the
# batch size, is the pipeline size's).
CELL_FIELDS = ("preamble", "shots", "cot", "self_consistency", "temperature", "calibrate")


class NoBestCell(ValueError):
    """The sweep has no finished cell with an alignment to choose by."""


def labeling_sweep_best(*, sweep: LabelingSweep) -> dict:
    """The labeling settings of the sweep's best cell: highest alignment with the human labels
    (ties: the cheaper cell, fewer shots and no CoT first, as the table lists them)."""
    finished = [row for row in labeling_sweep_table(sweep=sweep) if row["status"] == "succeeded" and row["alignment"] is not None]
    if not finished:
        raise NoBestCell(f"labeling sweep #{sweep.pk} has no finished cell with an alignment yet")
    best = max(finished, key=lambda row: row["alignment"])  # max keeps the first of equals
    config = LabelingRun.objects.get(pk=best["run_id"]).config
    return {key: config[key] for key in CELL_FIELDS if key in config}


def overrides_with_sweep_cell(*, experiment: Experiment, overrides: dict | None, sweep_id: int | None) -> dict:
    """Pipeline ``overrides`` with the best cell of the experiment's sweep ``sweep_id`` as the
    labeling settings, under any labeling settings given; raises ``NoBestCell`` with the reason."""
    overrides = dict(overrides or {})
    if sweep_id is None:
        return overrides
    sweep = LabelingSweep.objects.filter(pk=sweep_id, experiment=experiment).first()
    if sweep is None:
        raise NoBestCell(f"{experiment.slug} has no labeling sweep #{sweep_id}")
    return {**overrides, "labeling": {**labeling_sweep_best(sweep=sweep), **overrides.get("labeling", {})}}


def task_config(experiment: Experiment, **overrides) -> LabelingConfig:
    return LabelingConfig(task=experiment.task, **overrides)
