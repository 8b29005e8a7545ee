"""The shared world of the test suite: paths to the real data and the bundled model."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["tests.browser_fixtures"]

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
HH_HARMLESS_TEST = SHARED_DATA / "hh-rlhf" / "harmless-base-test.dev.jsonl.gz"


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
