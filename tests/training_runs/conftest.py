import pytest


@pytest.fixture(autouse=True)
def runs_root(settings, tmp_path):
    """Each test's checkpoints go to its own folder (merged policies are ~0.5 GB each)."""
    settings.RUNS_ROOT = str(tmp_path / "runs")
    return tmp_path / "runs"
