"""The shared world of the test suite: paths to the real data, the bundled model and a tiny random model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from pipeline.distributed import usable_cpus

pytest_plugins = ["tests.browser_fixtures"]

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
HH_HARMLESS_TEST = SHARED_DATA / "hh-rlhf" / "harmless-base-test.dev.jsonl.gz"


MAX_WORKERS = 4  # each worker holds a few GB (models, Celery workers, chromium)


def pytest_xdist_auto_num_workers(config):
    """``-n auto`` (make test): one worker per usable CPU, at most MAX_WORKERS (pytest-xdist's
    own count, from PYTEST_XDIST_AUTO_NUM_WORKERS, where that is set)."""
    return None if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS") else min(MAX_WORKERS, usable_cpus())


def pytest_configure(config):
    """Under pytest-xdist each worker gets its share of the cores: N workers each running torch on
    every core would oversubscribe them (OpenMP threads spin while they wait for a core). The
    processes a test starts (Celery workers, trainers) inherit the share through the environment."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if workers > 1:
        share = str(max(1, usable_cpus() // workers))
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = share
        torch.set_num_threads(int(share))


@pytest.fixture(scope="session")
def hh_path() -> Path:
    """The real HH-RLHF harmless-base test file (1,600 pairs); never copied into the project."""
    assert HH_HARMLESS_TEST.is_file(), f"missing real data: {HH_HARMLESS_TEST} (../shared must sit beside the project)"
    return HH_HARMLESS_TEST


@pytest.fixture(scope="session")
def artifact_root() -> Path:
    from django.conf import settings

    return Path(settings.ARTIFACT_LOCAL)


@pytest.fixture(scope="session")
def bundled_lm(artifact_root):
    """The bundled SmolLM2-135M-Instruct, converted once (prepare_model) and loaded once per run."""
    from pipeline import registry

    registry.prepare(registry.DEFAULT_MODEL, artifact_root)
    return registry.load_causal_lm(registry.DEFAULT_MODEL, artifact_root)


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
