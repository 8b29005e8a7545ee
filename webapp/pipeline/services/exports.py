"""AI labels of a labeling run out as TRL preference data (``pipeline.data.exports`` writes the files).

Keyword-only ``thing_action`` functions. Everything is checked before a byte is written: the
format and tie rule, that the run exists and that it has labels, so a refused export leaves
nothing behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

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
from webapp.pipeline.models import AILabel, LabelingRun

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
