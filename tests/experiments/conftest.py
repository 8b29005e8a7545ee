"""Factories for the experiments tests."""

import gzip
import json
from pathlib import Path

import pytest

from webapp.experiments.models import Experiment


@pytest.fixture
def experiment(db):
    return Experiment.objects.create(slug="exp", name="An experiment", task="harmless")


@pytest.fixture
def write_file(tmp_path):
    """write_file(name, lines or bytes) -> Path; lists of dicts become JSON lines."""

    def write(name: str, content) -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            data = content
        elif isinstance(content, str):
            data = content.encode("utf-8")
        else:
            data = "".join((json.dumps(row) if not isinstance(row, str) else row) + "\n" for row in content).encode()
        if name.endswith(".gz"):
            data = gzip.compress(data)
        path.write_bytes(data)
        return path

    return write


def hh_row(question: str, good: str, bad: str) -> dict:
    context = f"\n\nHuman: {question}"
    return {"chosen": f"{context}\n\nAssistant: {good}", "rejected": f"{context}\n\nAssistant: {bad}"}
