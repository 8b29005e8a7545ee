"""The bf16 decoder's projections (``Proj(dtype=torch.bfloat16)``) run their decoding-step
products (at most ``MKL_ROWS`` rows) on MKL's bf16 GEMM on Intel CPUs, and on the native few-row
kernel elsewhere where it is built: operands rounded to bfloat16, products summed in float32 and
returned in float32 (never rounded to bfloat16), and added into the residual stream in place;
many-row products stay on oneDNN."""

import pytest
import torch

from pipeline.inference import cblas, native, proj
from pipeline.inference.proj import MKL_ROWS, NATIVE_BF16_ROWS, Proj


@pytest.fixture
def layers() -> list[torch.nn.Linear]:
    torch.manual_seed(0)
    return [torch.nn.Linear(48, 40, bias=False), torch.nn.Linear(48, 24, bias=True)]


def rounded(layers: list[torch.nn.Linear], x: torch.Tensor) -> torch.Tensor:
    """x W^T + b in float64 from the bf16-rounded x and W: what a float32 sum of bf16 products approximates."""
    w = torch.cat([layer.weight for layer in layers]).to(torch.bfloat16).double()
    b = torch.cat([torch.zeros(40), layers[1].bias]).double()
    return x.to(torch.bfloat16).double() @ w.T + b


def float32_sums(fused: Proj, rows: int) -> bool:
    """Whether a product of this many rows runs on MKL's bf16 GEMM or the native kernel."""
    return (fused.mkl and rows <= MKL_ROWS) or (fused.native and rows <= NATIVE_BF16_ROWS and native.kernel() is not None)


@pytest.mark.parametrize("rows", [1, 3, NATIVE_BF16_ROWS, NATIVE_BF16_ROWS + 1, MKL_ROWS, MKL_ROWS + 1])
def test_products_and_residual_adds_are_float32_sums_of_the_rounded_operands(layers, rows):
    fused = Proj(layers, dtype=torch.bfloat16)
    x, residual = torch.randn(rows, 48), torch.randn(rows, 64)
    with torch.no_grad():
        expected = rounded(layers, x)
        product = fused(x)
        assert product.dtype == torch.float32
        added = fused.add_to(residual.clone(), x)
    if float32_sums(fused, rows):  # float32 sums: far tighter than a bf16 rounding of the result (~4e-3)
        assert torch.allclose(product.double(), expected, rtol=1e-5, atol=1e-5)
        assert torch.allclose(added.double(), residual.double() + expected, rtol=1e-5, atol=1e-5)
    else:  # oneDNN rounds each product to bfloat16
        assert torch.allclose(product.double(), expected, rtol=1e-2, atol=1e-2)
        assert torch.allclose(added.double(), residual.double() + expected, rtol=1e-2, atol=1e-2)


def test_the_residual_is_added_into_in_place_strided_or_not(layers):
    fused = Proj(layers, dtype=torch.bfloat16)
    x = torch.randn(4, 48)
    for residual in (torch.randn(4, 64), torch.randn(64, 4).T):
        before = residual.clone()
        with torch.no_grad():
            out = fused.add_to(residual, x)
        assert out.data_ptr() == residual.data_ptr()
        tolerance = 1e-5 if float32_sums(fused, 4) else 1e-2  # oneDNN rounds each product to bfloat16
        assert torch.allclose(out.double(), before.double() + rounded(layers, x), rtol=tolerance, atol=tolerance)


def test_mkls_bf16_copy_is_made_at_the_first_few_row_product_and_only_on_intel(layers):
    fused = Proj(layers, dtype=torch.bfloat16)
    assert fused.mkl == proj.MKL_BF16
    assert proj.MKL_BF16 == (proj._INTEL and cblas.BF16_GEMM is not None)
    with torch.no_grad():
        fused(torch.randn(MKL_ROWS + 1, 48))
        assert fused._mkl_weight is None
        fused(torch.randn(2, 48))
    if proj.MKL_BF16:
        assert fused._mkl_weight is not None and fused._mkl_weight.dtype == torch.bfloat16


def test_the_gemm_accepts_one_row_whatever_its_stride():
    if cblas.BF16_GEMM is None:
        pytest.skip("MKL's bf16 GEMM is not reachable in this torch build")
    w = torch.randn(16, 8).to(torch.bfloat16)
    x = torch.randn(8, 1).to(torch.bfloat16).T  # one row, row stride 1
    out = torch.zeros(16, 1).T
    cblas.BF16_GEMM(x, w, out, False)
    assert torch.allclose(out.double(), x.double() @ w.double().T, rtol=1e-5, atol=1e-5)
