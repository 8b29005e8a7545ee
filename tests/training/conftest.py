"""Fixtures of the training tests: a tiny random Llama with the bundled tokenizer, for fast mechanics.

The tiny model trains and samples in milliseconds; tests of *learning* use the real bundled
model (``bundled_spec``) with LoRA and small settings.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="session")
def bundled_spec(bundled_lm) -> str:
    """The bundled model's registry spec, after the session's bundled_lm fixture has prepared it."""
    from pipeline import registry

    return registry.DEFAULT_MODEL


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, artifact_root) -> Path:
    """A 2-layer, 64-wide random Llama checkpoint with the bundled (chat-templated) tokenizer."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from pipeline import registry

    registry.prepare(registry.DEFAULT_MODEL, artifact_root)
    tokenizer = AutoTokenizer.from_pretrained(registry.resolve(registry.DEFAULT_MODEL, artifact_root).location)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True,
    )
    target = tmp_path_factory.mktemp("tiny-llama")
    LlamaForCausalLM(config).save_pretrained(target)
    tokenizer.save_pretrained(target)
    return target


@pytest.fixture(autouse=True)
def _one_thread_per_test():
    """The CI box has 2 cores shared with other jobs: one torch thread avoids oversubscription stalls."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
