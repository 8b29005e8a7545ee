"""Fixtures of the labeling tests: the bundled model (shared with the whole suite), its
tokenizer alone for the cheap tests, and a few real HH pairs with their human labels."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUNDLED_DIR = ROOT / "var" / "artifacts" / "models" / "smollm2-135m-instruct"


@pytest.fixture(scope="session")
def lm(request):
    """The bundled SmolLM2-135M-Instruct via the suite's ``bundled_lm``; if the Django settings
    cannot give the artifact root, the converted checkpoint is loaded directly."""
    try:
        return request.getfixturevalue("bundled_lm")
    except Exception:  # noqa: BLE001 - settings not importable: fall back to the checkpoint
        from pipeline import registry

        return registry.load_causal_lm(registry.DEFAULT_MODEL, ROOT / "var" / "artifacts")


@pytest.fixture(scope="session")
def tokenizer():
    """The bundled tokenizer only (fast to load), for tests that never run the model."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(BUNDLED_DIR), local_files_only=True)


@pytest.fixture(scope="session")
def hh_pairs(hh_path):
    """The first 64 real HH harmless pairs as (Sample, human choice), as the web app imports them."""
    from itertools import islice

    from pipeline.data import read
    from pipeline.labeling.data import labeled_samples

    return labeled_samples(islice(read(hh_path, "hh"), 64))


@pytest.fixture(scope="session")
def six_pairs(hh_pairs):
    """Six real HH pairs, the shortest of the first 64 (varied lengths, cheap on 2 cores)."""
    samples = [sample for sample, _ in hh_pairs]
    return sorted(samples, key=lambda s: len(s.context) + len(s.candidate_1) + len(s.candidate_2))[:6]


@pytest.fixture(scope="session")
def naive_labels(lm, six_pairs):
    """The plain way's labels of six_pairs (default config: base preamble, 0-shot, swap)."""
    from pipeline.configs import LabelingConfig
    from pipeline.labeling.reference import score_naive

    return score_naive(lm, six_pairs, LabelingConfig())


@pytest.fixture(scope="session")
def exact_labeler(lm):
    from pipeline.configs import LabelingConfig
    from pipeline.labeling.engine import Labeler

    return Labeler(lm, LabelingConfig(batch_size=4))
