"""MKL's bfloat16 matrix product, ``cblas_gemm_bf16bf16f32``, called in the MKL that torch links.

C = x @ W^T (+ C): x [M, K] and W [N, K] bfloat16, C [M, N] float32, products accumulated in
float32 and never rounded to bfloat16. torch has no op for it (its bf16 matmuls run on oneDNN and
return bfloat16), but the pinned torch build exports MKL's cblas symbols from libtorch_cpu, so
``ctypes`` reaches it. Why the bf16 decoder wants it (measured on a 2-core Xeon with AMX, the
four projections of 30 layers, 8 rows): 21.3 ms against oneDNN's packed 23.8 ms, 15.8 against
22.5 at one row; and because C is float32 and can be the residual stream (beta = 1), a decoding
step drops the bf16 -> float32 copy of every product and the separate residual add. From ~64 rows
oneDNN is as fast, and from 128 rows faster (42 against 65 ms), so prefill stays there.

``BF16_GEMM`` is None where the symbol is missing or a probe product comes out wrong (another
torch build, a CPU MKL runs no bf16 code on); callers keep oneDNN then. Integer arguments are
passed as 64-bit: right for MKL's LP64 and ILP64 interfaces alike on x86-64, where a 32-bit
parameter reads the low half of its 64-bit register or stack slot.

Plain torch + ctypes; no Django. Only ``pipeline.inference.proj`` uses it.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable

import torch

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112

Gemm = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, bool], None]


def _load() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    path = os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so")
    try:
        fn = ctypes.CDLL(path).cblas_gemm_bf16bf16f32
    except (OSError, AttributeError):
        return None
    i64, ptr, f32 = ctypes.c_int64, ctypes.c_void_p, ctypes.c_float
    fn.restype = None
    fn.argtypes = [i64, i64, i64, i64, i64, i64, f32, ptr, i64, ptr, i64, f32, ptr, i64]
    return fn


def _bound(fn: ctypes._CFuncPtr) -> Gemm:  # type: ignore[name-defined]
    def gemm(x: torch.Tensor, w: torch.Tensor, out: torch.Tensor, accumulate: bool) -> None:
        """out (+)= x @ w^T. x [M, K], w [N, K]: bfloat16, rows contiguous; out [M, N] float32,
        rows contiguous (out.stride(1) == 1); ``accumulate`` adds to what out holds."""
        (m, k), n = x.shape, w.shape[0]
        # a one-row tensor's row stride can be anything (even 1): MKL rejects a leading dimension < K
        lda, ldc = (x.stride(0), out.stride(0)) if m > 1 else (k, n)
        fn(_ROW_MAJOR, _NO_TRANS, _TRANS, m, n, k, 1.0, x.data_ptr(), lda, w.data_ptr(), w.stride(0),
           1.0 if accumulate else 0.0, out.data_ptr(), ldc)

    return gemm


def _works(gemm: Gemm) -> bool:
    """Whether products of a few row counts, fresh and accumulated, match float64 ones."""
    w = torch.randn(40, 24, dtype=torch.float64).to(torch.bfloat16)
    for rows in (1, 3, 8, 40):
        x = torch.randn(rows, 24, dtype=torch.float64).to(torch.bfloat16)
        expected = x.double() @ w.double().T
        out = torch.full((rows, 40), float("nan"))
        gemm(x, w, out, False)
        if not torch.allclose(out.double(), expected, rtol=1e-4, atol=1e-4):
            return False
        gemm(x, w, out, True)
        if not torch.allclose(out.double(), 2 * expected, rtol=1e-4, atol=1e-4):
            return False
    return True


def _checked() -> Gemm | None:
    fn = _load()
    if fn is None or not torch.backends.mkl.is_available():
        return None
    gemm = _bound(fn)
    try:
        return gemm if _works(gemm) else None
    except (RuntimeError, OSError):
        return None


BF16_GEMM: Gemm | None = _checked()
