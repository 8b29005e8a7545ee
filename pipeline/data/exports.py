"""Preference data out, in the formats ML teams load: TRL's preference format (``prompt``,
``chosen``, ``rejected`` plus our own columns) as JSON lines, Parquet or a Hugging Face
``datasets`` folder (``save_to_disk``).

Plain Python (never imports Django): the web app turns its rows into the plain ``AiLabelRow`` /
``RankingRow`` here, and this module turns them into records and files.

Every file is written beside its destination under a temporary name and renamed into place
only when complete, so a failed or interrupted export never leaves a partial file where a
training job would read it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

EXPORT_FORMATS = ("jsonl", "parquet", "hf")
TIE_RULES = ("drop", "keep")


class ExportError(ValueError):
    """An export that cannot be made; nothing was written. ``str()`` names the run, round or field."""


@dataclass(frozen=True)
class AiLabelRow:
    """One AI label as stored: probabilities are P(candidate 1 preferred), candidates in stored order."""

    pair_id: int
    prompt: str
    candidate_1: str
    candidate_2: str
    p: float
    p_order1: float
    p_order2: float | None
    label_mass: float
    split: str
    human_choice: int | None


@dataclass(frozen=True)
class RankingRow:
    """One rater's ranking of one item: the texts in the order shown, each with its rank (1 = best, None = unranked)."""

    judgement_id: int
    round_id: int
    item_id: int
    prompt_id: int
    prompt: str
    rater: str
    is_gold: bool
    excluded: bool
    texts: tuple[str, ...]
    policies: tuple[str, ...]
    ranks: tuple[int | None, ...]


def check_choice(value: str, allowed: tuple[str, ...], field: str) -> str:
    if value not in allowed:
        raise ExportError(f"{field} must be one of {', '.join(allowed)}, got {value!r}")
    return value


# -- AI labels ---------------------------------------------------------------------------


def ai_label_records(rows: Iterable[AiLabelRow], *, run_id: int, labeler: str, config: dict, ties: str = "drop") -> Iterator[dict]:
    """TRL preference records, chosen and rejected by the AI label.

    ``p``, ``p_order1`` and ``p_order2`` are turned to say P(chosen preferred), so ``p >= 0.5``
    on every record; ``chosen_position`` (1 or 2) says which stored candidate was chosen, which
    maps them back. A tie (p == 0.5) has no chosen side: dropped by default, or with
    ``ties="keep"`` kept in stored order with ``tie`` true.
    """
    check_choice(ties, TIE_RULES, "ties")
    config_text = json.dumps(config, sort_keys=True)  # one JSON text: the same Arrow type in every format
    for row in rows:
        tie = row.p == 0.5
        if tie and ties == "drop":
            continue
        first = row.p >= 0.5
        human = None if row.human_choice is None else (row.human_choice == 1) == first
        yield {
            "prompt": row.prompt,
            "chosen": row.candidate_1 if first else row.candidate_2,
            "rejected": row.candidate_2 if first else row.candidate_1,
            "p": _toward(row.p, first),
            "p_order1": _toward(row.p_order1, first),
            "p_order2": _toward(row.p_order2, first),
            "label_mass": row.label_mass,
            "tie": tie,
            "chosen_position": 1 if first else 2,
            "human_prefers_chosen": None if tie else human,
            "pair_id": row.pair_id,
            "split": row.split,
            "run_id": run_id,
            "labeler": labeler,
            "config": config_text,
        }


def _toward(value: float | None, first: bool) -> float | None:
    """P(candidate 1 preferred) as P(chosen preferred)."""
    return value if value is None or first else 1.0 - value


AI_LABEL_COLUMNS: dict[str, str] = {
    "prompt": "string", "chosen": "string", "rejected": "string", "p": "float64", "p_order1": "float64",
    "p_order2": "float64", "label_mass": "float64", "tie": "bool", "chosen_position": "int64",
    "human_prefers_chosen": "bool", "pair_id": "int64", "split": "string", "run_id": "int64", "labeler": "string",
    "config": "string",
}


# -- human rankings ------------------------------------------------------------------------


