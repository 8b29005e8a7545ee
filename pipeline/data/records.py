"""The record every reader yields, the error every reader raises, and what the readers share:
reading a file line by line, checking fields, and the seeded coin flip of candidate order.

Plain Python (no Django): the web app's import, the labeler's data and the reward data all read
files through ``pipeline.data``, so the three see the same pairs in the same order.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict, Unpack

SPLITS = ("train", "test")
# The paper keeps TL;DR comparisons whose 1-9 confidence is at an extreme: 1, 2, 8 or 9.
HIGH_CONFIDENCE_STRENGTH = 3


class ImportFormatError(ValueError):
    """A file cannot be read; ``str()`` reads "FILE, line N: problem"."""

    def __init__(self, path: str | Path, line: int | None, problem: str):
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}, line {line}" if line else self.path
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class Record:
    """One preference pair as read from a file, candidates already in stored order."""

    line: int  # the line of the file it came from (the first line of a multi-line CSV row)
    context: str
    candidate_1: str
    candidate_2: str
    human_choice: int | None  # 1, 2 or None
    human_confidence: float | None = None
    reference: str = ""
    source_id: str = ""
    split: str | None = None
    swapped: bool = False  # stored order differs from the file's order


class RecordExtra(TypedDict, total=False):
    """The Record fields a reader may give besides the pair and the choice."""

    reference: str
    source_id: str
    split: str | None
    human_confidence: float | None


def confidence_strength(confidence: float) -> float:
    """Distance of a 1-9 bipolar confidence from its undecided middle (5)."""
    return abs(confidence - 5)


@dataclass(frozen=True)
class ReadLimits:
    """Caps on what a reader takes from one file; None means no cap. The web app's import sets
    them from its settings (named in the messages), so an upload cannot exhaust the server's
    memory or time: a gzip bomb stops at ``max_bytes`` and a line without an end at
    ``max_line_bytes``, each after reading at most one chunk past the cap."""

    max_bytes: int | None = None  # of data after decompression
    max_line_bytes: int | None = None
    max_bytes_name: str = "max_bytes"  # what the messages call the limits: the settings that set them
    max_line_bytes_name: str = "max_line_bytes"


NO_LIMITS = ReadLimits()
# Decompressed data is taken in chunks this big and split into lines in C: a run of blank lines
# costs almost nothing, where reading it line by line costs a Python call per line.
_CHUNK = 1 << 20


def size_text(size: int) -> str:
    """``1073741824`` -> ``"1 GiB"``; a limit as a person reads it."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.3g} {unit}"
    return f"{size} bytes"


def decoded_lines(path: Path, limits: ReadLimits = NO_LIMITS, *, blank_lines: bool = True) -> Iterator[tuple[int, str]]:
    """(line number, text without its line ending) of a UTF-8 file, gzipped when it ends in
    ``.gz``, streamed. ``blank_lines=False`` leaves out lines of nothing but whitespace (they
    still count for the numbers). Refuses a missing file and one with nothing but blank lines
    before yielding anything, so a caller never sees a half-read empty file."""
    if not path.is_file():
        raise ImportFormatError(path, None, "file not found")
    lines = _lines(path, limits, blank_lines)
    # The leading blank lines are held back as a count (a file of any size streams), and given
    # back once a line with text shows that the file is not empty.
    for number, text in lines:
        if text.strip():
            if blank_lines:
                yield from ((n, "") for n in range(1, number))
            yield number, text
            yield from lines
            return
    raise ImportFormatError(path, None, "the file is empty")


def _lines(path: Path, limits: ReadLimits, blank_lines: bool) -> Iterator[tuple[int, str]]:
    for number, raw in _raw_lines(path, limits, blank_lines):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ImportFormatError(
                path, number, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
            ) from None
        if number == 1:
            text = text.lstrip("\ufeff")
        yield number, text.rstrip("\r")


