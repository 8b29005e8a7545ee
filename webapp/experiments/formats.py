"""Readers for preference-data files. Plain Python: each reader yields ``Record`` objects and
raises ``ImportFormatError`` naming the file, the line and the problem.

Formats
  hh                Anthropic HH-RLHF: ``{"chosen", "rejected"}`` full dialogues.
  tldr-comparisons  OpenAI summarize-from-feedback comparisons: ``info``, ``summaries``,
                    ``choice``, optional ``extra.confidence``.
  jsonl             ``prompt`` + ``chosen`` + ``rejected``, or ``prompt`` + ``response_a`` +
                    ``response_b`` + ``choice`` (a/b, 1/2, or empty for unlabelled).
  csv               the same columns as jsonl, with a header row.
Optional columns for jsonl/csv: ``id``, ``reference``, ``split``, ``confidence``.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

FORMATS = ("hh", "tldr-comparisons", "jsonl", "csv")
SPLITS = ("train", "test")
# The paper keeps TL;DR comparisons whose 1-9 confidence is at an extreme: 1, 2, 8 or 9.
HIGH_CONFIDENCE_STRENGTH = 3


class ImportFormatError(ValueError):
    """A file cannot be imported; ``str()`` reads "FILE, line N: problem"."""

    def __init__(self, path: str | Path, line: int | None, problem: str):
        self.path = str(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}, line {line}" if line else self.path
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class Record:
    """One preference pair as read from a file, candidates already in stored order."""

    line: int
    context: str
    candidate_1: str
    candidate_2: str
    human_choice: int | None  # 1, 2 or None
    human_confidence: float | None = None
    reference: str = ""
    source_id: str = ""
    split: str | None = None
    swapped: bool = False  # stored order differs from the file's order


def confidence_strength(confidence: float) -> float:
    """Distance of a 1-9 bipolar confidence from its undecided middle (5)."""
    return abs(confidence - 5)


def read(path: str | Path, fmt: str, *, seed: int = 0) -> Iterator[Record]:
    """Yield the records of ``path`` read as ``fmt``; raises ImportFormatError on bad input."""
    path = Path(path)
    if fmt not in FORMATS:
        raise ImportFormatError(path, None, f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if not path.is_file():
        raise ImportFormatError(path, None, "file not found")
    lines = list(_decoded_lines(path))
    if not any(text.strip() for _, text in lines):
        raise ImportFormatError(path, None, "the file is empty")
    if fmt == "csv":
        yield from _read_csv(path, lines, seed)
        return
    reader = {"hh": _hh_record, "tldr-comparisons": _tldr_record, "jsonl": _jsonl_record}[fmt]
    for number, text in lines:
        if not text.strip():
            continue
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ImportFormatError(path, number, f"malformed JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(row, dict):
            raise ImportFormatError(path, number, f"expected a JSON object, got {type(row).__name__}")
        yield reader(path, number, row, seed)


def _decoded_lines(path: Path) -> Iterator[tuple[int, str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            for number, raw in enumerate(handle, start=1):
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise ImportFormatError(
                        path, number, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
                    ) from None
                if number == 1:
                    text = text.lstrip("\ufeff")
                yield number, text.rstrip("\r\n")
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise ImportFormatError(path, None, f"cannot read the file: {exc}") from None


# -- field helpers --------------------------------------------------------------------


def _text(path: Path, number: int, row: dict, field: str, *, required: bool = True) -> str:
    value = row.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ImportFormatError(path, number, f"missing field {field!r}")
        return ""
    if not isinstance(value, str):
        raise ImportFormatError(path, number, f"field {field!r} must be text, got {type(value).__name__}")
    return value.strip()


def _split(path: Path, number: int, row: dict) -> str | None:
    value = row.get("split")
    if value in (None, ""):
        return None
    if value not in SPLITS:
        raise ImportFormatError(path, number, f"field 'split' must be 'train' or 'test', got {value!r}")
    return value


def _confidence(path: Path, number: int, value) -> float | None:
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ImportFormatError(path, number, f"confidence must be a number, got {value!r}") from None


def _seeded_swap(seed: int, *parts: str) -> bool:
    """A coin flip fixed by the content, so re-imports and re-orderings agree."""
    digest = hashlib.sha256(str(seed).encode())
    for part in parts:
        digest.update(b"\x00" + part.encode("utf-8"))
    return digest.digest()[0] & 1 == 1


def _chosen_rejected(seed: int, number: int, context: str, chosen: str, rejected: str, **extra) -> Record:
    swapped = _seeded_swap(seed, context, chosen, rejected)
    first, second = (rejected, chosen) if swapped else (chosen, rejected)
    return Record(number, context, first, second, 2 if swapped else 1, swapped=swapped, **extra)


# -- hh ---------------------------------------------------------------------------

_TURN = re.compile(r"(?:^|\n\n)(Human|Assistant):")


def split_turns(dialogue: str) -> list[tuple[str, str]]:
    """``"\\n\\nHuman: hi\\n\\nAssistant: hello"`` -> [("Human", "hi"), ("Assistant", "hello")]."""
    marks = list(_TURN.finditer(dialogue))
    turns = []
    for index, mark in enumerate(marks):
        end = marks[index + 1].start() if index + 1 < len(marks) else len(dialogue)
        turns.append((mark.group(1), dialogue[mark.end() : end].strip()))
    return turns


def join_turns(turns: list[tuple[str, str]]) -> str:
    return "\n\n".join(f"{speaker}: {text}" for speaker, text in turns)


def _hh_record(path: Path, number: int, row: dict, seed: int) -> Record:
    chosen_dialogue = _text(path, number, row, "chosen")
    rejected_dialogue = _text(path, number, row, "rejected")
    chosen_turns, rejected_turns = split_turns(chosen_dialogue), split_turns(rejected_dialogue)
    if not chosen_turns or not rejected_turns:
        raise ImportFormatError(path, number, "no 'Human:'/'Assistant:' turns found in the dialogue")
    shared = 0
    while (
        shared < min(len(chosen_turns), len(rejected_turns)) and chosen_turns[shared] == rejected_turns[shared]
    ):
        shared += 1
    chosen_tail, rejected_tail = chosen_turns[shared:], rejected_turns[shared:]
    # The candidates are the final assistant turn(s); everything before must be shared.
    # (A few real HH dialogues end with two assistant turns in a row: both are the reply.)
    if (
        shared == 0
        or not chosen_tail
        or not rejected_tail
        or any(speaker != "Assistant" for speaker, _ in chosen_tail + rejected_tail)
    ):
        raise ImportFormatError(
            path, number, "the 'chosen' and 'rejected' dialogues do not share their context before the last Assistant turn"
        )
    context = join_turns(chosen_turns[:shared])
    chosen = "\n\nAssistant: ".join(text for _, text in chosen_tail)
    rejected = "\n\nAssistant: ".join(text for _, text in rejected_tail)
    return _chosen_rejected(seed, number, context, chosen, rejected, source_id=str(number))


# -- tldr-comparisons -----------------------------------------------------------------


def _tldr_record(path: Path, number: int, row: dict, seed: int) -> Record:
    info = row.get("info")
    if not isinstance(info, dict):
        raise ImportFormatError(path, number, "missing field 'info'")
    body = info.get("post") or info.get("article")
    if not isinstance(body, str) or not body.strip():
        raise ImportFormatError(path, number, "missing field 'info.post'")
    title = info.get("title") or ""
    subreddit = info.get("subreddit") or ""
    context = f"SUBREDDIT: r/{subreddit}\nTITLE: {title}\nPOST: {body.strip()}" if subreddit else (
        f"TITLE: {title}\nPOST: {body.strip()}" if title else body.strip()
    )
    summaries = row.get("summaries")
    if not isinstance(summaries, list) or len(summaries) != 2:
        raise ImportFormatError(path, number, "field 'summaries' must be a list of exactly two summaries")
    texts = []
    for index, summary in enumerate(summaries):
        text = summary.get("text") if isinstance(summary, dict) else None
        if not isinstance(text, str) or not text.strip():
            raise ImportFormatError(path, number, f"missing field 'summaries[{index}].text'")
        texts.append(text.strip())
    choice = row.get("choice")
    if choice not in (0, 1):
        raise ImportFormatError(path, number, f"field 'choice' must be 0 or 1, got {choice!r}")
    extra = row.get("extra") if isinstance(row.get("extra"), dict) else {}
    return Record(
        number,
        context,
        texts[0],
        texts[1],
        choice + 1,
        human_confidence=_confidence(path, number, extra.get("confidence")),
        source_id=str(info.get("id") or number),
        split=_split(path, number, row),
    )


# -- jsonl / csv ----------------------------------------------------------------------

_CHOICES = {"a": 1, "b": 2, "1": 1, "2": 2, 1: 1, 2: 2}


def _jsonl_record(path: Path, number: int, row: dict, seed: int) -> Record:
    context = _text(path, number, row, "prompt")
    extra = dict(
        reference=_text(path, number, row, "reference", required=False),
        source_id=str(row.get("id") or number),
        split=_split(path, number, row),
        human_confidence=_confidence(path, number, row.get("confidence")),
    )
    if "chosen" in row or "rejected" in row:
        chosen = _text(path, number, row, "chosen")
        rejected = _text(path, number, row, "rejected")
        return _chosen_rejected(seed, number, context, chosen, rejected, **extra)
    if "response_a" in row or "response_b" in row:
        first = _text(path, number, row, "response_a")
        second = _text(path, number, row, "response_b")
        raw_choice = row.get("choice")
        key = raw_choice.strip().lower() if isinstance(raw_choice, str) else raw_choice
        if key in (None, ""):
            choice = None
        elif key in _CHOICES and not isinstance(key, bool):
            choice = _CHOICES[key]
        else:
            raise ImportFormatError(path, number, f"field 'choice' must be a, b, 1, 2 or empty, got {raw_choice!r}")
        return Record(number, context, first, second, choice, **extra)
    raise ImportFormatError(
        path, number, "missing fields: need 'chosen' and 'rejected', or 'response_a', 'response_b' and 'choice'"
    )


def _read_csv(path: Path, lines: list[tuple[int, str]], seed: int) -> Iterator[Record]:
    reader = csv.DictReader(io.StringIO("\n".join(text for _, text in lines)))
    if not reader.fieldnames or "prompt" not in reader.fieldnames:
        raise ImportFormatError(path, 1, f"the header row must name a 'prompt' column, got {reader.fieldnames}")
    start = 2
    try:
        for row in reader:
            if None in row:
                raise ImportFormatError(path, start, "more values than header columns")
            if not any((value or "").strip() for value in row.values()):
                start = reader.line_num + 1
                continue
            cleaned = {key: value for key, value in row.items() if value not in (None, "")}
            yield _jsonl_record(path, start, cleaned, seed)
            start = reader.line_num + 1
    except csv.Error as exc:
        raise ImportFormatError(path, reader.line_num, f"malformed CSV ({exc})") from None