def ranking_pair_records(rows: Iterable[RankingRow], *, include_gold: bool = False, include_excluded: bool = False) -> Iterator[dict]:
    """Every ranking as its pairwise preferences: each two ranked texts, the better ranked one chosen.

    Gold items (planted checks, one text made worse on purpose) and raters excluded from the
    round are left out unless asked for; their records say so in ``is_gold`` and ``excluded``.
    Positions are 1-based, in the order the rater saw the texts.
    """
    for row in rows:
        if (row.is_gold and not include_gold) or (row.excluded and not include_excluded):
            continue
        ranked = [i for i, rank in enumerate(row.ranks) if rank is not None]
        for a, b in combinations(ranked, 2):
            better, worse = (a, b) if (row.ranks[a] or 0) < (row.ranks[b] or 0) else (b, a)
            yield {
                "prompt": row.prompt,
                "chosen": row.texts[better],
                "rejected": row.texts[worse],
                "chosen_policy": row.policies[better],
                "rejected_policy": row.policies[worse],
                "chosen_rank": row.ranks[better],
                "rejected_rank": row.ranks[worse],
                "chosen_position": better + 1,
                "rejected_position": worse + 1,
                "positions_shown": len(row.texts),
                "rater": row.rater,
                "round_id": row.round_id,
                "judgement_id": row.judgement_id,
                "item_id": row.item_id,
                "prompt_id": row.prompt_id,
                "is_gold": row.is_gold,
                "excluded": row.excluded,
            }


RANKING_PAIR_COLUMNS: dict[str, str] = {
    "prompt": "string", "chosen": "string", "rejected": "string", "chosen_policy": "string", "rejected_policy": "string",
    "chosen_rank": "int64", "rejected_rank": "int64", "chosen_position": "int64", "rejected_position": "int64",
    "positions_shown": "int64", "rater": "string", "round_id": "int64", "judgement_id": "int64", "item_id": "int64",
    "prompt_id": "int64", "is_gold": "bool", "excluded": "bool",
}


# -- files ---------------------------------------------------------------------------------


def _arrow_table(records: list[dict], columns: dict[str, str]) -> Any:
    import pyarrow as pa

    # An explicit schema: a column that is empty or all null (p_order2 of a no-swap run) keeps its type.
    schema = pa.schema([(name, pa.type_for_alias(kind)) for name, kind in columns.items()])
    return pa.Table.from_pylist(records, schema=schema)


def _write_jsonl(records: list[dict], target: Path, columns: dict[str, str]) -> None:
    with target.open("w", encoding="utf-8") as stream:
        for record in records:
            stream.write(json.dumps(record, ensure_ascii=False) + "\n")


def _write_parquet(records: list[dict], target: Path, columns: dict[str, str]) -> None:
    import pyarrow.parquet as pq

    pq.write_table(_arrow_table(records, columns), target)


def _write_hf(records: list[dict], target: Path, columns: dict[str, str]) -> None:
    from datasets import Dataset

    Dataset(_arrow_table(records, columns)).save_to_disk(str(target))


WRITERS = {"jsonl": _write_jsonl, "parquet": _write_parquet, "hf": _write_hf}


def write_records(records: Iterable[dict], out: str | Path, fmt: str, *, columns: dict[str, str]) -> int:
    """Write ``records`` to ``out`` as ``fmt`` (a file, or a folder for ``hf``) and return how many.

    Written under a temporary name in the same folder and renamed into place when complete;
    a folder already at ``out`` is replaced only after the new one is whole.
    """
    check_choice(fmt, EXPORT_FORMATS, "format")
    out = Path(out)
    if not out.parent.is_dir():
        raise ExportError(f"cannot write {out}: the folder {out.parent} does not exist")
    if out.is_dir() != (fmt == "hf") and out.exists():
        kind = "a folder" if out.is_dir() else "a file"
        raise ExportError(f"cannot write {fmt} to {out}: it is {kind}")
    rows = list(records)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        staged = work / "export"
        WRITERS[fmt](rows, staged, columns)
        if out.is_dir():
            # Two renames: the old folder moves aside, the new one in; a failure puts the old one back.
            os.replace(out, work / "previous")
            try:
                os.replace(staged, out)
            except OSError:
                os.replace(work / "previous", out)
                raise
        else:
            os.replace(staged, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return len(rows)


def single_file(out: str | Path) -> Path:
    """``out`` as one file to download: a ``save_to_disk`` folder becomes a zip beside it."""
    out = Path(out)
    if not out.is_dir():
        return out
    return Path(shutil.make_archive(str(out), "zip", root_dir=out))
