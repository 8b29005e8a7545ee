"""Running a causal LM fast on batches that share prefixes: KV states, padded forwards,
batch planning, and the reduced-precision copy of a model.

Shapes: a ``KVState`` holds, per layer, keys and values [rows, kv_heads, length, head_dim]
and a padding mask [rows, length] (1 = real token). ``BatchRunner.forward`` appends token rows
to a state: it pads them (left or right), computes RoPE positions as ``cumsum(mask) - 1`` so
padding holes between stages shift nothing, and asks the model for the last position's logits
only (``logits_to_keep=1``) unless every position is wanted.

Plain Python + torch + transformers; no Django.
"""

from __future__ import annotations

import copy
import inspect
import math
import weakref
from dataclasses import asdict, dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer


@dataclass
class EngineStats:
    """What the engine actually ran through the model, for throughput and FLOP accounting."""

    real_tokens: int = 0  # token positions that were not padding
    padded_tokens: int = 0  # padding positions (waste)
    forward_calls: int = 0
    naive_tokens: int = 0  # tokens the plain way would run for the same answers (no reuse)

    def to_dict(self) -> dict:
        return asdict(self)


# -- precision -----------------------------------------------------------------------------


class Bf16Linear(torch.nn.Module):
    """y = x W^T + b with W and x rounded to bfloat16 (fp32 accumulation in the matmul kernel),
    y returned in x's dtype. The residual stream, norms, RoPE and attention stay float32, so
    rounding errors do not compound through the layers the way they do in a pure-bf16 model."""

    def __init__(self, linear: torch.nn.Linear):
        super().__init__()
        self.weight = torch.nn.Parameter(linear.weight.detach().to(torch.bfloat16), requires_grad=False)
        self.bias = None if linear.bias is None else torch.nn.Parameter(linear.bias.detach().float(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.linear(x.to(torch.bfloat16), self.weight).to(x.dtype)
        return y if self.bias is None else y + self.bias


_CONVERTED: "weakref.WeakKeyDictionary[torch.nn.Module, dict]" = weakref.WeakKeyDictionary()


def model_for_precision(lm, precision: str) -> torch.nn.Module:
    """The model to compute with: "exact" = float32 everywhere (the model itself when it was
    loaded in float32); "fast" = a float32 copy whose inner Linear layers are ``Bf16Linear``.

    Measured on the 2-core CPU (avx512_bf16): the "fast" copy runs ~2.5x the float32 forward
    and picks the same candidate as exact on >= 97 % of HH pairs; a pure-bfloat16 model was
    no faster there and agreed on only ~83 % (its soft labels sit too close to 0.5 for
    bf16's 8-bit mantissa through 30 layers). Copies are made once per (model, precision).
    """
    if precision not in ("exact", "fast"):
        raise ValueError(f"unknown precision {precision!r}")
    model = lm.model
    if precision == "exact" and next(model.parameters()).dtype == torch.float32:
        return model
    copies = _CONVERTED.setdefault(model, {})
    if precision not in copies:
        converted = copy.deepcopy(model).float().eval()
        if precision == "fast":
            head = converted.get_output_embeddings()
            for module in list(converted.modules()):
                for name, child in list(module.named_children()):
                    # The output head stays float32: it runs on one position per row only.
                    if isinstance(child, torch.nn.Linear) and child is not head:
                        setattr(module, name, Bf16Linear(child))
        copies[precision] = converted
    return copies[precision]


def non_embedding_params(model: torch.nn.Module) -> int:
    """Parameters outside the input embedding (a tied output head is the embedding, not counted)."""
    embed = model.get_input_embeddings().weight
    return sum(p.numel() for p in model.parameters() if p is not embed)


# -- KV states -----------------------------------------------------------------------------


@dataclass
class KVState:
    """Cached keys/values of ``rows`` sequences and their padding mask (see module docstring)."""

    kv: list[tuple[torch.Tensor, torch.Tensor]]
    mask: torch.Tensor

    @property
    def rows(self) -> int:
        return self.mask.shape[0]

    def take(self, index: torch.Tensor, length: int | None = None) -> "KVState":
        """Rows ``index`` (repeats allowed) and the first ``length`` positions, copied once."""
        cut = slice(None) if length is None else slice(0, length)
        return KVState([(k[:, :, cut][index], v[:, :, cut][index]) for k, v in self.kv], self.mask[:, cut][index])

    def repeat(self, rows: int) -> "KVState":
        """A one-row state seen as ``rows`` rows without copying (the next forward's cat copies)."""
        kv = [(k.expand(rows, -1, -1, -1), v.expand(rows, -1, -1, -1)) for k, v in self.kv]
        return KVState(kv, self.mask.expand(rows, -1))

    @staticmethod
    def stack(states: list["KVState"]) -> "KVState":
        """The rows of several states in one; shorter ones are padded on the right (mask 0)."""
        width = max(s.mask.shape[1] for s in states)
        rows = sum(s.rows for s in states)

        def stacked(tensors: list[torch.Tensor], dim: int) -> torch.Tensor:
            shape = list(tensors[0].shape)
            shape[0], shape[dim] = rows, width
            out = tensors[0].new_zeros(shape)
            r = 0
            for t in tensors:
                out.narrow(0, r, t.shape[0]).narrow(dim, 0, t.shape[dim]).copy_(t)
                r += t.shape[0]
            return out

        kv = [
            (stacked([s.kv[i][0] for s in states], 2), stacked([s.kv[i][1] for s in states], 2))
            for i in range(len(states[0].kv))
        ]
        return KVState(kv, stacked([s.mask for s in states], 1))

    def bytes_per_token(self) -> int:
        """KV memory of one token of one row, over all layers."""
        return sum(k[0, :, :1].numel() * k.element_size() * 2 for k, _ in self.kv)


def _to_cache(state: KVState | None, config) -> DynamicCache:
    """A DynamicCache over ``state``'s tensors, shared rather than copied (the cache's own
    ``torch.cat`` in the next forward is then the only copy)."""
    cache = DynamicCache(config=config)
    if state is None:
        return cache
    for layer, (k, v) in zip(cache.layers, state.kv):
        if type(layer) is DynamicLayer:
            layer.lazy_initialization(k, v)
            layer.keys, layer.values = k, v
        else:  # other layer kinds (sliding windows, ...) keep their own bookkeeping
            layer.update(k.contiguous(), v.contiguous())
    return cache


# -- forwards ------------------------------------------------------------------------------


class BatchRunner:
    """Runs padded batches of token rows on a model, on top of a KVState."""

    def __init__(self, model: torch.nn.Module, pad_id: int, device: torch.device, stats: EngineStats | None = None):
        self.model = model
        self.pad_id = pad_id
        self.device = device
        self.stats = stats if stats is not None else EngineStats()
        self.keeps_last = "logits_to_keep" in inspect.signature(model.forward).parameters

    def forward(
        self, rows: Sequence[Sequence[int]], past: KVState | None, side: str, keep: str = "last"
    ) -> tuple[torch.Tensor, KVState]:
        """rows: R token lists; past: a state with R rows, or None.

        side "left" pads on the left, so the last column is every row's last real token; "right"
        keeps the real tokens first. keep="last" returns logits [R, V] of the last column;
        keep="all" returns [R, L, V]. The returned state covers past + rows.
        """
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        new_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            span = slice(width - len(row), width) if side == "left" else slice(0, len(row))
            ids[i, span] = torch.tensor(row, dtype=torch.long)
            new_mask[i, span] = 1
        ids, new_mask = ids.to(self.device), new_mask.to(self.device)
        mask = new_mask if past is None else torch.cat([past.mask, new_mask], dim=1)
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)[:, -width:]
        cache = _to_cache(past, self.model.config)
        kwargs = {"logits_to_keep": 1} if keep == "last" and self.keeps_last else {}
        out = self.model(
            input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache, use_cache=True, **kwargs
        )
        real = int(new_mask.sum())
        self.stats.real_tokens += real
        self.stats.padded_tokens += ids.numel() - real
        self.stats.forward_calls += 1
        logits = out.logits[:, -1, :] if keep == "last" else out.logits
        return logits, KVState([(layer.keys, layer.values) for layer in cache.layers], mask)


class HeadCache:
    """Stage G: the token prefix every prompt of a run starts with, computed once and kept."""

    def __init__(self, runner: BatchRunner, head_ids: list[int]):
        self.runner = runner
        self.head_ids = head_ids
        self._cached: tuple[tuple[int, ...], KVState] | None = None

    def get(self, prompts: Sequence[Sequence[int]]) -> tuple[int, KVState]:
        """(n, state): the first n tokens, common to the head and every prompt, as a 1-row state.

        n leaves at least one token of every prompt to run after it.
        """
        n = min(lcp(self.head_ids, p) for p in prompts)
        n = min(n, min(len(p) for p in prompts) - 1)
        if n < 1:
            raise ValueError("the prompts share no leading token with the head; cannot cache it")
        key = tuple(self.head_ids[:n])
        if self._cached is None or self._cached[0] != key:
            self._cached = (key, self.runner.forward([list(key)], None, side="right")[1])
        return n, self._cached[1]


def lcp(*seqs: Sequence[int]) -> int:
    """Length of the longest common prefix of token sequences."""
    n = min(len(s) for s in seqs)
    for i in range(n):
        first = seqs[0][i]
        if any(s[i] != first for s in seqs[1:]):
            return i
    return n


def plan_batches(lengths: Sequence[int], max_rows: int, overhead: int = 64) -> list[list[int]]:
    """Split items into batches of similar length, at most ``max_rows`` each, minimising

        sum over batches of (rows x longest) + overhead

    i.e. the padded tokens computed plus a per-forward cost in token-equivalents (small
    forwards use the matrix units less well). Exact DP over the length-sorted items (the best
    split into contiguous runs). Returns lists of indices into ``lengths``.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    xs = [lengths[i] for i in order]
    best = [0.0] + [math.inf] * len(xs)
    cut = [0] * (len(xs) + 1)
    for j in range(1, len(xs) + 1):
        for i in range(max(0, j - max_rows), j):
            cost = best[i] + (j - i) * xs[j - 1] + overhead
            if cost < best[j]:
                best[j], cut[j] = cost, i
    batches, j = [], len(xs)
    while j > 0:
        batches.append(order[cut[j] : j])
        j = cut[j]
    return batches[::-1]


def pad_token_id(tokenizer, eos: set[int]) -> int:
    if tokenizer.pad_token_id is not None:
        return tokenizer.pad_token_id
    return min(eos) if eos else 0


def eos_ids(model: torch.nn.Module, tokenizer) -> set[int]:
    """Every id that ends a generation: the tokenizer's EOS and the model's generation config's."""
    ids: set[int] = set()
    config = getattr(model, "generation_config", None)
    for source in (getattr(tokenizer, "eos_token_id", None), getattr(config, "eos_token_id", None)):
        if isinstance(source, int):
            ids.add(source)
        elif source:
            ids.update(int(i) for i in source)
    return ids
