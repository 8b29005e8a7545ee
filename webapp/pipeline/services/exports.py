"""Exports: AI labels of a labeling run as TRL preference data (``pipeline.data.exports`` writes
the files), and a training run's model as a plain transformers checkpoint (``pipeline.export_model``).

Keyword-only ``thing_action`` functions. Everything is checked before a byte is written: the
format and tie rule, that the run exists, has labels or weights, and that the target is free, so
a refused export leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from django.utils import timezone

from pipeline.data.exports import (
    AI_LABEL_COLUMNS,
    EXPORT_FORMATS,
    TIE_RULES,
    AiLabelRow,
    ExportError,
    ai_label_records,
    check_choice,
    write_records,
)
from pipeline.export_model import CardFacts, export_model
from webapp.experiments.models import PreferencePair
from webapp.pipeline import artifacts
from webapp.pipeline.models import AILabel, LabelingRun, Status, TrainingRun

FIELDS = ("pair_id", "pair__prompt__context", "pair__candidate_1", "pair__candidate_2", "p", "p_order1", "p_order2",
          "label_mass", "pair__prompt__split", "pair__human_choice")


def labeling_run_label_rows(run: LabelingRun) -> Iterator[AiLabelRow]:
    """The run's labels in pair order, as plain rows (one query, streamed)."""
    for values in AILabel.objects.filter(run=run).order_by("pair_id").values_list(*FIELDS).iterator(chunk_size=500):
        yield AiLabelRow(*values)


def labeling_run_export(*, run_id: int, out: str | Path, fmt: str, ties: str = "drop") -> int:
    """Write run ``run_id``'s AI labels to ``out`` as ``fmt``; returns the records written.

    Raises ExportError (nothing written) for a bad format or tie rule, an unknown run, or a run
    without labels yet.
    """
    check_choice(fmt, EXPORT_FORMATS, "format")
    check_choice(ties, TIE_RULES, "ties")
    run = LabelingRun.objects.filter(pk=run_id).first()
    if run is None:
        raise ExportError(f"no labeling run #{run_id}")
    if not AILabel.objects.filter(run=run).exists():
        raise ExportError(f"labeling run #{run_id} has no AI labels yet (status: {run.status})")
    records = ai_label_records(labeling_run_label_rows(run), run_id=run.pk, labeler=run.model_spec,
                               config=run.config, ties=ties)
    return write_records(records, out, fmt, columns=AI_LABEL_COLUMNS)


# -- models ------------------------------------------------------------------------------------


def _base_model(run: TrainingRun) -> tuple[str, str]:
    """(spec, hub id or "") of the model the run's chain of parents started from."""
    from pipeline import registry

    root, seen = run, {run.pk}
    while root.parent is not None and root.parent.pk not in seen:  # a policy starts from its SFT run
        root = root.parent
        seen.add(root.pk)
    spec = root.config.get("model") or root.config.get("policy") or root.model_spec
    return spec, registry.hub_id_of(spec)


def _card_data(run: TrainingRun) -> dict:
    """Pair counts of the experiment's train split, and the labels and reward model the run read."""
    train = PreferencePair.objects.filter(prompt__experiment=run.experiment, prompt__split="train")
    data: dict = {"train_pairs": train.count(), "human_labelled_train_pairs": train.exclude(human_choice=None).count()}
    if run.labeling_run is not None:
        labeling = run.labeling_run
        data["labeling_run"] = {"id": labeling.pk, "labeler": labeling.model_spec, "config": labeling.config,
                                "split": labeling.split, "ai_labels": AILabel.objects.filter(run=labeling).count()}
    if run.reward_run is not None:
        data["reward_run"] = {"id": run.reward_run.pk, "label_source": run.reward_run.label_source}
    if run.parent is not None:
        data["parent_run"] = {"id": run.parent.pk, "arm": run.parent.arm, "algorithm": run.parent.algorithm}
    return data


def card_facts(run: TrainingRun) -> CardFacts:
    spec, hub_id = _base_model(run)
    return CardFacts(
        kind=run.kind, run_id=run.pk, base_model=spec, base_hub_id=hub_id,
        experiment=run.experiment.slug, arm=run.arm, algorithm=run.algorithm, label_source=run.label_source,
        data=_card_data(run), config=run.config, metrics=run.metrics,
        finished=f"{run.finished_at:%Y-%m-%d}" if run.finished_at else "", exported=f"{timezone.now():%Y-%m-%d}",
    )


def training_run_checkpoint(run_id: int) -> tuple[TrainingRun, Path]:
    """The run and its final weights here; ExportError for an unknown, unfinished or weightless run."""
    run = TrainingRun.objects.select_related("experiment", "labeling_run", "reward_run", "parent").filter(pk=run_id).first()
    if run is None:
        raise ExportError(f"no training run #{run_id}")
    if run.status != Status.SUCCEEDED:
        raise ExportError(f"training run #{run_id} has not finished (status: {run.status}): no weights to export yet")
    if not run.checkpoint_path:
        raise ExportError(f"training run #{run_id} recorded no weights (checkpoint_path is empty)")
    artifacts.pull_spec(run.checkpoint_path)
    checkpoint = Path(run.checkpoint_path)
    if not (checkpoint / "config.json").is_file():
        raise ExportError(f"training run #{run_id}: its weights are missing, no checkpoint at {checkpoint}")
    return run, checkpoint


def training_run_model_export(*, run_id: int, out: str | Path, force: bool = False) -> Path:
    """Write run ``run_id``'s model to the folder ``out`` (transformers checkpoint + README.md card).

    Raises ExportError (nothing written) for an unknown run, one without finished weights, or an
    ``out`` that is a file or a non-empty folder (replaced only with ``force``).
    """
    run, checkpoint = training_run_checkpoint(run_id)
    target = Path(out)
    if target.exists() and not target.is_dir():
        raise ExportError(f"{target} exists and is not a folder")
    if target.is_dir() and any(target.iterdir()) and not force:
        raise ExportError(f"{target} exists and is not empty (use --force to replace it)")
    return export_model(checkpoint, target, card_facts(run))
