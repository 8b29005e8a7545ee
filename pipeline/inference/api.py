"""The engine's interface: token id lists in, tensors out.

``engines.build_engine`` returns one: ``PackedEngine`` where the fused forward covers the model
(Llama-style decoders on a CPU or CUDA device), else ``PaddedEngine`` (the transformers forward,
any causal LM). Both compute the same function.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from typing import Protocol

import torch

Tokens = Sequence[int]


@dataclass
class EngineStats:
    """What an engine actually ran through the model, for throughput and FLOP accounting."""

    real_tokens: int = 0  # token positions that were not padding
    padded_tokens: int = 0  # padding positions (waste)
    forward_calls: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


class InferenceEngine(Protocol):
    """Rows of (prefix, suffix) token ids on one model. ``prefix_of[r]`` is the index of row r's
    prefix in ``prefixes``; a prefix is computed once however many rows share it, and rows run
    in length-sorted batches. Results come back in row order.

    A suffix may be empty (the row is its prefix alone; its prefix then needs >= 2 tokens).
    Everything runs under ``torch.inference_mode``: no gradients.
    """

    stats: EngineStats
    stop_ids: set[int]  # the model's end-of-sequence ids, where decoding stops by default

    def last_logits(self, prefixes: Sequence[Tokens], suffixes: Sequence[Tokens], prefix_of: Sequence[int]) -> torch.Tensor:
        """Logits [R, V] (float32) at the last token of each row."""
        ...

    def token_logprobs(self, prefixes: Sequence[Tokens], continuations: Sequence[Tokens], prefix_of: Sequence[int],
                       *, temperature: float = 1.0) -> list[torch.Tensor]:
        """Per row, log P(c_t | prefix, c_<t) for every token c_t of its continuation: a float32
        tensor [len(continuation)], from the softmax of logits / ``temperature`` (the
        distribution a sampler at that temperature draws from). Every prefix needs >= 2 tokens."""
        ...

    def decode(
        self,
        prefixes: Sequence[Tokens],
        suffixes: Sequence[Tokens],
        prefix_of: Sequence[int],
        max_new_tokens: int,
        *,
        n: int = 1,
        temperature: float = 0.0,
        seeds: Sequence[int] | None = None,
        stop_ids: Collection[int] | None = None,
        min_new_tokens: int = 0,
        keep_stop: bool = False,
    ) -> list[list[int]]:
        """n continuations of every row, up to ``max_new_tokens`` each or a stop id (kept at the
        end of its continuation with ``keep_stop``, else dropped): row r's j-th is item r * n + j.
        Stop ids are forbidden before ``min_new_tokens`` tokens. temperature 0 is greedy; above 0
        samples (``sampling.pick_tokens``), with ``seeds[r * n + j]`` fixing continuation
        r * n + j whatever its batch."""
        ...

    def plan_groups(self, prefix_lengths: Sequence[int]) -> list[list[int]]:
        """Groups of prefixes (indices, ascending lengths) whose caches fit the engine's memory
        together. A caller that runs several calls on the same prefixes sends one group per
        call, so the later calls find them cached; larger calls are split inside."""
        ...

    def release(self) -> None:
        """Drop the cached prefixes of the latest call (the shared prefix stays)."""
        ...
