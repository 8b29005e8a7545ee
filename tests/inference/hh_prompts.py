"""Real HH-RLHF dialogues as chat prompts, for the decoding tests."""

from __future__ import annotations

from pathlib import Path

from pipeline.tokens import fitting_chat_prompts


def hh_prompts(path: Path, tokenizer, count: int, max_tokens: int = 160) -> list[list[int]]:
    """The first ``count`` HH test dialogues (of the first 200) whose chat prompt fits ``max_tokens`` tokens."""
    return fitting_chat_prompts(path, tokenizer, count, max_tokens, scan=200)
