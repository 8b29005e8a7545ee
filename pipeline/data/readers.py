"""Readers for preference-data files, one per format. Plain Python: each reader yields ``Record``
objects line by line and raises ``ImportFormatError`` naming the file, the line and the problem.

Formats
  hh                Anthropic HH-RLHF: ``{"chosen", "rejected"}`` full dialogues.
  tldr-comparisons  OpenAI summarize-from-feedback comparisons: ``info``, ``summaries``,
                    ``choice``, optional ``extra.confidence``.
  jsonl             ``prompt`` + ``chosen`` + ``rejected``, or ``prompt`` + ``response_a`` +
                    ``response_b`` + ``choice`` (a/b, 1/2, or empty for unlabelled).
  csv               the same columns as jsonl, with a header row.
  hf                the jsonl columns in a Hugging Face ``datasets`` folder (``save_to_disk``)
                    or a Parquet file; a record's "line" is its row number, from 1.
Optional columns for jsonl/csv/hf: ``id``, ``reference``, ``split``, ``confidence``. ``columns``
maps our names to a file's own (``{"prompt": "question"}``) for jsonl, csv and hf.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path

from pipeline.data.records import (
    NO_LIMITS,
    ImportFormatError,
    ReadLimits,
    Record,
    RecordExtra,
    choice_field,
    chosen_rejected_record,
    confidence_value,
    decoded_lines,
    split_field,
    text_field,
)

FORMATS = ("hh", "tldr-comparisons", "jsonl", "csv", "hf")
MAPPABLE = ("jsonl", "csv", "hf")


def read(
    path: str | Path, fmt: str, *, seed: int = 0, limits: ReadLimits = NO_LIMITS, columns: dict[str, str] | None = None
) -> Iterator[Record]:
    """Yield the records of ``path`` read as ``fmt``; ``seed`` fixes the candidate-order coin
    flip of chosen/rejected pairs, ``limits`` caps the data and line sizes, ``columns`` maps our
    column names to the file's (jsonl, csv, hf). Raises ImportFormatError on bad input."""
    readers = {"hh": read_hh, "tldr-comparisons": read_tldr_comparisons, "jsonl": read_jsonl, "csv": read_csv, "hf": read_hf}
    if fmt not in readers:
        raise ImportFormatError(path, None, f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if columns:
        if fmt not in MAPPABLE:
            raise ImportFormatError(path, None, f"columns can be mapped only for {', '.join(MAPPABLE)}, not {fmt}")
        yield from _mapped(path, fmt, seed, limits, columns)
        return
    yield from readers[fmt](path, seed=seed, limits=limits)


def _mapped(path: str | Path, fmt: str, seed: int, limits: ReadLimits, columns: dict[str, str]) -> Iterator[Record]:
    """The table formats with the file's column names turned into ours before a record is made."""
    path = Path(path)
    rows: Iterator[tuple[int, dict]]
    if fmt == "jsonl":
        rows = _json_rows(path, limits)
    elif fmt == "csv":
        rows = _csv_rows(path, limits, prompt=columns.get("prompt", "prompt"))
    else:
        rows = _hf_rows(path)
    for number, row in rows:
        renamed = {ours: row[theirs] for ours, theirs in columns.items() if theirs in row}
        yield _table_record(path, number, {**row, **renamed}, seed)


def _json_rows(path: Path, limits: ReadLimits) -> Iterator[tuple[int, dict]]:
    for number, text in decoded_lines(path, limits, blank_lines=False):
        try:
            row = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ImportFormatError(path, number, f"malformed JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(row, dict):
            raise ImportFormatError(path, number, f"expected a JSON object, got {type(row).__name__}")
        yield number, row


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


def read_hh(path: str | Path, *, seed: int = 0, limits: ReadLimits = NO_LIMITS) -> Iterator[Record]:
    """Anthropic HH-RLHF dialogues: the context is every turn before the last assistant turn,
    the candidates the two final replies, the chosen one first or second by the seeded flip."""
    path = Path(path)
    for number, row in _json_rows(path, limits):
        yield _hh_record(path, number, row, seed)


def _hh_record(path: Path, number: int, row: dict, seed: int) -> Record:
    chosen_dialogue = text_field(path, number, row, "chosen")
    rejected_dialogue = text_field(path, number, row, "rejected")
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
    return chosen_rejected_record(seed, number, context, chosen, rejected, source_id=str(number))


# -- tldr-comparisons -----------------------------------------------------------------


def read_tldr_comparisons(path: str | Path, *, seed: int = 0, limits: ReadLimits = NO_LIMITS) -> Iterator[Record]:
    """OpenAI TL;DR comparisons, in the file's order (``seed`` is unused: the file has no
    chosen/rejected sides to shuffle)."""
    path = Path(path)
    for number, row in _json_rows(path, limits):
        yield _tldr_record(path, number, row)


def _tldr_record(path: Path, number: int, row: dict) -> Record:
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
    choice = choice_field(path, number, row.get("choice"), {0: 1, 1: 2}, expected="0 or 1")
    if choice is None:
        raise ImportFormatError(path, number, "field 'choice' must be 0 or 1, got None")
    extra = row.get("extra")
    if not isinstance(extra, dict):
        extra = {}
    return Record(
        number,
        context,
        texts[0],
        texts[1],
        choice,
        human_confidence=confidence_value(path, number, extra.get("confidence")),
        source_id=str(info.get("id") or number),
        split=split_field(path, number, row),
    )


# -- jsonl / csv ----------------------------------------------------------------------

_CHOICES: dict[str | int, int] = {"a": 1, "b": 2, "1": 1, "2": 2, 1: 1, 2: 2}


def read_jsonl(path: str | Path, *, seed: int = 0, limits: ReadLimits = NO_LIMITS) -> Iterator[Record]:
    """Our JSONL: chosen/rejected rows (shuffled by the seeded flip) or response_a/response_b
    rows with an optional choice (kept in the file's order)."""
    path = Path(path)
    for number, row in _json_rows(path, limits):
        yield _table_record(path, number, row, seed)


def read_csv(path: str | Path, *, seed: int = 0, limits: ReadLimits = NO_LIMITS) -> Iterator[Record]:
    """The JSONL columns as CSV with a header row; a record's line is the line its row starts on."""
    path = Path(path)
    for number, row in _csv_rows(path, limits):
        yield _table_record(path, number, row, seed)


def read_hf(path: str | Path, *, seed: int = 0, limits: ReadLimits = NO_LIMITS) -> Iterator[Record]:
    """The JSONL columns from a ``datasets`` save_to_disk folder or a Parquet file (``limits``
    do not apply: Arrow files are read by column, not by line)."""
    path = Path(path)
    for number, row in _hf_rows(path):
        yield _table_record(path, number, row, seed)


def _hf_rows(path: Path) -> Iterator[tuple[int, dict]]:
    try:
        if path.is_dir():
            from datasets import load_from_disk

            table = load_from_disk(str(path)).data.table
        else:
            import pyarrow.parquet as pq

            table = pq.read_table(path)
    except (OSError, ValueError, FileNotFoundError) as exc:
        raise ImportFormatError(path, None, f"not a datasets folder or Parquet file ({exc})") from None
    for number, row in enumerate(table.to_pylist(), start=1):
        yield number, {key: value for key, value in row.items() if value is not None}


def _csv_rows(path: Path, limits: ReadLimits, prompt: str = "prompt") -> Iterator[tuple[int, dict]]:
    # The line ending goes back on, or a quoted value spanning lines would lose its newlines.
    reader = csv.DictReader(text + "\n" for _, text in decoded_lines(path, limits))
    if not reader.fieldnames or prompt not in reader.fieldnames:
        raise ImportFormatError(path, 1, f"the header row must name a {prompt!r} column, got {reader.fieldnames}")
    start = 2
    try:
        for row in reader:
            if None in row:
                raise ImportFormatError(path, start, "more values than header columns")
            if not any((value or "").strip() for value in row.values()):
                start = reader.line_num + 1
                continue
            cleaned = {key: value for key, value in row.items() if value not in (None, "")}
            yield start, cleaned
            start = reader.line_num + 1
    except csv.Error as exc:
        # The row being read starts at ``start``; reader.line_num lags behind on some errors
        # (a cell over the field size limit reports the row before).
        raise ImportFormatError(path, max(start, reader.line_num), f"malformed CSV ({exc})") from None


def _table_record(path: Path, number: int, row: dict, seed: int) -> Record:
    context = text_field(path, number, row, "prompt")
    extra = RecordExtra(
        reference=text_field(path, number, row, "reference", required=False),
        source_id=str(row.get("id") or number),
        split=split_field(path, number, row),
        human_confidence=confidence_value(path, number, row.get("confidence")),
    )
    if "chosen" in row or "rejected" in row:
        chosen = text_field(path, number, row, "chosen")
        rejected = text_field(path, number, row, "rejected")
        return chosen_rejected_record(seed, number, context, chosen, rejected, **extra)
    if "response_a" in row or "response_b" in row:
        first = text_field(path, number, row, "response_a")
        second = text_field(path, number, row, "response_b")
        choice = choice_field(path, number, row.get("choice"), _CHOICES, expected="a, b, 1, 2 or empty")
        return Record(number, context, first, second, choice, **extra)
    raise ImportFormatError(
        path, number, "missing fields: need 'chosen' and 'rejected', or 'response_a', 'response_b' and 'choice'"
    )
