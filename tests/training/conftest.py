"""Fixtures of the training tests. Mechanics run on the suite's tiny random Llama (``tiny_model_dir``
in tests/conftest.py), which trains and samples in milliseconds; tests of *learning* use the real bundled
model (``bundled_spec``) with LoRA and small settings.
"""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="session")
def bundled_spec(bundled_lm) -> str:
    """The bundled model's registry spec, after the session's bundled_lm fixture has prepared it."""
    from pipeline import registry

    return registry.DEFAULT_MODEL


@pytest.fixture(autouse=True)
def _one_thread_per_test():
    """The CI box has 2 cores shared with other jobs: one torch thread avoids oversubscription stalls."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
