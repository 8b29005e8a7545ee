"""Preference records (``pipeline.data``) as labeling samples with their human labels.

No parsing here: files are read by ``pipeline.data``, the reader the web app imports with, so a
sample has the context, candidate order and human choice the app stores for the same pair.
"""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.data import Record
from pipeline.labeling.engine import Sample


def sample_of(record: Record) -> Sample:
    """The record as the labeler sees it, candidates in stored order, keyed by its source id."""
    return Sample(record.context, record.candidate_1, record.candidate_2, key=record.source_id)


def labeled_samples(records: Iterable[Record]) -> list[tuple[Sample, int]]:
    """(Sample, human choice 1 or 2) of every record with a human choice (the others are skipped)."""
    return [(sample_of(record), record.human_choice) for record in records if record.human_choice in (1, 2)]
