"""Read Anthropic HH pairs as labeling samples with their human labels (for tests and the benchmark).

The web app imports preference files through its own readers; this is the minimal plain-Python
reader the pipeline needs to measure itself on the real data without Django.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

from pipeline.labeling.engine import Sample

_ASSISTANT = "\n\nAssistant:"


def split_hh(chosen: str, rejected: str) -> tuple[str, str, str]:
    """(context, chosen reply, rejected reply) of an HH pair: the dialogues share everything up
    to their last differing ``Assistant:`` turn; the context keeps the ``Human:``/``Assistant:``
    turns before it, without the final ``Assistant:`` cue.
    """
    n = 0
    while n < min(len(chosen), len(rejected)) and chosen[n] == rejected[n]:
        n += 1
    cut = chosen.rfind(_ASSISTANT, 0, n + 1)
    if cut < 0:
        raise ValueError("the two dialogues do not share a context ending in an Assistant turn")
    start = cut + len(_ASSISTANT)
    return chosen[:cut].strip(), chosen[start:].strip(), rejected[start:].strip()


def human_first(seed: int, context: str, chosen: str, rejected: str) -> bool:
    """A coin flip fixed by content: does the chosen reply go in position 1?"""
    digest = hashlib.sha256(f"{seed}\x00{context}\x00{chosen}\x00{rejected}".encode("utf-8")).digest()
    return digest[0] & 1 == 0


def read_hh(path: str | Path, limit: int | None = None, seed: int = 0) -> list[tuple[Sample, int]]:
    """The first ``limit`` pairs of an HH ``{"chosen", "rejected"}`` JSONL(.gz) file as
    (Sample, human choice 1 or 2). The chosen reply is put in position 1 or 2 by a seeded coin
    flip, so a labeler with a position bias cannot look aligned by always answering "1".
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    pairs: list[tuple[Sample, int]] = []
    with opener(path, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if limit is not None and len(pairs) >= limit:
                break
            if not line.strip():
                continue
            row = json.loads(line)
            try:
                context, chosen, rejected = split_hh(row["chosen"], row["rejected"])
            except ValueError:
                continue
            if human_first(seed, context, chosen, rejected):
                pairs.append((Sample(context, chosen, rejected, key=f"hh:{number}"), 1))
            else:
                pairs.append((Sample(context, rejected, chosen, key=f"hh:{number}"), 2))
    return pairs
