"""The native few-row kernel (``native.few_rows_linear``), which runs a fused projection's products of
at most ``NATIVE_ROWS`` rows (decoding steps) on CPUs other than Intel's where it is built, gives
the float32 products of the plain linears (bias, then the residual, added after the sum; with
bf16 weights, float32 sums of the bf16-rounded products); its copy of the weights is packed only
once a few-row product needs it, bf16-mlp weights and the portable twin stay off it, and bad
operands are refused by name."""

import pytest
import torch

from pipeline.inference import native, proj
from pipeline.inference.proj import NATIVE_ROWS, Proj

built = native.kernel()
needs_kernel = pytest.mark.skipif(built is None, reason="no C++ compiler here: oneDNN does every product")


@pytest.fixture
def layers() -> list[torch.nn.Linear]:
    torch.manual_seed(0)
    return [torch.nn.Linear(48, 40, bias=False), torch.nn.Linear(48, 30, bias=True)]  # 70 outputs: a partial block


@needs_kernel
@pytest.mark.parametrize("rows", [1, 3, 8, 9, 17, 32])
def test_the_kernel_adds_bias_and_residual_to_the_float32_products(rows):
    torch.manual_seed(rows)
    weight, bias = torch.randn(70, 200), torch.randn(70)
    x, residual = torch.randn(rows, 200), torch.randn(rows, 70)
    packed = built.pack_few_rows(weight)
    assert packed.shape == (3, 200, 32)
    exact = x.double() @ weight.double().T
    assert torch.allclose(built.few_rows_linear(x, packed, 70).double(), exact, rtol=1e-5, atol=1e-4)
    both = built.few_rows_linear(x, packed, 70, bias=bias, residual=residual).double()
    assert torch.allclose(both, exact + bias.double() + residual.double(), rtol=1e-5, atol=1e-4)


@needs_kernel
@pytest.mark.parametrize("rows", [1, 8, 11])
def test_with_bf16_weights_the_kernel_sums_the_bf16_rounded_products_in_float32(rows):
    torch.manual_seed(rows)
    weight, x, residual = torch.randn(40, 100).to(torch.bfloat16), torch.randn(rows, 100), torch.randn(rows, 40)
    packed = built.pack_few_rows(weight)
    assert packed.dtype == torch.bfloat16
    out = built.few_rows_linear(x, packed, 40, residual=residual)
    exact = x.to(torch.bfloat16).double() @ weight.double().T + residual.double()  # x rounded too: bf16 operands
    assert out.dtype == torch.float32
    assert torch.allclose(out.double(), exact, rtol=1e-5, atol=1e-4)  # far tighter than a bf16 rounding (~4e-3)


@needs_kernel
def test_the_kernel_refuses_operands_that_do_not_fit():
    packed = built.pack_few_rows(torch.randn(70, 16))
    with pytest.raises(RuntimeError, match="x has 15 features"):
        built.few_rows_linear(torch.randn(2, 15), packed, 70)
    with pytest.raises(RuntimeError, match="N does not match"):
        built.few_rows_linear(torch.randn(2, 16), packed, 100)
    with pytest.raises(RuntimeError, match="float32"):
        built.few_rows_linear(torch.randn(2, 16, dtype=torch.float64), packed, 70)
    with pytest.raises(RuntimeError, match="residual must be"):
        built.few_rows_linear(torch.randn(2, 16), packed, 70, residual=torch.randn(3, 70))


# Proj's few-row products against the plain linears, on whichever kernel runs them here:
# test_few_row_products_on_mkl_give_the_plain_linears_numbers.py.


def test_the_native_copy_is_packed_at_the_first_few_row_product_and_not_on_intel(layers):
    fused = Proj(layers)
    assert fused.native == (not proj._INTEL)  # Intel CPUs keep MKL and oneDNN (measured there)
    with torch.no_grad():
        fused(torch.randn(NATIVE_ROWS + 1, 48))
        assert fused._native_weight is None  # many rows: oneDNN's copy, no second one made
        fused(torch.randn(NATIVE_ROWS, 48))
    assert (fused._native_weight is not None) == (fused.native and built is not None)


def test_bf16_mlp_weights_and_the_portable_twin_stay_off_the_native_kernel(layers):
    assert Proj(layers, dtype=torch.bfloat16).native == (not proj._INTEL)  # the bf16 decoder's: float32 sums
    assert not Proj([layer.to(torch.bfloat16) for layer in layers]).native  # bf16-mlp: products rounded to bf16
    assert not Proj(layers).on_torch().native
    assert not Proj(layers, dtype=torch.bfloat16).on_torch().native
