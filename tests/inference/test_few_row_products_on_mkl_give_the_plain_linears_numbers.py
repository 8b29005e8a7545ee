"""A fused projection's decoding-step products (at most ``MKL_ROWS`` rows), which run on MKL's
packed sgemm on Intel CPUs (on the native few-row kernel elsewhere, where it is built), give the
plain ``F.linear`` numbers of the stacked layers, as its many-row products on oneDNN do; MKL's
copy of the weights is packed only once a few-row product needs it."""

import pytest
import torch
import torch.nn.functional as F

from pipeline.inference import proj
from pipeline.inference.proj import MKL_ROWS, PACK_ROWS, Proj


@pytest.fixture
def layers() -> list[torch.nn.Linear]:
    torch.manual_seed(0)
    return [torch.nn.Linear(48, 40, bias=False), torch.nn.Linear(48, 24, bias=True)]


def plain(layers: list[torch.nn.Linear], x: torch.Tensor) -> torch.Tensor:
    return torch.cat([F.linear(x, layer.weight, layer.bias) for layer in layers], dim=1)


@pytest.mark.parametrize("rows", [1, 3, PACK_ROWS, PACK_ROWS + 1, MKL_ROWS, MKL_ROWS + 1, 64])
def test_products_and_residual_adds_equal_the_plain_linears(layers, rows):
    fused = Proj(layers, few_rows_on_mkl=True)
    x, residual = torch.randn(rows, 48), torch.randn(rows, 64)
    with torch.no_grad():
        expected = plain(layers, x)
        assert torch.allclose(fused(x), expected, rtol=1e-5, atol=1e-5)
        assert torch.allclose(fused.add_to(residual.clone(), x), residual + expected, rtol=1e-5, atol=1e-5)


def test_mkls_copy_is_packed_at_the_first_few_row_product_and_only_on_intel(layers):
    fused = Proj(layers, few_rows_on_mkl=True)
    assert fused.mkl == proj.MKL_FEW_ROWS  # Intel CPUs with MKL; elsewhere oneDNN (or addmm) does every product
    with torch.no_grad():
        fused(torch.randn(MKL_ROWS + 1, 48))
        assert fused._mkl_weight is None  # many rows: oneDNN's copy, no second one made
        fused(torch.randn(MKL_ROWS, 48))
    assert (fused._mkl_weight is not None) == proj.MKL_FEW_ROWS


def test_the_float32_output_head_and_the_portable_twin_stay_off_mkl(layers):
    assert not Proj(layers).mkl  # the head: oneDNN is faster for its ~50k outputs
    assert not Proj(layers, few_rows_on_mkl=True).on_torch().mkl  # the portable twin: torch's kernels only
    assert not Proj(layers, dtype=torch.bfloat16).on_torch().mkl
