"""Running a causal LM fast on batches that share prefixes: KV states, forwards on top of
cached rows, and batch planning.

Shapes: a ``KVState`` holds, per layer, keys and values [rows, kv_heads, length, head_dim]
and a mask [rows, length] (1 = real token). ``BatchRunner.forward`` appends token rows to a
past: either rows of earlier states (``RowRef``s, copied into fresh buffers, each cut to its
real length, so rows of different batches and lengths mix freely) or a state to go on
writing into (decoding). Only the last position's logits are computed unless all are wanted.

Two ways to run, the same function:

  * packed (Llama-style models, ``fused.FusedDecoder``): no padding at all; each row's tokens
    follow its past directly, so a state's rows have no holes (``KVState.lengths``). On a
    CPU the rows of a forward are split over single-core worker threads (``streams``).
  * padded (any other causal LM): the transformers forward on padded rows, left or right,
    with RoPE positions ``cumsum(mask) - 1`` so padding holes between stages shift nothing.
    Its cache layers are ``SlabLayer``s, preallocated with room for the new tokens, so the
    model writes new keys/values in place instead of ``torch.cat``-ing the past every call.

Plain Python + torch + transformers; no Django.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import asdict, dataclass
from typing import Sequence

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from pipeline.labeling.fused import FusedDecoder, Slabs
from pipeline.labeling.precision import Bf16Linear, model_for_precision, non_embedding_params  # noqa: F401 (re-exported)
from pipeline.labeling.streams import Streams, split_rows


@dataclass
class EngineStats:
    """What the engine actually ran through the model, for throughput and FLOP accounting."""

    real_tokens: int = 0  # token positions that were not padding
    padded_tokens: int = 0  # padding positions (waste)
    forward_calls: int = 0
    naive_tokens: int = 0  # tokens the plain way would run for the same answers (no reuse)

    def to_dict(self) -> dict:
        return asdict(self)


# -- KV states -----------------------------------------------------------------------------


class SlabLayer(DynamicLayer):
    """A cache layer over preallocated buffers [rows, kv_heads, capacity, head_dim]: ``update``
    writes the new keys/values in place instead of ``torch.cat``-ing the whole past again, so a
    forward copies nothing it already has and decoding a rationale costs no copies at all."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, filled: int):
        super().__init__()
        self.slab_keys, self.slab_values, self.filled = keys, values, filled
        self.dtype, self.device = keys.dtype, keys.device
        self.is_initialized = True
        self._expose()

    def _expose(self) -> None:
        self.keys = self.slab_keys[:, :, : self.filled]
        self.values = self.slab_values[:, :, : self.filled]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        n = key_states.shape[-2]
        if self.filled + n > self.slab_keys.shape[-2]:  # out of room: move to a bigger slab
            capacity = self.filled + n + self.slab_keys.shape[-2] // 2
            self.slab_keys = _regrown(self.slab_keys, self.filled, capacity)
            self.slab_values = _regrown(self.slab_values, self.filled, capacity)
        self.slab_keys[:, :, self.filled : self.filled + n] = key_states
        self.slab_values[:, :, self.filled : self.filled + n] = value_states
        self.filled += n
        self._expose()
        return self.keys, self.values


def _regrown(slab: torch.Tensor, filled: int, capacity: int) -> torch.Tensor:
    out = slab.new_empty(slab.shape[0], slab.shape[1], capacity, slab.shape[3])
    out[:, :, :filled] = slab[:, :, :filled]
    return out


@dataclass
class KVState:
    """The cache after a forward: per layer keys/values [rows, kv_heads, length, head_dim] (views
    into the layers' slabs), the padding mask [rows, length] (1 = real token), and the cache
    layers themselves (``SlabLayer``s, or the packed path's ``Slabs``), so that a later forward
    can continue writing into them."""

    kv: list[tuple[torch.Tensor, torch.Tensor]]
    mask: torch.Tensor
    layers: list | Slabs | None = None
    lengths: list[int] | None = None  # packed states (fused path): row r is real on [0, lengths[r])

    @property
    def rows(self) -> int:
        return self.mask.shape[0]

    @property
    def length(self) -> int:
        return self.mask.shape[1]

    def refs(self, rows: Sequence[int] | None = None, length: int | Sequence[int] | None = None) -> list["RowRef"]:
        """References to some rows (all by default), each to its first ``length`` positions
        (by default the whole row: its real length in a packed state, else the padded width)."""
        rows = range(self.rows) if rows is None else rows
        if length is None and self.lengths is not None:
            return [RowRef(self, r, self.lengths[r]) for r in rows]
        if length is None or isinstance(length, int):
            return [RowRef(self, r, self.length if length is None else length) for r in rows]
        return [RowRef(self, r, n) for r, n in zip(rows, length)]

    def bytes_per_token(self) -> int:
        """KV memory of one token of one row, over all layers."""
        return sum(k[0, :, :1].numel() * k.element_size() * 2 for k, _ in self.kv)


