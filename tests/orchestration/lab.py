"""A lab of real processes for the integration tests: its own database and broker, a Celery
worker, the web server, management commands, all started the way a user starts them.

By default the database is a SQLite file and the broker the filesystem one, both in the
test's folder (the embedded lab of `make run`). With ``TEST_DATABASE_URL=postgres://...``
each lab gets a fresh PostgreSQL database on that server, and with
``TEST_CELERY_BROKER_URL=redis://...`` the broker is that Redis database, emptied first
(``scripts/services-up.sh`` starts both on loopback and prints the two variables).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
DEMO_DIALOGUES = ROOT / "webapp" / "experiments" / "demo" / "dialogues.jsonl"


def tiny_rows(path: Path, *, train: int, test: int) -> list[dict]:
    """The first ``train`` training and ``test`` test rows of a demo JSONL file."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if r["split"] == "train"][:train] + [r for r in rows if r["split"] == "test"][:test]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_of_this_worker(url: str) -> str:
    """Under pytest-xdist, worker gwN uses Redis database N + 1 of the given server: each lab
    empties its database when it starts, which must never drop another worker's messages."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not url or not worker:
        return url
    return urlunsplit(urlsplit(url)._replace(path=f"/{int(worker.removeprefix('gw')) + 1}"))


class Lab:
    def __init__(self, folder: Path, artifact_root: str):
        self.folder = folder
        self.var = folder / "var"
        self.var.mkdir(parents=True, exist_ok=True)
        self.processes: list[subprocess.Popen] = []
        self._pg_admin_url, self.database_url = self._database()
        self.broker_url = redis_of_this_worker(os.environ.get("TEST_CELERY_BROKER_URL", ""))
        if self.broker_url:
            import redis

            redis.Redis.from_url(self.broker_url).flushdb()  # no message of an earlier lab may reach this one
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "CELERY_BROKER_URL"))}
        env.update(
            VAR_DIR=str(self.var), ARTIFACT_ROOT=str(artifact_root), RUNS_ROOT=str(folder / "runs"),
            DATABASE_URL=self.database_url, DJANGO_SETTINGS_MODULE="webapp.settings", PYTHONUNBUFFERED="1",
            DEBUG="true", LOG_LEVEL="INFO",
        )
        if self.broker_url:
            env["CELERY_BROKER_URL"] = self.broker_url
        self.env = env

    @property
    def backend(self) -> str:
        return f"{urlsplit(self.database_url).scheme} + {urlsplit(self.broker_url).scheme if self.broker_url else 'filesystem'}"

    def _database(self) -> tuple[str, str]:
        base = os.environ.get("TEST_DATABASE_URL", "")
        if not base:
            return "", f"sqlite:///{self.var / 'lab.sqlite3'}"
        import psycopg

        name = f"lab_test_{secrets.token_hex(4)}"
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        parts = urlsplit(base)
        return base, urlunsplit(parts._replace(path=f"/{name}"))

    # -- commands ---------------------------------------------------------------------------

    def manage(self, *args: str, timeout: float = 600, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True,
                              text=True, timeout=timeout)
        if check and done.returncode != 0:
            raise AssertionError(f"manage.py {' '.join(args)} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return done

    def query(self, code: str) -> object:
        """Run Python in the lab's Django (``manage.py shell``); ``code`` assigns ``result``."""
        script = f"import json\n{code}\nprint('RESULT ' + json.dumps(result, default=str))"
        done = self.manage("shell", "-c", script, timeout=120)
        line = next(out for out in reversed(done.stdout.splitlines()) if out.startswith("RESULT "))
        return json.loads(line[len("RESULT "):])

    def sql(self, query: str) -> list[tuple]:
        """Read the lab's database directly, without a Django start-up: for polling a few times a second."""
        if self.database_url.startswith("sqlite"):
            import sqlite3

            with sqlite3.connect(self.var / "lab.sqlite3", timeout=20) as conn:
                return conn.execute(query).fetchall()
        import psycopg

        with psycopg.connect(self.database_url) as conn:
            return conn.execute(query).fetchall()

    def import_tiny(self, slug: str = "tiny", *, train: int = 4, test: int = 2) -> None:
        path = self.folder / f"{slug}.jsonl"
        path.write_text("\n".join(json.dumps(r) for r in tiny_rows(DEMO_DIALOGUES, train=train, test=test)) + "\n")
        self.manage("import_preferences", str(path), "--experiment", slug, "--format", "jsonl", "--task", "harmless")

    def cancel_stages(self, *, keep: tuple[str, ...]) -> list[str]:
        """Cancel, as staff would, every stage whose kind is not in ``keep``; returns their names.
        Done before a worker starts, it leaves the workers nothing else to do."""
        code = ("from webapp.pipeline.models import PipelineStage\nfrom webapp.pipeline.services import orchestration\n"
                f"result = [s.name for s in PipelineStage.objects.exclude(kind__in={list(keep)!r})"
                " if orchestration.pipeline_stage_cancel(stage=s)]")
        return self.query(code)  # type: ignore[return-value]

    # -- long-running processes ----------------------------------------------------------------

    def start(self, name: str, *args: str) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "ab")
        # A session of its own: killing it kills exactly this process and its children.
        process = subprocess.Popen(list(args), cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        process.log_path = self.folder / f"{name}.log"
        process.log_file = log
        self.processes.append(process)
        return process

    def start_worker(self, name: str = "worker") -> subprocess.Popen:
        return self.start(
            name, sys.executable, "-m", "celery", "-A", "webapp", "worker", "-Q", "gpu,default", "--concurrency", "1",
            "--pool", "solo", "--loglevel", "INFO", "-n", f"{name}-{secrets.token_hex(3)}@%h",
            "--without-mingle", "--without-gossip",
        )

    def start_server(self) -> str:
        port = free_port()
        self.start("server", sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}")
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return url
            except OSError:
                time.sleep(0.3)
        raise AssertionError(f"the server did not start:\n{(self.folder / 'server.log').read_text()[-2000:]}")

    @staticmethod
    def kill(process: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        if process.poll() is None:
            os.killpg(process.pid, sig)
        process.wait(timeout=60)

    def wait_for(self, condition, *, timeout: float, every: float = 1.0, what: str = "condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            time.sleep(every)
        logs = "\n".join(f"--- {p.log_path.name}\n{p.log_path.read_text()[-3000:]}" for p in self.processes)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{logs}")

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=20)
            process.log_file.close()
        if self._pg_admin_url:
            import psycopg

            name = urlsplit(self.database_url).path.lstrip("/")
            with psycopg.connect(self._pg_admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def import_tiny_demo(slug: str, folder: Path, *, train: int, test: int, task: str = "helpful"):
    """An experiment ``slug`` holding the first rows of a demo file (the helpful one by default),
    imported through the real import service."""
    from webapp.experiments import services
    from webapp.experiments.models import Experiment

    experiment = Experiment.objects.create(slug=slug, name=slug.replace("-", " ").capitalize(), task=task)
    path = folder / f"{slug}.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in tiny_rows(services.DEMO_DIR / f"{task}.jsonl", train=train, test=test)) + "\n")
    services.preferences_import(experiment=experiment, path=path, fmt="jsonl", split=None, source=path.name)
    return experiment
