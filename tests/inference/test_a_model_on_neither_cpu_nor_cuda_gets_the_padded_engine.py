"""build_engine takes the packed path for a model on the CPU (fused, oneDNN) or on a CUDA device
(the same forward on torch ops, ``portable``; the GPU check asserts that one, this machine has no
CUDA) and, forced, on the CPU too; a model on any other device (here the meta device) gets the
padded engine."""

import copy

import torch

from pipeline.inference.engines import PackedEngine, PaddedEngine, build_engine


def test_the_packed_engine_is_for_the_cpu_and_the_padded_one_for_other_devices(bundled_lm):
    on_cpu = build_engine(bundled_lm.model, bundled_lm.tokenizer)
    assert isinstance(on_cpu, PackedEngine) and not on_cpu.fused.batched
    forced = build_engine(bundled_lm.model, bundled_lm.tokenizer, portable=True)
    assert isinstance(forced, PackedEngine) and forced.fused.batched
    elsewhere = copy.deepcopy(bundled_lm.model).to(torch.device("meta"))
    assert isinstance(build_engine(elsewhere, bundled_lm.tokenizer), PaddedEngine)
