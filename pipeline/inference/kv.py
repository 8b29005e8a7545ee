"""KV states and row references: the cache one stage of an engine hands to the next.

Shapes: a ``KVState`` holds, per layer, keys and values [rows, kv_heads, length, head_dim]
and a mask [rows, length] (1 = real token). A ``RowRef`` names the first ``length``
positions of one row of a state: the past of a new row in a later forward, gathered into
fresh buffers, so rows of different batches and lengths mix freely. These never leave the
``pipeline.inference`` package.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from transformers import PretrainedConfig
from transformers.cache_utils import DynamicLayer

if TYPE_CHECKING:
    from pipeline.inference.fused import Slabs


class SlabLayer(DynamicLayer):
    """A cache layer over preallocated buffers [rows, kv_heads, capacity, head_dim]: ``update``
    writes the new keys/values in place instead of ``torch.cat``-ing the whole past again, so a
    forward copies nothing it already has and decoding costs no copies at all."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, filled: int):
        super().__init__()
        self.slab_keys, self.slab_values, self.filled = keys, values, filled
        self.dtype, self.device = keys.dtype, keys.device
        self.is_initialized = True
        self._expose()

    def _expose(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Point the layer's keys/values at the filled part; returned too, since the base class
        declares the attributes Optional."""
        keys, values = self.slab_keys[:, :, : self.filled], self.slab_values[:, :, : self.filled]
        self.keys, self.values = keys, values
        return keys, values

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: object,
               **kwargs: object) -> tuple[torch.Tensor, torch.Tensor]:
        n = key_states.shape[-2]
        if self.filled + n > self.slab_keys.shape[-2]:  # out of room: move to a bigger slab
            capacity = self.filled + n + self.slab_keys.shape[-2] // 2
            self.slab_keys = _regrown(self.slab_keys, self.filled, capacity)
            self.slab_values = _regrown(self.slab_values, self.filled, capacity)
        self.slab_keys[:, :, self.filled : self.filled + n] = key_states
        self.slab_values[:, :, self.filled : self.filled + n] = value_states
        self.filled += n
        return self._expose()


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
    lengths: list[int] | None = None  # packed states: row r is real on [0, lengths[r]), no holes

    @property
    def rows(self) -> int:
        return self.mask.shape[0]

    @property
    def length(self) -> int:
        return self.mask.shape[1]

    def refs(self, rows: Sequence[int] | None = None) -> list[RowRef]:
        """References to some rows (all by default), each to the whole row: its real length in a
        packed state, else the padded width (holes are masked)."""
        rows = range(self.rows) if rows is None else rows
        if self.lengths is not None:
            return [RowRef(self, r, self.lengths[r]) for r in rows]
        return [RowRef(self, r, self.length) for r in rows]


@dataclass(frozen=True)
class RowRef:
    """Row ``row`` of ``state``, its first ``length`` positions: a past to gather for a new row."""

    state: KVState
    row: int
    length: int


# What a forward continues from: a whole state (continued in place), rows of earlier states to
# gather, or nothing.
Past = KVState | Sequence[RowRef] | None


def gather(refs: Sequence[RowRef], room: int) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor, int]:
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


def kv_bytes_per_token(config: PretrainedConfig, dtype: torch.dtype) -> int:
    """KV memory of one token of one row over all layers, from a transformers model config
    (an estimate for models whose attention is not the plain multi-head kind)."""
    heads = config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    return 2 * config.num_hidden_layers * kv_heads * head_dim * dtype.itemsize
