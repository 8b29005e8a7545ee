"""A decoding step's attention on the native kernel (``native.decode_attention``, built where a C++
compiler is at hand) gives torch's SDPA numbers over each row's real keys, on strided slabs as the
decoder passes them; and where the native kernels are not built the decoder runs SDPA (and oneDNN
for the few-row products) and decodes the same tokens."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from pipeline.generation import decode_prompts
from pipeline.inference import native
from pipeline.inference.fused import _Queries
from tests.inference.hh_prompts import hh_prompts

built = native.kernel()
needs_kernel = pytest.mark.skipif(built is None, reason="no C++ compiler here: the decoder runs SDPA")


def sdpa_over_real_keys(q, keys, values, lengths, scale):
    """The reference: per row, SDPA over exactly its first lengths[r] keys."""
    out = []
    for r, n in enumerate(lengths.tolist()):
        out.append(F.scaled_dot_product_attention(q[r : r + 1], keys[r : r + 1, :, :n], values[r : r + 1, :, :n], scale=scale))
    return torch.cat(out)


@needs_kernel
@pytest.mark.parametrize("lengths", [[1, 1, 1], [7, 130, 64], [200, 3, 199]])
def test_the_kernel_equals_sdpa_over_each_rows_real_keys(lengths):
    torch.manual_seed(0)
    rows, kv_heads, per_kv, dim, capacity = len(lengths), 3, 3, 64, 256
    slabs = torch.randn(2, rows, kv_heads, capacity, dim)
    keys, values = slabs[0][:, :, : max(lengths)], slabs[1][:, :, : max(lengths)]  # strided views, as the decoder's
    q = torch.randn(rows, kv_heads * per_kv + 2 * kv_heads, dim)[:, : kv_heads * per_kv].reshape(rows, kv_heads, per_kv, dim)
    lengths_t = torch.tensor(lengths)
    out = built.decode_attention(q, keys, values, lengths_t, 0.125)
    assert torch.allclose(out, sdpa_over_real_keys(q, keys, values, lengths_t, 0.125), rtol=1e-5, atol=1e-6)


@needs_kernel
def test_the_kernel_refuses_lengths_beyond_the_slab_and_other_dtypes():
    q, keys = torch.randn(2, 1, 3, 8), torch.randn(2, 1, 5, 8)
    with pytest.raises(RuntimeError, match="lengths must be in"):
        built.decode_attention(q, keys, keys, torch.tensor([5, 6]), 1.0)
    with pytest.raises(RuntimeError, match="float32"):
        built.decode_attention(q.double(), keys, keys, torch.tensor([5, 5]), 1.0)


@needs_kernel
def test_decoding_steps_take_the_kernel_and_prefill_queries_take_sdpa():
    positions = torch.tensor([[4], [9]])
    step = _Queries.build(None, positions, 10, 3, torch.float32, native=True)
    assert step.lengths is not None and step.lengths.tolist() == [5, 10]
    assert _Queries.build(torch.tensor([[3], [7]]), positions, 10, 3, torch.float32, native=True).lengths is None
    assert _Queries.build(None, positions, 10, 3, torch.bfloat16, native=True).lengths is None  # bf16 caches: SDPA
    assert _Queries.build(None, positions, 10, 3, torch.float32, native=False).lengths is None  # the portable twin


@pytest.mark.slow
def test_without_the_kernels_the_decoder_runs_sdpa_and_onednn_and_decodes_the_same_tokens(bundled_lm, hh_path, monkeypatch):
    model, tokenizer = bundled_lm.model, bundled_lm.tokenizer
    prompts = hh_prompts(hh_path, tokenizer, 4)
    ours = decode_prompts(model, tokenizer, prompts, max_new_tokens=24, temperature=0.0).tokens
    monkeypatch.setattr(native, "_BUILT", [None])
    assert _Queries.build(None, torch.tensor([[3]]), 4, 3, torch.float32, native=True).lengths is None
    assert torch.equal(decode_prompts(model, tokenizer, prompts, max_new_tokens=24, temperature=0.0).tokens, ours)


CALLERS_THREADS = """
import torch
from pipeline.inference import native
from pipeline.inference.streams import Streams
torch.set_num_threads(2)
Streams.get().run([lambda: torch.ones(4).sum()] * 2)  # workers set torch's process-wide count to 1
q, keys = torch.randn(2, 1, 3, 8), torch.randn(2, 1, 5, 8)
native.kernel().decode_attention(q, keys, keys, torch.tensor([5, 3]), 1.0)  # its first call here
print(torch.get_num_threads())
"""


@needs_kernel
def test_the_kernels_first_call_after_a_forward_on_streams_leaves_the_callers_threads_alone():
    # A fresh process: the kernel once re-ran torch's per-thread start-up on its first call there,
    # which put the caller on the 1 thread the streams had left as the process-wide count.
    done = subprocess.run([sys.executable, "-c", CALLERS_THREADS], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.stdout.split()[-1] == "2"
