"""The two engines, and ``build_engine``, which picks one for a model.

``PackedEngine``: Llama-style models through ``fused.FusedDecoder``, without any padding. Each
row's tokens follow its past directly, so a state's rows have no holes (``KVState.lengths``)
and every matmul runs on real tokens only. On a CPU the rows of a forward are split over
single-core worker threads (``streams``) and the linears run on oneDNN; on a CUDA device the
decoder runs ``portable()``: torch ops only, one batched attention call per layer.

``PaddedEngine``: any causal LM through its transformers forward, on rows padded left or right;
RoPE positions are ``cumsum(mask) - 1``, so padding holes between stages shift nothing. The
cache layers are ``kv.SlabLayer``s, preallocated with room for the new tokens, so the model
writes new keys/values in place instead of ``torch.cat``-ing the past every call. This is the
fallback for architectures the fused forward does not cover.
"""

from __future__ import annotations

import inspect
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, cast

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from pipeline.inference.api import InferenceEngine, Tokens
from pipeline.inference.fused import FusedDecoder, Slabs
from pipeline.inference.kv import KVState, Past, SlabLayer, gather, kv_bytes_per_token
from pipeline.inference.precision import model_for_precision, non_embedding_params
from pipeline.inference.staged import StagedEngine
from pipeline.inference.streams import Streams, split_rows
from pipeline.tokens import eos_ids

if TYPE_CHECKING:
    from transformers import PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase
    from transformers.cache_utils import CacheLayerMixin


