"""The fused decoder's linear layers: x @ W^T (+ b) for one or more Linear layers stacked along
their outputs, on oneDNN's packed kernel on a CPU, ``addmm`` elsewhere.

Plain torch; no Django. Only ``pipeline.inference.fused`` uses it.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Sequence
from types import ModuleType
from typing import cast

import torch

from pipeline.inference.adapters import LowRank
from pipeline.inference.cblas import BF16_GEMM, Gemm
from pipeline.inference.native import kernel


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
# Rows of the inputs oneDNN's packed weights are laid out for (a decoding batch); see ``Proj``.
PACK_ROWS = 8
# The most rows a product takes on MKL (its packed sgemm, or the bf16 decoder's bf16 GEMM), and
# the rows the sgemm copy is packed for.
# Measured on a 2-core Xeon, one layer's four projections (30 layers' weights cycled): packed
# for 32 rows, MKL took 897/1090/1317/1476 us at 8/16/24/32 rows against oneDNN's
# 1024/1210/1539/1757 (packed for 8 or 16 rows, it lost to oneDNN from 16 or 24 rows); at 40
# rows they were even.
MKL_ROWS = 32
# The most rows a float32 product takes on the native few-row kernel (CPUs but Intel's). Measured
# on a 2-core Zen 4, a step's projections and head (30 layers' weights, so they stream from
# memory): 1.35x / 1.73x / 1.44x / 1.28x less time than oneDNN at 1 / 8 / 16 / 32 rows.
NATIVE_ROWS = 32
# The same for the bf16 decoder's products: it widens each weight in registers, which costs more
# multiply-add time than oneDNN's bf16 kernel past one group of 8 rows. Measured likewise:
# 1.45x less time than oneDNN at 8 rows, 0.84x at 12 and 24, 0.70x at 32.
NATIVE_BF16_ROWS = 8


def _intel_cpu() -> bool:
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
            return "GenuineIntel" in cpuinfo.read(4096)
    except OSError:
        return False


def _mkl_packed_works() -> bool:
    """Whether MKL's packed sgemm is there and, from one packing, gives float32 products for
    any row count (checked once; the op's dense-weight argument is only a shape to it then)."""
    op = getattr(torch.ops.mkl, "_mkl_linear", None)
    if op is None or not torch.backends.mkl.is_available():
        return False
    try:
        w = torch.randn(24, 16, dtype=torch.float64)
        packed = torch.ops.mkl._mkl_reorder_linear_weight(w.float(), MKL_ROWS)
        for rows in (1, 3, PACK_ROWS, MKL_ROWS, 40):
            x = torch.randn(rows, 16, dtype=torch.float64)
            y = op(x.float(), packed, _shape_of(24, 16), None, rows)
            if y.dtype != torch.float32 or not torch.allclose(y.double(), x @ w.T, rtol=1e-5, atol=1e-5):
                return False
        return True
    except RuntimeError:
        return False


def _shape_of(out_features: int, in_features: int) -> torch.Tensor:
    """A [out, in] float32 tensor that holds one number: the weight shape MKL's op reads."""
    return torch.zeros((), dtype=torch.float32).expand(out_features, in_features)


# Decoding steps' products on MKL (Intel CPUs only: there it runs AVX-512 and AMX, on AMD CPUs
# only AVX2): float32 ones on its packed sgemm, the bf16 decoder's on its bf16 GEMM; see ``Proj``.
_INTEL = _intel_cpu()
MKL_FEW_ROWS = _INTEL and _mkl_packed_works()
MKL_BF16 = _INTEL and BF16_GEMM is not None
_PACKING = threading.Lock()


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
    the reorder the kernel otherwise does on every call (measured: ~15 % of a step's matmul time).

    ``few_rows_on_mkl`` (the decoder layers' projections): on Intel CPUs, float32 products of at
    most ``MKL_ROWS`` rows (decoding steps up to batch 32) run on MKL's packed sgemm instead, the
    same numbers as ``F.linear`` there. Measured on a 2-core Xeon: 10-16 % less time than oneDNN
    per projection at 8-32 rows, and ~5 us per call against oneDNN's ~25 us; but oneDNN is as
    fast from 40 rows (prefill, the labeler) and faster for the 49k-row output head, so the MKL
    copy is an extra, packed at the first few-row product (~4 bytes per weight more while the
    decoder lives).

    Float32 weights on other CPUs (AMD's): products of at most ``NATIVE_ROWS`` rows, head included,
    run on the native few-row kernel (``native.few_rows_linear``: oneDNN's kernel there does not
    overlap its multiply-adds with its weight reads) where it is built, from its own copy of the
    weights packed at the first few-row product (~4 bytes per weight more, as MKL's); bias and
    residual are added after the sum, as oneDNN's post-op does. The bf16 decoder's too, up to
    ``NATIVE_BF16_ROWS`` rows (x rounded to bf16, float32 sums and result, as on MKL's bf16 GEMM;
    ~2 bytes per weight more). Intel CPUs
    keep MKL (measured there; the native kernel was not).

    ``dtype=torch.bfloat16`` (the bf16 decoder, head included): on Intel CPUs its products of at
    most ``MKL_ROWS`` rows run on MKL's bf16 GEMM (``cblas``), which returns float32 and adds
    into the residual stream in place; its copy is the plain stacked bf16 weights, made at the
    first few-row product (~2 bytes per weight more). Many-row products stay on oneDNN."""

    def __init__(self, linears: Sequence[torch.nn.Module], rows: torch.Tensor | None = None,
                 dtype: torch.dtype | None = None, few_rows_on_mkl: bool = False):
        weights = [cast(torch.Tensor, m.weight).detach() for m in linears]  # a peft layer's: its base layer's
        biases = [getattr(m, "bias", None) for m in linears]
        self.lora = LowRank.of(linears, rows)  # adapters, read live (``adapters``)
        self.bias = None
        if any(b is not None for b in biases):
            self.bias = torch.cat([w.new_zeros(w.shape[0], dtype=torch.float32) if b is None else b.detach().float() for w, b in zip(weights, biases)])
        if rows is not None:
            self.bias = None if self.bias is None else self.bias.index_select(0, rows)
        weight = _stacked(weights, rows, dtype)
        self.dtype = weight.dtype
        self.exact = weight.dtype == torch.float32
        self.onednn = ONEDNN and weight.device.type == "cpu" and weight.dtype in (torch.float32, torch.bfloat16)
        self.weight = torch.ops.mkldnn._reorder_linear_weight(weight, PACK_ROWS) if self.onednn else weight
        self.mkl = weight.device.type == "cpu" and (
            (few_rows_on_mkl and MKL_FEW_ROWS and self.exact) or (dtype == torch.bfloat16 and MKL_BF16))
        # float32 weights, or the bf16 decoder's (float32 out, as on MKL); not bf16-mlp's, whose
        # products round to bf16 as its Bf16Linear modules' do
        self.native = weight.device.type == "cpu" and (self.exact or dtype == torch.bfloat16) and not _INTEL
        # the layers' own weights (not copies) to pack MKL's or the native copy from when first needed
        self._sources = (weights, rows) if self.mkl or self.native else None
        self._mkl_weight: torch.Tensor | None = None
        self._native_weight: torch.Tensor | None = None
        self._shape = _shape_of(*weight.shape)

    def _few_rows(self, x: torch.Tensor) -> bool:
        return self.mkl and x.shape[0] <= MKL_ROWS

    def _native_rows(self, x: torch.Tensor) -> bool:
        return self.native and x.shape[0] <= (NATIVE_ROWS if self.exact else NATIVE_BF16_ROWS) and kernel() is not None

    def _native_packed(self) -> torch.Tensor:
        if self._native_weight is None:
            with _PACKING:
                if self._native_weight is None and self._sources is not None:
                    weights, rows = self._sources
                    self._native_weight = cast(ModuleType, kernel()).pack_few_rows(_stacked(weights, rows, None if self.exact else self.dtype))
        return cast(torch.Tensor, self._native_weight)

    def _on_native(self, x: torch.Tensor, residual: torch.Tensor | None = None) -> torch.Tensor:
        """(x @ W^T + b) + residual on the native few-row kernel, float32 (x rounded to bf16 first
        for bf16 weights)."""
        x = x.float()  # the bf16 decoder's attention outputs are bf16 (widening is exact)
        return cast(ModuleType, kernel()).few_rows_linear(x, self._native_packed(), self._shape.shape[0], self.bias, residual)

    def _mkl_packed(self) -> torch.Tensor:
        if self._mkl_weight is None:
            with _PACKING:  # parallel streams may reach the first few-row product together
                if self._mkl_weight is None and self._sources is not None:
                    weights, rows = self._sources
                    if self.exact:
                        self._mkl_weight = torch.ops.mkl._mkl_reorder_linear_weight(_stacked(weights, rows, None), MKL_ROWS)
                    else:  # MKL's bf16 GEMM takes the plain layout
                        self._mkl_weight = _stacked(weights, rows, torch.bfloat16)
        return cast(torch.Tensor, self._mkl_weight)

    def on_torch(self) -> Proj:
        """This projection on torch's own kernels (``addmm``), as off the CPU: the same weights,
        unpacked where they were packed for oneDNN (a copy then; shared otherwise)."""
        twin = copy.copy(self)
        twin.onednn = twin.mkl = twin.native = False
        twin.weight = self.weight.to_dense() if self.weight.is_mkldnn else self.weight
        return twin

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """x [M, in] float32 or the weights' dtype -> [M, out] float32."""
        if self._native_rows(x):
            y = self._on_native(x)  # bias included
        else:
            y = self._product(x)
            y = y.float() if self.exact or self.bias is None else y.float().add_(self.bias)
        delta = None if self.lora is None else self.lora(x.float())
        return y if delta is None else y.add_(delta)

    def _product(self, x: torch.Tensor) -> torch.Tensor:
        """x @ W^T in the weights' dtype, or float32 from MKL's bf16 GEMM (with the bias when exact)."""
        if self._few_rows(x) and self.exact:
            return torch.ops.mkl._mkl_linear(x.contiguous(), self._mkl_packed(), self._shape, self.bias, x.shape[0])
        if self._few_rows(x):
            return self._on_mkl_bf16(x, torch.empty(x.shape[0], self._shape.shape[0], device=x.device), accumulate=False)
        if self.exact and self.onednn:
            return torch.ops.mkldnn._linear_pointwise(x.contiguous(), self.weight, self.bias, "none", [], "")
        if self.exact:
            return x @ self.weight.t() if self.bias is None else torch.addmm(self.bias, x, self.weight.t())
        x = x.to(self.dtype).contiguous()
        return torch.ops.mkldnn._linear_pointwise(x, self.weight, None, "none", [], "") if self.onednn else x @ self.weight.t()

    def _on_mkl_bf16(self, x: torch.Tensor, out: torch.Tensor, *, accumulate: bool) -> torch.Tensor:
        """out (+)= x @ W^T on MKL's bf16 GEMM (x rounded to bfloat16; out float32, rows contiguous)."""
        cast(Gemm, BF16_GEMM)(x.to(torch.bfloat16).contiguous(), self._mkl_packed(), out, accumulate)
        return out

    def add_to(self, residual: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """residual + x @ W^T (+ b) (+ the adapters' term), float32; reduced-precision weights
        add into ``residual`` in place (float32 += bfloat16 widens exactly, and saves a copy
        of the product per call)."""
        delta = None if self.lora is None else self.lora(x.float())
        if self._native_rows(x) and self.exact:
            y = self._on_native(x, residual)
        elif self._native_rows(x):  # reduced-precision weights add into the residual in place
            y = residual.copy_(self._on_native(x, residual))
        elif self._few_rows(x) and self.exact:
            y = self._product(x).add_(residual)
        elif self._few_rows(x):  # MKL's bf16 GEMM: float32 products, added into the residual in place
            if residual.dtype == torch.float32 and residual.is_contiguous():
                self._on_mkl_bf16(x, residual, accumulate=True)
            else:
                residual.add_(self._product(x))
            y = residual if self.bias is None else residual.add_(self.bias)
        elif self.exact and self.onednn:
            y = torch.ops.mkldnn._linear_pointwise.binary(x.contiguous(), residual, self.weight, self.bias, "add")
        elif self.exact and self.bias is None:
            y = torch.addmm(residual, x, self.weight.t())
        elif self.exact:
            y = residual + self._product(x)
        else:
            product = self._product(x)
            y = residual.add_(product if self.bias is None else product.float().add_(self.bias))
        return y if delta is None else y.add_(delta)


def _stacked(weights: Sequence[torch.Tensor], rows: torch.Tensor | None, dtype: torch.dtype | None) -> torch.Tensor:
    """The weights stacked along their outputs, outputs reordered by ``rows``, in ``dtype``."""
    weight = weights[0] if len(weights) == 1 else torch.cat(list(weights), dim=0)
    if rows is not None:
        weight = weight.index_select(0, rows)
    return weight.contiguous() if dtype is None else weight.to(dtype).contiguous()