@dataclass(frozen=True)
class RowRef:
    """Row ``row`` of ``state``, its first ``length`` positions: a past to gather for a new row."""

    state: KVState
    row: int
    length: int


def _gather(refs: Sequence[RowRef], room: int) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor, int]:
    """Copy the referenced rows into fresh buffers [R, kv_heads, P + room, head_dim], P = the
    longest ref; shorter rows are zero-padded on the right (masked, but must not be NaN, since
    0 x NaN would leak through the attention weights). Returns (buffers, mask [R, P], P)."""
    width = max(ref.length for ref in refs)
    template = refs[0].state
    mask = template.mask.new_zeros((len(refs), width))
    buffers = []
    for k0, v0 in template.kv:
        shape = (len(refs), k0.shape[1], width + room, k0.shape[3])
        buffers.append((k0.new_empty(shape), v0.new_empty(shape)))
    for r, ref in enumerate(refs):
        n = ref.length
        mask[r, :n] = ref.state.mask[ref.row, :n]
        for (k, v), (src_k, src_v) in zip(buffers, ref.state.kv):
            k[r, :, :n] = src_k[ref.row, :, :n]
            v[r, :, :n] = src_v[ref.row, :, :n]
            if n < width:
                k[r, :, n:width] = 0
                v[r, :, n:width] = 0
    return buffers, mask, width


def _cache_for(past: KVState | Sequence[RowRef] | None, width: int, reserve: int, config) -> tuple[DynamicCache, torch.Tensor | None]:
    """A DynamicCache holding ``past``, with room for ``width + reserve`` more positions.

    A KVState is continued in place (its slab layers are reused: the state is consumed); a list
    of RowRefs is gathered into new slabs. Models whose cache layers are not plain DynamicLayers
    (sliding windows, ...) get their own layers, filled by ``update``.
    """
    cache = DynamicCache(config=config)
    if past is None:  # a first forward (the head): the plain layers' one cat is the only copy
        return cache, None
    plain = all(type(layer) is DynamicLayer for layer in cache.layers)
    if isinstance(past, KVState):
        if plain and past.layers is not None:
            cache.layers = list(past.layers)
            return cache, past.mask
        past = past.refs()
    buffers, mask, filled = _gather(past, width + reserve if plain else 0)
    for i, (k, v) in enumerate(buffers):
        if plain:
            cache.layers[i] = SlabLayer(k, v, filled)
        else:
            cache.layers[i].update(k, v)
    return cache, mask


# -- forwards ------------------------------------------------------------------------------