def build_engine(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    *,
    precision: str = "exact",
    packed: bool = True,
    portable: bool | None = None,
    batch_size: int = 8,
    shared_prefix: Tokens = (),
) -> InferenceEngine:
    """An engine over ``model`` computing in ``precision`` (``pipeline.inference.PRECISIONS``, or
    "bf16" of ``DECODE_PRECISIONS``: bfloat16 weights in the packed decoder's own copies, or
    autocast around the padded engine's forward, so nothing cached goes stale as a policy trains).

    ``tokenizer`` gives the pad and end-of-sequence ids only. ``batch_size`` bounds the prefixes
    in one forward; suffix rows take up to twice as many (they are shorter). ``shared_prefix``:
    token ids most prefixes start with (a chat header, instructions, exemplars), computed once
    and kept. ``packed=False`` takes the padded path even where the packed one applies.
    ``portable``: the packed path on torch ops alone (``FusedDecoder.portable``); by default on
    a CUDA device, and forced with True on a CPU (where it computes the same numbers slower).
    """
    bf16 = precision == "bf16"
    model = model if bf16 else model_for_precision(model, precision)
    stop = eos_ids(model, tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(stop) if stop else 0
    # The packed path runs on a CPU (oneDNN, worker streams) and on CUDA (portable); on any other
    # device (whose SDPA and complex RoPE nobody has checked) the padded transformers forward.
    device = next(model.parameters()).device.type
    portable = device == "cuda" if portable is None else portable
    decoder = FusedDecoder.build(model, torch.bfloat16 if bf16 else None) if packed and (device == "cpu" or portable) else None
    if decoder is not None:
        decoder = decoder.portable() if portable else decoder
        return PackedEngine(model, decoder, streams=not portable, stop_ids=stop, batch_size=batch_size,
                            shared_prefix=shared_prefix)
    return PaddedEngine(model, pad, stop_ids=stop, batch_size=batch_size, shared_prefix=shared_prefix,
                        autocast=torch.bfloat16 if bf16 else None)


# -- packed: the fused forward, no padding ---------------------------------------------------

# Relative cost of an attention FLOP against a matmul FLOP when rows are split over streams:
# attention runs in many small per-row kernels, which reach a lower rate than the big matmuls.
ATTENTION_FLOP_COST = 1.5


class PackedEngine(StagedEngine):
    pads = False
    # A decoding step (one token per row) reads every weight for a few rows' work: split over
    # streams, each core reads all the weights; torch's own threads split the weights instead.
    stream_decoding = False

    def __init__(self, model: PreTrainedModel, decoder: FusedDecoder, streams: bool = True, *,
                 stop_ids: Collection[int], batch_size: int, shared_prefix: Tokens):
        super().__init__(model, stop_ids=stop_ids, batch_size=batch_size, shared_prefix=shared_prefix)
        self.fused = decoder
        self.streams = streams  # split a forward's rows over single-core streams (CPU)
        self._token_flops = 2 * non_embedding_params(model)

    def _begin_call(self) -> None:
        self.fused.refresh_adapters()  # a LoRA policy's adapters as they are now, for this call's forwards

    def _kv_bytes_per_token(self) -> int:
        f = self.fused
        return 2 * len(f.layers) * f.kv_heads * f.head_dim * f.dtype.itemsize

    def _forward(self, rows: Sequence[Sequence[int]], past: Past, side: str, keep: str = "last",
                 reserve: int = 0) -> tuple[torch.Tensor, KVState]:
        counts = [len(r) for r in rows]
        slabs = self._slabs_for(past, counts, reserve)
        use_streams = self.streams and (self.stream_decoding or max(counts) > 1)
        streams = Streams.get() if self.device.type == "cpu" and use_streams else None
        parts = [range(len(rows))] if streams is None else split_rows(self._row_costs(counts, slabs.lengths), streams.count)
        if streams is None or len(parts) == 1:  # no streams: parts is the one range
            logits = self.fused.forward(rows, slabs, keep=keep)
        else:  # row ranges on their own cores, each on a view of its rows of the slabs
            views = [slabs.rows(part) for part in parts]
            tasks = [lambda part=part, view=view: self.fused.forward([rows[i] for i in part], view, keep=keep) for part, view in zip(parts, views)]
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
        (4 x layers x heads x head_dim per query-key pair, weighted by ATTENTION_FLOP_COST)."""
        f = self.fused
        per_pair = ATTENTION_FLOP_COST * 4 * len(f.layers) * f.heads * f.head_dim
        return [n * (self._token_flops + per_pair * (s + n / 2)) for n, s in zip(counts, lengths)]

    def _slabs_for(self, past: Past, counts: list[int], reserve: int) -> Slabs:
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


# -- padded: the transformers forward, any causal LM ------------------------------------------


class PaddedEngine(StagedEngine):
    pads = True

    def __init__(self, model: PreTrainedModel, pad_id: int, *, stop_ids: Collection[int], batch_size: int,
                 shared_prefix: Tokens, autocast: torch.dtype | None = None):
        super().__init__(model, stop_ids=stop_ids, batch_size=batch_size, shared_prefix=shared_prefix)
        self.pad_id = pad_id
        self.autocast = autocast  # run the forward under torch.autocast to this dtype (bf16 decoding)
        self.keeps_last = "logits_to_keep" in inspect.signature(model.forward).parameters

    def _kv_bytes_per_token(self) -> int:
        return kv_bytes_per_token(self.model.config, cast(torch.Tensor, self.model.get_input_embeddings().weight).dtype)

    def _forward(self, rows: Sequence[Sequence[int]], past: Past, side: str, keep: str = "last",
                 reserve: int = 0) -> tuple[torch.Tensor, KVState]:
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
        with torch.autocast(self.device.type, dtype=self.autocast or torch.bfloat16, enabled=self.autocast is not None):
            out = self.model(
                input_ids=ids, attention_mask=mask, position_ids=positions, past_key_values=cache, use_cache=True, **kwargs
            )
        real = int(new_mask.sum())
        self.stats.real_tokens += real
        self.stats.padded_tokens += ids.numel() - real
        self.stats.forward_calls += 1
        logits = (out.logits[:, -1, :] if keep == "last" else out.logits).float()
        layers = cast("list[DynamicLayer]", cache.layers)  # attention layers, each filled by this forward
        kv = cast("list[tuple[torch.Tensor, torch.Tensor]]", [(layer.keys, layer.values) for layer in layers])
        return logits, KVState(kv, mask, list(layers))


def _cache_for(past: Past, width: int, reserve: int, config: PretrainedConfig) -> tuple[DynamicCache, torch.Tensor | None]:
    """A DynamicCache holding ``past``, with room for ``width + reserve`` more positions.

    A KVState is continued in place (its slab layers are reused: the state is consumed); a list
    of RowRefs is gathered into new slabs. Models whose cache layers are not plain DynamicLayers
    (sliding windows, ...) get their own layers, filled by ``update``.
    """
    cache = DynamicCache(config=config)
    if past is None:  # a first forward: the plain layers' one cat is the only copy
        return cache, None
    plain = all(type(layer) is DynamicLayer for layer in cache.layers)
    if isinstance(past, KVState):
        if plain and past.layers is not None:
            cache.layers = list(cast("list[DynamicLayer]", past.layers))  # a padded state's SlabLayers
            return cache, past.mask
        past = past.refs()
    buffers, mask, filled = gather(past, width + reserve if plain else 0)
    for i, (k, v) in enumerate(buffers):
        if plain:
            cache.layers[i] = SlabLayer(k, v, filled)
        else:
            cast("CacheLayerMixin", cache.layers[i]).update(k, v)
    return cache, mask
