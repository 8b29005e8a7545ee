"""Training passes (and reward-model scoring) whose linear layers run on oneDNN's float32 kernel (CPU).

    with linears_on_onednn(device):
        loss = loss_of(model(...))   # the forward here; its backward may run anywhere later
    loss.backward()

Why: torch's float32 matmul on a CPU goes to MKL, which runs only its AVX2 code on AMD CPUs,
while oneDNN's linear kernel (``mkldnn::_linear_pointwise``, the one ``pipeline.inference``
decodes with) runs AVX-512 there. Inside the block every ``F.linear`` on float32 CPU tensors
(a transformers model's projections and output head, peft's LoRA A and B) becomes
``_Linear``: x W^T forward, and backward dY W for the input and dY^T x for a trainable weight,
all three oneDNN products, the transposes read as strided views (no copies of the weights,
nothing cached that could go stale). With LoRA (the default on a CPU) the base weights and the
head are frozen, so their backward is the input's gradient only.

Measured on a 2-core AMD EPYC at 784 rows, the bundled model's shapes: oneDNN took 0.40-0.47x
MKL's time for the big products (q/k/v/o, gate/up, down, the 49k-row head; forward, input and
weight gradients alike) and 0.25-0.9x for rank-8 LoRA products (one exception: the weight
gradient of a 576x8 B, 1.35x); ``bench/onednn_linear.py`` prints the ratio of an RL step's
policy and value passes on the machine it runs on. Intel CPUs run AVX-512 in both libraries;
on a 2-core Xeon oneDNN's linear was as fast as MKL's from 40 rows (``inference.proj``).

The numbers are plain float32 products (float32 accumulation, another summation order than
MKL's): the RL log-probs agree with the plain forward within 1e-4 (largest seen 8.6e-5), and
a LoRA policy's gradients came out closer to a float64 pass's (~1e-5 relative) than MKL's
(4-8e-5). Off the CPU, or in other dtypes, the block changes nothing. Plain torch; no Django.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from pipeline.inference.proj import ONEDNN


def _product(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """x [..., in] @ weight^T (+ bias) on oneDNN; ``weight`` [out, in], contiguous or a transpose."""
    flat = x.reshape(-1, x.shape[-1]).contiguous()
    y = torch.ops.mkldnn._linear_pointwise(flat, weight, bias, "none", [], "")
    return y.view(*x.shape[:-1], weight.shape[0])


class _Linear(torch.autograd.Function):
    """y = x W^T + b. Backward: dx = dY W, dW = dY^T x, db = Σ_rows dY, each only where needed."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        # x is kept only for a trainable weight's gradient (a frozen layer keeps no activations)
        ctx.save_for_backward(weight, x if weight.requires_grad else None)
        return _product(x, weight, bias)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        weight, x = ctx.saved_tensors
        want_x, want_w, want_b = ctx.needs_input_grad
        rows = grad.reshape(-1, grad.shape[-1])
        dx = _product(grad, weight.t()) if want_x else None
        # dY^T x: dY^T [out, rows] as the input, x read transposed [in, rows] as the weight
        dw = _product(rows.t(), x.reshape(-1, x.shape[-1]).t()) if want_w else None
        db = rows.sum(0) if want_b else None
        return dx, dw, db


def _linear_args(input: Any, weight: Any, bias: Any = None) -> tuple[Any, Any, Any]:
    """F.linear's arguments, however they were passed."""
    return input, weight, bias


def _on_cpu_float32(x: Any, weight: Any, bias: Any) -> bool:
    tensors = (x, weight) if bias is None else (x, weight, bias)
    return (all(isinstance(t, torch.Tensor) and t.device.type == "cpu" and t.dtype == torch.float32 and not t.is_mkldnn
                for t in tensors) and weight.dim() == 2 and x.dim() >= 1)


class _LinearsOnOneDnn(TorchFunctionMode):
    """Routes ``F.linear`` calls on float32 CPU tensors to ``_Linear``."""

    def __torch_function__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        kwargs = kwargs or {}
        if func is F.linear:
            x, weight, bias = _linear_args(*args, **kwargs)
            if _on_cpu_float32(x, weight, bias):
                return _Linear.apply(x, weight, bias)
        return func(*args, **kwargs)


def _strided_weights_work() -> bool:
    """Whether oneDNN takes transposed (strided) operands and gives float32 products (checked once)."""
    if not ONEDNN:
        return False
    try:
        x, w = torch.randn(5, 7, dtype=torch.float64), torch.randn(7, 3, dtype=torch.float64)
        y = _product(x.float(), w.float().t())  # x @ w, through w.t() as the weight
        return y.dtype == torch.float32 and bool(torch.allclose(y.double(), x @ w, rtol=1e-5, atol=1e-5))
    except RuntimeError:
        return False


ROUTED = _strided_weights_work()


@contextlib.contextmanager
def linears_on_onednn(device: torch.device | str = "cpu") -> Iterator[None]:
    """Within the block, ``F.linear`` on float32 CPU tensors runs on oneDNN, and so does its
    backward wherever that runs later. ``device``: where the model runs; off the CPU, or
    without oneDNN, the block changes nothing (and adds no per-op Python hook to GPU work)."""
    if not ROUTED or torch.device(device).type != "cpu":
        yield
        return
    with _LinearsOnOneDnn():
        yield
