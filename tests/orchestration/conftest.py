"""Fixtures of the orchestration tests: a tiny real experiment, an isolated broker, a lab of processes."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from tests.orchestration.lab import DEMO_DIALOGUES, Lab, tiny_rows

# Stage configs small enough for seconds of CPU per stage (on top of the demo size).
TINY = {
    "labeling": {"chunk_size": 2, "batch_size": 2},
    "reward": {"max_steps": 1, "batch_size": 4, "max_length": 160},
    "rl": {"steps": 1, "batch_size": 2, "samples_per_prompt": 2, "max_new_tokens": 6},
    "dpo": {"max_steps": 1, "batch_size": 2, "max_length": 160},
    "sampling": {"max_new_tokens": 6},
    "round": {"overlap": 1, "gold_share": 0.0},
}


@pytest.fixture(autouse=True)
def isolated_broker(settings, tmp_path):
    """Messages these tests send land in a folder of their own, never in var/broker where a
    running `make run` worker would take them (their stage ids mean other rows there)."""
    from webapp.celery import app

    queue = tmp_path / "broker" / "queue"
    queue.mkdir(parents=True)
    saved = app.conf.broker_url, app.conf.broker_transport_options
    app.conf.broker_url = "filesystem://localhost/"
    app.conf.broker_transport_options = {"data_folder_in": str(queue), "data_folder_out": str(queue),
                                         "processed_folder": str(tmp_path / "broker"), "store_processed": False,
                                         "control_folder": str(tmp_path / "broker" / "control")}
    app._pool = None  # the connection pools are keyed by the old options: start new ones
    app.amqp._producer_pool = None
    settings.RUNS_ROOT = str(tmp_path / "runs")
    yield queue
    app.conf.broker_url, app.conf.broker_transport_options = saved
    app._pool = None
    app.amqp._producer_pool = None


def messages_in(queue: Path) -> list[dict]:
    """The messages waiting in a filesystem-broker folder: task name and stage id of each."""
    out = []
    for path in sorted(queue.glob("*.msg")):
        message = json.loads(path.read_text())
        out.append({"task": message["headers"]["task"], "args": message["headers"].get("argsrepr"),
                    "queue": path.name.split(".")[-2]})
    return out


def sent_stages(queue: Path) -> list[tuple[str, str]]:
    """(stage name, queue) of each waiting message, in the order sent: every stage travels as
    the one stage task, so its id and queue are what tell the messages apart."""
    from webapp.pipeline.models import PipelineStage

    messages = messages_in(queue)
    assert {m["task"] for m in messages} <= {"pipeline.stage"}, messages
    names = dict(PipelineStage.objects.values_list("pk", "name"))
    return [(names[ast.literal_eval(m["args"])[0]], m["queue"]) for m in messages]


@pytest.fixture
def tiny_experiment(db, tmp_path):
    """A harmless-dialogue experiment of 4 training pairs and 2 test prompts, from the demo's own data."""
    from webapp.experiments import services
    from webapp.experiments.models import Experiment

    experiment = Experiment.objects.create(slug="tiny", name="Tiny", task="harmless")
    path = tmp_path / "tiny.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in tiny_rows(DEMO_DIALOGUES, train=4, test=2)) + "\n")
    services.preferences_import(experiment=experiment, path=path, fmt="jsonl", split=None, source=path.name)
    return experiment


@pytest.fixture
def lab(tmp_path, artifact_root):
    """A migrated lab of real processes (SQLite + filesystem broker, or PostgreSQL + Redis when set)."""
    lab = Lab(tmp_path / "lab", artifact_root.resolve())
    try:
        lab.manage("migrate", "--noinput", "-v", "0")
        yield lab
    finally:
        lab.close()


def overrides_args(overrides: dict) -> list[str]:
    """TINY as run_experiment --set arguments."""
    return [arg for kind, fields in overrides.items() for key, value in fields.items()
            for arg in ("--set", f"{kind}.{key}={json.dumps(value)}")]
