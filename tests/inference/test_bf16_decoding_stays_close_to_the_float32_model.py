"""Decoding in bf16 (``precision="bf16"``: RL rollouts with ``rollout_precision="bf16"``) runs
every matmul on bfloat16 weights and keeps the rest float32: on real HH prompts its next-token
distributions stay close to the float32 model's, on the packed engine (the decoder's own bf16
copies, on oneDNN or on torch ops as on a GPU) and on the padded one (autocast), and the float32
decoder it sits beside is untouched."""

from pathlib import Path

import pytest
import torch

from pipeline.generation import decode_prompts
from pipeline.inference.engines import build_engine
from tests.inference.hh_prompts import hh_prompts

pytestmark = pytest.mark.slow

HH = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "hh-rlhf" / "harmless-base-test.dev.jsonl.gz"


@pytest.fixture(scope="module")
def prompts(bundled_lm):
    return hh_prompts(HH, bundled_lm.tokenizer, 6)


def plain_next(lm, ids: list[int]) -> torch.Tensor:
    with torch.inference_mode():
        return torch.log_softmax(lm.model(input_ids=torch.tensor([ids]), use_cache=False).logits[0, -1].double(), -1)


@pytest.mark.parametrize("packed,portable", [(True, False), (True, True), (False, False)], ids=["packed", "portable", "padded"])
def test_bf16_next_token_distributions_stay_within_a_small_distance_of_float32(bundled_lm, prompts, packed, portable):
    engine = build_engine(bundled_lm.model, bundled_lm.tokenizer, precision="bf16", packed=packed, portable=portable, batch_size=4)
    if packed:
        assert all(p.dtype == torch.bfloat16 for layer in engine.fused.layers for p in (layer.qkv, layer.down, layer.gate_up))
    logits = engine.last_logits(prompts, [[] for _ in prompts], range(len(prompts)))
    agree = 0
    for row, ids in enumerate(prompts):
        ours, plain = torch.log_softmax(logits[row].double(), -1), plain_next(bundled_lm, ids)
        # total variation between the two next-token distributions
        assert 0.5 * (ours.exp() - plain.exp()).abs().sum() < 0.05
        agree += int(ours.argmax() == plain.argmax())
    assert agree >= len(prompts) - 1


def test_bf16_rollouts_have_the_asked_shape_and_float32_decoding_still_gives_the_plain_numbers(bundled_lm, prompts):
    seeds = list(range(4))
    fast = decode_prompts(bundled_lm.model, bundled_lm.tokenizer, prompts[:2], max_new_tokens=12, min_new_tokens=12,
                          temperature=1.0, seeds=seeds, repeats=2, precision="bf16")
    assert fast.tokens.shape == (4, 12) and bool(fast.mask.all())
    exact = build_engine(bundled_lm.model, bundled_lm.tokenizer, batch_size=2)
    logits = exact.last_logits(prompts[:2], [[], []], [0, 1])
    for row in range(2):
        assert torch.allclose(torch.log_softmax(logits[row].double(), -1), plain_next(bundled_lm, prompts[row]), atol=1e-3)
