"""build_engine takes the packed (fused, oneDNN) path only for a model on the CPU: a model on any
other device (a GPU; here the meta device, which this machine has) gets the padded engine."""

import copy

import torch

from pipeline.inference.engines import PackedEngine, PaddedEngine, build_engine


def test_the_packed_engine_is_for_the_cpu_and_the_padded_one_for_other_devices(bundled_lm):
    assert isinstance(build_engine(bundled_lm.model, bundled_lm.tokenizer), PackedEngine)
    elsewhere = copy.deepcopy(bundled_lm.model).to(torch.device("meta"))
    assert isinstance(build_engine(elsewhere, bundled_lm.tokenizer), PaddedEngine)
