"""The fused decoder's linear layers: x @ W^T (+ b) for one or more Linear layers stacked along
their outputs, on oneDNN's packed kernel on a CPU, ``addmm`` elsewhere.

Plain torch; no Django. Only ``pipeline.inference.fused`` uses it.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import cast

import torch

from pipeline.inference.adapters import LowRank


def _onednn_linear_works() -> bool:
    """Whether oneDNN's linear kernel is there, takes packed weights and gives float32 products
    (checked once)."""
    op = getattr(torch.ops.mkldnn, "_linear_pointwise", None)
    if op is None or not torch.backends.mkldnn.is_available():
        return False
    try:
        x, w = torch.randn(8, 16, dtype=torch.float64), torch.randn(4, 16, dtype=torch.float64)
        y = op(x.float(), torch.ops.mkldnn._reorder_linear_weight(w.float(), 8), None, "none", [], "")
        return y.dtype == torch.float32 and bool(torch.allclose(y.double(), x @ w.T, rtol=1e-5, atol=1e-5))
    except RuntimeError:
        return False


ONEDNN = _onednn_linear_works()
# Rows of the inputs the packed weights are laid out for (a decoding batch); see ``Proj``.
PACK_ROWS = 8


class Proj:
    """x @ W^T (+ b) (+ the LoRA adapters' term) for one or more Linear layers stacked along
    their outputs, in the weights' dtype, result float32.

    float32 weights on a CPU: oneDNN's linear kernel (``mkldnn::_linear_pointwise``, the one
    torch's compiler uses), with the residual add fused into it as a post-op. It is plain
    float32 (each product correctly rounded, float32 accumulation), but it runs AVX-512 code
    where MKL's sgemm behind ``torch.matmul`` would not (AMD CPUs). Elsewhere: ``addmm``.
    Reduced-precision weights: x is rounded to the weights' dtype and the product rounded
    back, as the ``Bf16Linear`` modules do, so the bf16-mlp precision computes the same numbers.
    ``rows`` reorders the output features (see ``fused._rope_order``); ``dtype``: the copy's
    weight dtype (bfloat16 for a bf16 decoder), else the layers' own.

    On oneDNN the weight is packed once into the kernel's blocked layout (for ``PACK_ROWS``-row
    inputs; any row count gives the same numbers): a decoding step's few-row matmuls then skip
    the reorder the kernel otherwise does on every call (measured: ~15 % of a step's matmul time)."""

    def __init__(self, linears: Sequence[torch.nn.Module], rows: torch.Tensor | None = None,
                 dtype: torch.dtype | None = None):
        weights = [cast(torch.Tensor, m.weight).detach() for m in linears]  # a peft layer's: its base layer's
        biases = [getattr(m, "bias", None) for m in linears]
        self.lora = LowRank.of(linears, rows)  # adapters, read live (``adapters``)
        weight = weights[0] if len(weights) == 1 else torch.cat(weights, dim=0)
        self.bias = None
        if any(b is not None for b in biases):
            self.bias = torch.cat([w.new_zeros(w.shape[0], dtype=torch.float32) if b is None else b.detach().float() for w, b in zip(weights, biases)])
        if rows is not None:
            weight = weight.index_select(0, rows)
            self.bias = None if self.bias is None else self.bias.index_select(0, rows)
        weight = weight.contiguous() if dtype is None else weight.to(dtype).contiguous()
        self.dtype = weight.dtype
        self.exact = weight.dtype == torch.float32
        self.onednn = ONEDNN and weight.device.type == "cpu" and weight.dtype in (torch.float32, torch.bfloat16)
        self.weight = torch.ops.mkldnn._reorder_linear_weight(weight, PACK_ROWS) if self.onednn else weight

    def on_torch(self) -> Proj:
        """This projection on torch's own kernels (``addmm``), as off the CPU: the same weights,
        unpacked where they were packed for oneDNN (a copy then; shared otherwise)."""
        twin = copy.copy(self)
        twin.onednn = False
        twin.weight = self.weight.to_dense() if self.weight.is_mkldnn else self.weight
        return twin

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """x [M, in] float32 or the weights' dtype -> [M, out] float32."""
        y = self._product(x)
        y = y.float() if self.exact or self.bias is None else y.float().add_(self.bias)
        delta = None if self.lora is None else self.lora(x.float())
        return y if delta is None else y.add_(delta)

    def _product(self, x: torch.Tensor) -> torch.Tensor:
        """x @ W^T in the weights' dtype (with the bias when exact)."""
        if self.exact and self.onednn:
            return torch.ops.mkldnn._linear_pointwise(x.contiguous(), self.weight, self.bias, "none", [], "")
        if self.exact:
            return x @ self.weight.t() if self.bias is None else torch.addmm(self.bias, x, self.weight.t())
        x = x.to(self.dtype).contiguous()
        return torch.ops.mkldnn._linear_pointwise(x, self.weight, None, "none", [], "") if self.onednn else x @ self.weight.t()

    def add_to(self, residual: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """residual + x @ W^T (+ b) (+ the adapters' term), float32; reduced-precision weights
        add into ``residual`` in place (float32 += bfloat16 widens exactly, and saves a copy
        of the product per call)."""
        delta = None if self.lora is None else self.lora(x.float())
        if self.exact and self.onednn:
            y = torch.ops.mkldnn._linear_pointwise.binary(x.contiguous(), residual, self.weight, self.bias, "add")
        elif self.exact and self.bias is None:
            y = torch.addmm(residual, x, self.weight.t())
        elif self.exact:
            y = residual + self._product(x)
        else:
            product = self._product(x)
            y = residual.add_(product if self.bias is None else product.float().add_(self.bias))
        return y if delta is None else y.add_(delta)