def _raw_lines(path: Path, limits: ReadLimits, blank_lines: bool) -> Iterator[tuple[int, bytes]]:
    opener = gzip.open if path.suffix == ".gz" else open
    longest = limits.max_line_bytes
    try:
        with opener(path, "rb") as handle:
            number, total, pending, seen_text = 0, 0, b"", False
            while chunk := handle.read(_CHUNK):
                total += len(chunk)
                if limits.max_bytes is not None and total > limits.max_bytes:
                    packed = " after decompression" if opener is gzip.open else ""
                    raise ImportFormatError(
                        path, None,
                        f"more than {size_text(limits.max_bytes)} of data{packed} (the limit set by {limits.max_bytes_name})",
                    )
                data = pending + chunk if pending else chunk
                # Blank lines are skipped whole chunks at a time, unless a caller that wants them
                # (CSV: a quoted value may hold one) is past the leading ones.
                if not (blank_lines and seen_text) and not data.strip():
                    number += data.count(b"\n")
                    pending = data[data.rfind(b"\n") + 1 :]
                    continue
                lines = data.split(b"\n")
                pending = lines.pop()
                for raw in lines:
                    number += 1
                    if longest is not None and len(raw) > longest:
                        raise _too_long(path, number, longest, limits)
                    if raw.strip():
                        seen_text = True
                        yield number, raw
                    elif blank_lines:
                        yield number, raw
                if longest is not None and len(pending) > longest:
                    raise _too_long(path, number + 1, longest, limits)
            if pending and (blank_lines or pending.strip()):
                yield number + 1, pending
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise ImportFormatError(path, None, f"cannot read the file: {exc}") from None


def _too_long(path: Path, number: int, longest: int, limits: ReadLimits) -> ImportFormatError:
    return ImportFormatError(
        path, number, f"the line is longer than {size_text(longest)} (the limit set by {limits.max_line_bytes_name})"
    )


# -- field checks shared by the readers --------------------------------------------------


def text_field(path: Path, number: int, row: dict, field: str, *, required: bool = True) -> str:
    value = row.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ImportFormatError(path, number, f"missing field {field!r}")
        return ""
    if not isinstance(value, str):
        raise ImportFormatError(path, number, f"field {field!r} must be text, got {type(value).__name__}")
    return value.strip()


def split_field(path: Path, number: int, row: dict) -> str | None:
    value = row.get("split")
    if value in (None, ""):
        return None
    if value not in SPLITS:
        raise ImportFormatError(path, number, f"field 'split' must be 'train' or 'test', got {value!r}")
    return value


def confidence_value(path: Path, number: int, value: object) -> float | None:
    """``value`` is whatever the file holds (a JSON list or object included)."""
    if value in (None, ""):
        return None
    try:
        # Only text and numbers can be one; anything else fails as float() would with TypeError.
        if not isinstance(value, (str, int, float)):
            raise TypeError(type(value).__name__)
        confidence = float(value)
    except (TypeError, ValueError):
        raise ImportFormatError(path, number, f"confidence must be a number, got {value!r}") from None
    # float() also reads "nan" and "inf", which every confidence filter would misjudge.
    if not math.isfinite(confidence) or isinstance(value, bool):
        raise ImportFormatError(path, number, f"confidence must be a finite number, got {value!r}")
    return confidence


def choice_field(path: Path, number: int, value: object, choices: dict[str | int, int], *, expected: str) -> int | None:
    """The human choice (1 or 2) that ``value`` names in ``choices``; None when it is empty.

    Only text and whole numbers are looked up: a list or an object is not hashable, and JSON
    ``true`` would equal 1 (Python's bool is an int), so either would pass for a label."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    key = value.strip().lower() if isinstance(value, str) else value
    if (isinstance(key, str) or type(key) is int) and key in choices:
        return choices[key]
    raise ImportFormatError(path, number, f"field 'choice' must be {expected}, got {value!r}")


# -- candidate order ------------------------------------------------------------------------


def seeded_swap(seed: int, *parts: str) -> bool:
    """A coin flip fixed by the content, so re-imports and re-orderings agree."""
    digest = hashlib.sha256(str(seed).encode())
    for part in parts:
        digest.update(b"\x00" + part.encode("utf-8"))
    return digest.digest()[0] & 1 == 1


def chosen_rejected_record(seed: int, number: int, context: str, chosen: str, rejected: str,
                           **extra: Unpack[RecordExtra]) -> Record:
    """A record of a chosen/rejected pair: the chosen reply goes first or second by the seeded
    coin flip, so a labeler or model that favours position 1 cannot look right for free."""
    swapped = seeded_swap(seed, context, chosen, rejected)
    first, second = (rejected, chosen) if swapped else (chosen, rejected)
    return Record(number, context, first, second, 2 if swapped else 1, swapped=swapped, **extra)
