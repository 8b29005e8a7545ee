"""Real HH-RLHF dialogues as chat prompts, for the decoding tests."""

from __future__ import annotations

from itertools import islice
from pathlib import Path

from pipeline.data import read
from pipeline.tokens import encode_prompt, format_prompt


def hh_prompts(path: Path, tokenizer, count: int, max_tokens: int = 160) -> list[list[int]]:
    """The first ``count`` HH test dialogues whose chat prompt fits ``max_tokens`` tokens."""
    picked = []
    for record in islice(read(path, "hh"), 200):
        ids = encode_prompt(tokenizer, format_prompt(tokenizer, record.context))
        if len(ids) <= max_tokens:
            picked.append(ids)
        if len(picked) == count:
            return picked
    raise AssertionError(f"fewer than {count} HH prompts of <= {max_tokens} tokens in {path}")