class BatchRunner:
    """Runs batches of token rows on a model, on top of cached rows.

    Llama-style models run packed (``fused.FusedDecoder``: no padding, per-row attention over
    real keys only); any other causal LM, or ``packed=False``, runs padded batches through the
    transformers forward. Both compute the same function; a runner sticks to one of them, since
    their states are laid out differently (packed rows have no holes).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        pad_id: int,
        device: torch.device,
        stats: EngineStats | None = None,
        packed: bool = True,
        streams: bool = True,
    ):
        self.model = model
        self.pad_id = pad_id
        self.device = device
        self.stats = stats if stats is not None else EngineStats()
        self.keeps_last = "logits_to_keep" in inspect.signature(model.forward).parameters
        self.fused = FusedDecoder.build(model) if packed else None
        self.streams = streams  # packed forwards split their rows over single-core streams
        self._token_flops = 2 * non_embedding_params(model) if self.fused is not None else 0

    @property
    def pads(self) -> bool:
        """Whether batches are computed padded (the transformers path), for ``plan_batches``."""
        return self.fused is None

    def forward(
        self,
        rows: Sequence[Sequence[int]],
        past: KVState | Sequence[RowRef] | None,
        side: str,
        keep: str = "last",
        reserve: int = 0,
    ) -> tuple[torch.Tensor, KVState]:
        """rows: R token lists, appended to ``past`` (R RowRefs to gather, a KVState of R rows to
        continue in place, or None).

        side "left" pads on the left, so the last column is every row's last real token; "right"
        keeps the real tokens first. keep="last" returns logits [R, V] of each row's last token;
        keep="all" returns [R, L, V], laid out by ``side`` (packed runs pad only this output).
        ``reserve`` leaves room for that many later positions (decoding). The returned state
        covers past + rows.
        """
        if self.fused is not None:
            return self._forward_packed(rows, past, side, keep, reserve)
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        new_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            span = slice(width - len(row), width) if side == "left" else slice(0, len(row))
            ids[i, span] = torch.tensor(row, dtype=torch.long)
            new_mask[i, span] = 1
        ids, new_mask = ids.to(self.device), new_mask.to(self.device)
        cache, past_mask = _cache_for(past, width, reserve, self.model.config)
        mask = new_mask if past_mask is None else torch.cat([past_mask.to(new_mask.dtype), new_mask], dim=1)
        # RoPE positions count real tokens only, so a padding hole does not shift the rest.
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)[:, -width:]
        kwargs = {"logits_to_keep": 1} if keep == "last" and self.keeps_last else {}
        out = self.model(
            input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache, use_cache=True, **kwargs
        )
        real = int(new_mask.sum())
        self.stats.real_tokens += real
        self.stats.padded_tokens += ids.numel() - real
        self.stats.forward_calls += 1
        logits = out.logits[:, -1, :] if keep == "last" else out.logits
        kv = [(layer.keys, layer.values) for layer in cache.layers]
        return logits, KVState(kv, mask, list(cache.layers))

    def _forward_packed(self, rows, past, side, keep, reserve) -> tuple[torch.Tensor, KVState]:
        counts = [len(r) for r in rows]
        slabs = self._slabs_for(past, counts, reserve)
        mode = "last" if keep == "last" else "all"
        streams = Streams.get() if self.device.type == "cpu" and self.streams else None
        parts = [range(len(rows))] if streams is None else split_rows(self._row_costs(counts, slabs.lengths), streams.count)
        if len(parts) == 1:
            logits = self.fused.forward(rows, slabs, keep=mode)
        else:  # row ranges on their own cores, each on a view of its rows of the slabs
            views = [slabs.rows(part) for part in parts]
            tasks = [lambda part=part, view=view: self.fused.forward([rows[i] for i in part], view, keep=mode) for part, view in zip(parts, views)]
            logits = torch.cat(streams.run(tasks), dim=0)
            slabs.lengths = [n for view in views for n in view.lengths]
        if keep != "last":  # [M, V] packed -> [R, L, V] padded on ``side`` (pads are zeros)
            width, packed = max(counts), logits
            logits = packed.new_zeros(len(rows), width, packed.shape[-1])
            start = 0
            for r, n in enumerate(counts):
                logits[r, width - n if side == "left" else 0 :][:n] = packed[start : start + n]
                start += n
        self.stats.real_tokens += sum(counts)
        self.stats.forward_calls += 1
        width = max(slabs.lengths)
        lengths = torch.tensor(slabs.lengths, device=self.device)
        mask = (torch.arange(width, device=self.device)[None, :] < lengths[:, None]).long()
        kv = [(k[:, :, :width], v[:, :, :width]) for k, v in zip(slabs.keys, slabs.values)]
        return logits, KVState(kv, mask, slabs, list(slabs.lengths))

    def _row_costs(self, counts: list[int], lengths: list[int]) -> list[float]:
        """Relative compute of each row: its matmuls (2 x params per token) plus its attention
        (4 x layers x heads x head_dim per query-key pair, which runs ~1.5x slower per FLOP)."""
        f = self.fused
        per_token = self._token_flops
        per_pair = 1.5 * 4 * len(f.layers) * f.heads * f.head_dim
        return [n * (per_token + per_pair * (s + n / 2)) for n, s in zip(counts, lengths)]

    def _slabs_for(self, past, counts: list[int], reserve: int) -> Slabs:
        """Packed slabs holding ``past`` with room for ``counts`` more tokens per row (+ reserve).
        A packed KVState is continued in place (consumed); RowRefs are copied into new slabs."""
        if past is None:
            return self.fused.new_slabs(len(counts), max(counts) + reserve)
        if isinstance(past, KVState) and isinstance(past.layers, Slabs):
            past.layers.ensure(max(n + c for n, c in zip(past.layers.lengths, counts)) + reserve)
            return past.layers
        refs = past.refs() if isinstance(past, KVState) else list(past)
        if len(refs) != len(counts):
            raise ValueError(f"{len(counts)} rows on {len(refs)} past rows")
        capacity = max(ref.length + c for ref, c in zip(refs, counts)) + reserve
        return Slabs.gather([(ref.state.kv, ref.row, ref.length) for ref in refs], capacity)


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


def plan_batches(lengths: Sequence[int], max_rows: int, overhead: int = 64, padded: bool = True) -> list[list[int]]:
    """Split items into batches of similar length, at most ``max_rows`` each, minimising

        sum over batches of (rows x longest) + overhead

    i.e. the padded tokens computed plus a per-forward cost in token-equivalents (small
    forwards use the matrix units less well). Exact DP over the length-sorted items (the best
    split into contiguous runs). Returns lists of indices into ``lengths``.

    ``padded=False`` (a packed runner computes no padding): the fewest forwards, as even in
    rows as possible, still over the length-sorted items (similar rows share a slab width).
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    if not padded:
        count = -(-len(order) // max_rows)
        bounds = [round(k * len(order) / count) for k in range(count + 1)] if order else [0]
        return [order[a:b] for a, b in zip(bounds, bounds[1:])]
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
