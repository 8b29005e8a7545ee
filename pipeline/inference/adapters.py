"""LoRA adapters beside the fused decoder's packed base weights, read live from the peft model.

Why: an RL policy is a frozen base plus LoRA adapters that change at every optimizer step. The
fused decoder holds packed copies of the weights; rebuilding them from merged weights at every
step cost seconds on a CPU (allocating, faulting in and packing ~0.5 GB, besides peft's merge
and the exact restore of the base). The base never changes, so the decoder keeps it and adds
each adapted projection's low-rank term on the fly::

    y = x W^T + sum_a s_a (x A_a^T) B_a^T        (a: the layer's active adapters, s_a = alpha / r)

the sum peft's unmerged forward computes. Per projection the term is two small matmuls (rank r,
~16): a few per cent of a decoding step. The stacked A's and scaled, block-diagonal B's of a
fused projection (q|k|v in RoPE order, say) are prepared once per adapter update (their
tensors' in-place versions say when), checked once per engine call, not per step.

Supported: peft ``lora.Linear`` layers without a variant (DoRA and the like), without
``fan_in_fan_out`` and with no dropout (``supported`` says no otherwise, and the caller decodes
with the plain transformers forward). A merged layer has its term in the base weight already
(the decoder's copy is rebuilt when weights change), and a layer whose adapters are disabled has
none: both are read at the start of each engine call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


def is_adapted(module: torch.nn.Module) -> bool:
    """Whether ``module`` is a peft LoRA layer (a Linear with adapters beside its base layer)."""
    return hasattr(module, "lora_A") and hasattr(module, "base_layer")


def supported(module: Any) -> bool:
    """Whether this decoder computes the adapted layer's term exactly as peft's forward does."""
    if not is_adapted(module):
        return True
    if type(module).__name__ != "Linear" or getattr(module, "fan_in_fan_out", False) or getattr(module, "lora_variant", {}):
        return False
    return all(type(module.lora_dropout[name]).__name__ == "Identity" for name in module.lora_A)


class LowRank:
    """The adapters of one fused projection: ``linears`` stacked along their outputs, the outputs
    reordered by ``rows``. ``LowRank.of`` is None when none of the linears is adapted."""

    def __init__(self, linears: Sequence[Any], rows: torch.Tensor | None):
        self.linears = list(linears)  # Linear or peft layers, their adapter attributes read by name
        self.outs = [int(m.get_base_layer().weight.shape[0]) if is_adapted(m) else int(m.weight.shape[0]) for m in linears]
        self.rows = rows
        self._stamp: tuple | None = None
        self._prepared: tuple[torch.Tensor, torch.Tensor] | None = None

    @classmethod
    def of(cls, linears: Sequence[Any], rows: torch.Tensor | None) -> LowRank | None:
        return cls(linears, rows) if any(is_adapted(m) for m in linears) else None

    def _active(self) -> list[tuple[int, Any, Any, float]]:
        """(index of the linear, A, B, scaling) of every adapter whose term is not in the weights."""
        terms = []
        for j, m in enumerate(self.linears):
            if not is_adapted(m) or m.disable_adapters or m.merged:
                continue
            for name in m.active_adapters:
                if name in m.lora_A:
                    terms.append((j, m.lora_A[name], m.lora_B[name], float(m.scaling[name])))
        return terms

    def refresh(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Read the adapters as they are now: (A [R, in] stacked, B [out, R] block-diagonal,
        scaled, rows reordered), or None when no term applies; made again only when an
        adapter's weights or the layers' state changed. The decoder calls it once per engine
        call (``FusedDecoder.refresh_adapters``), not per forward: reading peft's state for
        every projection of every decoding step cost ~3.5 ms a step."""
        terms = self._active()
        stamp = tuple((j, id(a.weight), a.weight._version, id(b.weight), b.weight._version, s) for j, a, b, s in terms)
        if stamp != self._stamp:
            self._stamp, self._prepared = stamp, self._prepare(terms) if terms else None
        return self._prepared

    def _prepare(self, terms: list[tuple[int, Any, Any, float]]) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            a = torch.cat([t[1].weight.detach().float() for t in terms])
            starts = [sum(self.outs[:j]) for j in range(len(self.outs))]
            b = a.new_zeros(sum(self.outs), a.shape[0])
            col = 0
            for j, _, lora_b, scaling in terms:
                rank = int(lora_b.weight.shape[1])
                b[starts[j] : starts[j] + self.outs[j], col : col + rank] = lora_b.weight.detach().float() * scaling
                col += rank
            if self.rows is not None:
                b = b.index_select(0, self.rows)
            return a.contiguous(), b.contiguous()

    def __call__(self, x: torch.Tensor) -> torch.Tensor | None:
        """The summed low-rank terms for float32 input rows x [M, in] -> [M, out], or None, as
        the adapters were at the last ``refresh``."""
        prepared = self._prepared
        if prepared is None:
            return None
        a, b = prepared
        return (x @ a.t()) @ b.t()
