"""Preference data files, read one way for everyone.

One reader per format (``readers``), each yielding the same frozen ``Record`` (``records``): the
context, the two candidates in stored order, the human choice (1, 2 or None), its confidence,
the source id, reference, split and whether the file's order was swapped. The web app's import
stores these records; the labeler's samples (``pipeline.labeling.data``) and the reward data's
pairs (``pipeline.reward.data``) are made from them, so all three see a file's pairs alike.

    from pipeline.data import read
    for record in read("harmless-base-test.jsonl.gz", "hh", seed=0): ...

Plain Python; never imports Django.
"""

from pipeline.data.readers import FORMATS, read, read_csv, read_hh, read_jsonl, read_tldr_comparisons
from pipeline.data.records import (
    HIGH_CONFIDENCE_STRENGTH,
    NO_LIMITS,
    SPLITS,
    ImportFormatError,
    ReadLimits,
    Record,
    confidence_strength,
    size_text,
)

__all__ = [
    "FORMATS", "HIGH_CONFIDENCE_STRENGTH", "NO_LIMITS", "SPLITS", "ImportFormatError", "ReadLimits", "Record",
    "confidence_strength", "size_text",
    "read", "read_csv", "read_hh", "read_jsonl", "read_tldr_comparisons",
]
