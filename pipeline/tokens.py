"""Token helpers: how a context becomes the ids a model reads, and which ids end a response.

``format_prompt`` is the single definition of "the prompt a policy sees for a context"; the reward
model, SFT, RL, DPO and the samples raters rank all go through it, so a reward model scores
exactly the text a policy was asked to continue. The padding helpers build the batches every
trainer and sampler feeds a model; ``position_ids`` makes positions skip the padding.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

_TURN = re.compile(r"(?:^|\n\n)(Human|Assistant|User):\s?")


def dialogue_messages(context: str) -> list[dict[str, str]]:
    """An HH-style dialogue ("Human: ...\\n\\nAssistant: ...") as chat messages; else one user message."""
    marks = list(_TURN.finditer(context.strip()))
    if not marks or marks[0].start() != 0:
        return [{"role": "user", "content": context.strip()}]
    text = context.strip()
    messages = []
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        role = "assistant" if mark.group(1) == "Assistant" else "user"
        messages.append({"role": role, "content": text[mark.end() : end].strip()})
    return messages


def format_prompt(tokenizer: PreTrainedTokenizerBase, context: str, chat_template: bool = True) -> str:
    """The text a policy continues for ``context``.

    With a chat template (instruction-tuned models): the dialogue's turns become chat messages
    and the assistant turn is opened (add_generation_prompt). Without one (base models), or with
    ``chat_template=False`` (prompts that are already formatted), the context is used as written,
    HH-style: ``context + "\\n\\nAssistant: "`` unless it already ends that way.
    """
    if chat_template and getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(dialogue_messages(context), tokenize=False, add_generation_prompt=True)
        # tokenize=False renders text; the declared return type also covers the tokenized forms.
        if not isinstance(text, str):
            raise TypeError(f"the chat template rendered {type(text).__name__}, not text")
        return text
    if not chat_template:
        return context
    stripped = context.rstrip()
    return stripped + " " if stripped.endswith("Assistant:") else stripped + "\n\nAssistant: "


def encode_prompt(tokenizer: PreTrainedTokenizerBase, prompt: str, max_tokens: int | None = None) -> list[int]:
    """Token ids of a formatted prompt, cut from the left to ``max_tokens`` (the end is what matters)."""
    # A chat template writes its special tokens as text; adding BOS again would duplicate it.
    has_template = bool(getattr(tokenizer, "chat_template", None))
    ids = tokenizer(prompt, add_special_tokens=not has_template)["input_ids"]
    if max_tokens is not None and len(ids) > max_tokens:
        ids = ids[-max_tokens:]
    return ids


def encode_response(tokenizer: PreTrainedTokenizerBase, response: str, max_tokens: int | None = None) -> list[int]:
    """Token ids of a response followed by EOS (the end of the turn), cut to ``max_tokens``."""
    ids = tokenizer(response, add_special_tokens=False)["input_ids"]
    if max_tokens is not None:
        ids = ids[: max(0, max_tokens - 1)]
    return ids + [tokenizer.eos_token_id]


def count_tokens(tokenizer: PreTrainedTokenizerBase, texts: Sequence[str]) -> list[int]:
    """Tokens of each text as a response (no special tokens, no EOS): the one length unit of the reports.

    Counted from the text, never taken from a sampler's own count, so a sampled response, a
    reference and an imported candidate of the same text always get the same length."""
    if not texts:
        return []
    return [len(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]]


def pad_left(rows: Sequence[Sequence[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded ids and attention mask: every row's last real token sits in the last column."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        if r:
            ids[i, width - len(r) :] = torch.tensor(r)
            mask[i, width - len(r) :] = 1
    return ids.to(device), mask.to(device)


def pad_right(rows: Sequence[Sequence[int]], pad_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, : len(r)] = 1
    return ids.to(device), mask.to(device)


def position_ids(mask: torch.Tensor, offset: torch.Tensor | None = None) -> torch.Tensor:
    """Positions that skip padding (0 at each row's first real token), for any padding side."""
    pos = (mask.long().cumsum(-1) - 1).clamp(min=0)
    return pos if offset is None else pos + offset.unsqueeze(-1)


def eos_ids(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Every token that ends a response, ascending: the tokenizer's EOS and the model's generation EOS(s).

    A list, not a set, so ``[0]`` is a stable pad fallback; membership tests on one or two ids cost nothing.
    """
    found: set[int] = set()
    config = getattr(model, "generation_config", None)
    for source in (getattr(tokenizer, "eos_token_id", None), getattr(config, "eos_token_id", None)):
        if isinstance(source, int):
            found.add(source)
        elif source:
            found.update(int(i) for i in source)
    return sorted(found)


def fitting_chat_prompts(path: str | Path, tokenizer: PreTrainedTokenizerBase, count: int, max_tokens: int, *,
                         fmt: str = "hh", scan: int = 2000) -> list[list[int]]:
    """Token ids of the first ``count`` dialogues of a preference file (among its first ``scan``)
    whose chat prompt fits ``max_tokens``: the real prompts the decoding tests and benchmarks use.
    Raises ValueError naming the file when fewer fit."""
    from itertools import islice

    from pipeline.data import read

    picked = []
    for record in islice(read(path, fmt), scan):
        ids = encode_prompt(tokenizer, format_prompt(tokenizer, record.context))
        if len(ids) <= max_tokens:
            picked.append(ids)
        if len(picked) == count:
            return picked
    raise ValueError(f"{path}: fewer than {count} prompts of <= {max_tokens} tokens in its first {scan} records")
