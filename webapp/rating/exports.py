"""A rating round's human rankings out as pairwise preference data (``pipeline.data.exports``
makes the pairs and writes the files): every ranking becomes its pairs, the better ranked text
chosen. Keyword-only ``thing_action`` functions; everything is checked before a byte is written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from pipeline.data.exports import (
    EXPORT_FORMATS,
    RANKING_PAIR_COLUMNS,
    ExportError,
    RankingRow,
    check_choice,
    ranking_pair_records,
    write_records,
)
from webapp.rating.models import Judgement, Mark, Round
from webapp.rating.selectors import excluded_rater_ids


def round_ranking_rows(round: Round) -> Iterator[RankingRow]:
    """Each judgement of the round with its marks in the order shown, in chunks of 500."""
    excluded = excluded_rater_ids(round)
    judgements = Judgement.objects.filter(round=round).select_related("rater", "item__prompt").order_by("id")
    for start in range(0, judgements.count(), 500):
        chunk = list(judgements[start : start + 500])
        marks: dict[int, list[Mark]] = {}
        for mark in Mark.objects.filter(judgement__in=chunk).select_related("entry").order_by("judgement_id", "shown_position"):
            marks.setdefault(mark.judgement_id, []).append(mark)
        for judgement in chunk:
            shown = marks.get(judgement.pk, [])
            yield RankingRow(
                judgement_id=judgement.pk, round_id=round.pk, item_id=judgement.item_id, prompt_id=judgement.item.prompt_id,
                prompt=judgement.item.prompt.context, rater=judgement.rater.username, is_gold=judgement.item.is_gold,
                excluded=judgement.rater_id in excluded, texts=tuple(m.entry.text for m in shown),
                policies=tuple(m.entry.policy for m in shown), ranks=tuple(m.rank for m in shown),
            )


def round_preferences_export(
    *, round_id: int, out: str | Path, fmt: str, include_gold: bool = False, include_excluded: bool = False
) -> int:
    """Write round ``round_id``'s rankings as preference pairs to ``out``; returns the pairs written.

    Raises ExportError (nothing written) for a bad format, an unknown round or a round without
    ranked judgements.
    """
    check_choice(fmt, EXPORT_FORMATS, "format")
    round = Round.objects.filter(pk=round_id).first()
    if round is None:
        raise ExportError(f"no rating round #{round_id}")
    if not Mark.objects.filter(judgement__round=round, rank__isnull=False).exists():
        raise ExportError(f"rating round #{round_id} has no ranked judgements yet")
    records = ranking_pair_records(round_ranking_rows(round), include_gold=include_gold, include_excluded=include_excluded)
    return write_records(records, out, fmt, columns=RANKING_PAIR_COLUMNS)
