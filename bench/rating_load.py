"""Load benchmark of the rating interface: N concurrent raters on the embedded SQLite default.

    .venv/bin/python bench/rating_load.py [--raters 50] [--duration 20] [--label-studio]

Starts the app with gunicorn (gthread workers) on loopback against a fresh SQLite database in a
temporary VAR_DIR, makes N raters (sessions made directly in the database: logging in is not
what is measured) and a round with enough items, then runs N client threads. Each rater loops:
fetch the next item (GET, as htmx does), submit a ranking of it (POST, as htmx does). Only
submits are timed.

Two phases, each ``--duration`` seconds: "paced", where each rater pauses about ``--think-ms``
before submitting (real raters read for 10-60 s per item; 3 s keeps the load well above that),
and "saturated", where nobody pauses, which measures how much the server can take. The top
level ``submits_per_s``, ``p50_ms`` and ``p99_ms`` are the paced phase's; both phases are
given in full. Afterwards it counts what the database stored against what the clients were
told was saved, over both phases: ``lost`` (acknowledged, not stored) and ``duplicated``
(stored more than once). The last printed line is one JSON object.

``--label-studio`` runs the saturated workload against Label Studio (see
../shared/peers/label-studio.md) installed in /tmp/ls-venv, and adds its figures and
``ratio`` (lab over Label Studio, saturated submits per second); when it cannot run, the
JSON says why in ``label_studio_error``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
TOKEN_RE = re.compile(r'name="token" value="([^"]+)"')
ALIAS_RE = re.compile(r'name="rank_([A-Z])" value="1"')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(port: int, path: str, deadline_s: float, process: subprocess.Popen | None = None) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"nothing answered on 127.0.0.1:{port}{path} within {deadline_s:.0f} s")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(q * (len(ordered) - 1)))))
    return ordered[index]


# -- the lab --------------------------------------------------------------------------------

SETUP = r"""
import json, sys
from django.contrib.auth.models import Group, User
from django.contrib.sessions.backends.db import SessionStore
from webapp.access import RATERS_GROUP
from webapp.experiments.models import Experiment, PolicyResponse, Prompt
from webapp.rating.models import Round
from webapp.rating.services import rounds

raters, items, policies = int(sys.argv[1]), int(sys.argv[2]), ["sft", "rlhf", "rlaif"]
experiment = Experiment.objects.create(slug="bench", name="Bench", task="harmless")
prompts = Prompt.objects.bulk_create(
    Prompt(experiment=experiment, split="test", context=f"Human: question {i}?\n\nAssistant:", content_hash=f"h{i}")
    for i in range(items)
)
PolicyResponse.objects.bulk_create(
    PolicyResponse(prompt=p, policy=name, text=f"A {name} answer to question {p.pk}, two sentences long. It is polite.")
    for p in prompts for name in policies
)
round = Round.objects.create(experiment=experiment, name="Bench round", policies=policies, mode="rank", overlap=3, gold_share=0.05)
rounds.round_items_create(round=round)
rounds.round_open(round=round, is_open=True)
group, _ = Group.objects.get_or_create(name=RATERS_GROUP)
sessions = []
for i in range(raters):
    user = User(username=f"bench{i}")
    user.set_unusable_password()
    user.save()
    user.groups.add(group)
    session = SessionStore()
    session["_auth_user_id"] = str(user.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session.create()
    sessions.append(session.session_key)
print(json.dumps({"round": round.pk, "sessions": sessions}))
"""


class LabRater(threading.Thread):
    def __init__(self, port: int, round_id: int, session: str, deadline: float, max_submits: int, think_s: float, results: dict):
        super().__init__(daemon=True)
        self.port, self.round_id, self.session, self.deadline, self.max_submits = port, round_id, session, deadline, max_submits
        self.think_s, self.results = think_s, results
        self.csrf = ""

    def request(self, conn, method: str, path: str, body: str | None = None) -> tuple[int, str]:
        headers = {"Cookie": f"sessionid={self.session}" + (f"; csrftoken={self.csrf}" if self.csrf else ""), "HX-Request": "true"}
        if body is not None:
            headers.update({"Content-Type": "application/x-www-form-urlencoded", "X-CSRFToken": self.csrf})
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        text = response.read().decode()
        for header, value in response.getheaders():
            if header.lower() == "set-cookie" and value.startswith("csrftoken="):
                self.csrf = value.split(";", 1)[0].split("=", 1)[1]
        return response.status, text

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        acked, latencies, errors = [], [], 0
        try:
            while time.monotonic() < self.deadline and len(acked) < self.max_submits:
                try:
                    status, page = self.request(conn, "GET", f"/rate/{self.round_id}/")
                except (OSError, http.client.HTTPException):
                    # A GET is safe to repeat on a fresh connection, as a browser would.
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                    status, page = self.request(conn, "GET", f"/rate/{self.round_id}/")
                token = TOKEN_RE.search(page)
                if status != 200 or token is None:
                    break  # nothing left for this rater
                if self.think_s:
                    # Raters read before they rank; jittered so that they do not march in step.
                    time.sleep(self.think_s * random.uniform(0.5, 1.5))
                aliases = ALIAS_RE.findall(page)
                fields = {"token": token.group(1), "active_ms": "1000"}
                fields.update({f"rank_{a}": str(i + 1) for i, a in enumerate(aliases)})
                started = time.perf_counter()
                status, answer = self.request(conn, "POST", f"/rate/{self.round_id}/submit/", urllib.parse.urlencode(fields))
                latencies.append((time.perf_counter() - started) * 1000)
                if status == 200 and "Saved." in answer:
                    acked.append(token.group(1))
                else:
                    errors += 1
        except (OSError, http.client.HTTPException):
            errors += 1
        finally:
            conn.close()
        self.results[self.session] = {"acked": acked, "latencies": latencies, "errors": errors}


def run_lab(args) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="rating-bench-"))
    port = free_port()
    env = {
        **os.environ,
        "VAR_DIR": str(workdir),
        "DATABASE_URL": f"sqlite:///{workdir / 'bench.sqlite3'}",
        "DEBUG": "false",
        "SECRET_KEY": "bench-" + "x" * 50,
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "webapp.settings",
    }
    server = None
    try:
        subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        setup = subprocess.run(
            [PYTHON, "manage.py", "shell", "-c", SETUP.replace("sys.argv[1]", str(args.raters)).replace("sys.argv[2]", str(args.items))],
            cwd=ROOT, env=env, check=True, capture_output=True, text=True,
        )
        prepared = json.loads(setup.stdout.strip().splitlines()[-1])
        server = subprocess.Popen(
            [
                str(Path(PYTHON).parent / "gunicorn"), "webapp.wsgi:application", "--bind", f"127.0.0.1:{port}",
                "--worker-class", "gthread", "--workers", str(args.workers), "--threads", str(args.threads),
                "--backlog", "256", "--log-level", "warning",
                # Raters pause between requests; a keep-alive shorter than the pause would
                # drop their connections, as a proxy in front of gunicorn would not.
                "--keep-alive", "75",
            ],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        wait_for(port, "/accounts/login/", 60, server)
        phases = {}
        for name, think_s in (("paced", args.think_ms / 1000), ("saturated", 0.0)):
            results: dict = {}
            started = time.monotonic()
            deadline = started + args.duration
            raters = [LabRater(port, prepared["round"], s, deadline, args.max_submits, think_s, results) for s in prepared["sessions"]]
            for rater in raters:
                rater.start()
            for rater in raters:
                rater.join(args.duration + 60)
            phases[name] = (results, time.monotonic() - started)
        server.terminate()
        server.wait(20)
        return tally(phases, workdir / "bench.sqlite3")
    finally:
        if server is not None and server.poll() is None:
            server.kill()
        shutil.rmtree(workdir, ignore_errors=True)


def phase_figures(results: dict, elapsed: float) -> dict:
    acked = sum(len(r["acked"]) for r in results.values())
    latencies = [ms for r in results.values() for ms in r["latencies"]]
    return {
        "submits": acked,
        "submits_per_s": round(acked / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(percentile(latencies, 0.50), 1),
        "p99_ms": round(percentile(latencies, 0.99), 1),
        "errors": sum(r["errors"] for r in results.values()),
    }


def tally(phases: dict, database: Path) -> dict:
    """Figures per phase, and what the database holds against every acknowledged submit of both."""
    acked = [token for results, _ in phases.values() for r in results.values() for token in r["acked"]]
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    stored = dict(
        db.execute(
            "SELECT l.token, COUNT(j.id) FROM rating_lease l JOIN rating_judgement j ON j.lease_id = l.id GROUP BY l.token"
        ).fetchall()
    )
    per_item_rater = db.execute("SELECT COUNT(*) FROM rating_judgement GROUP BY item_id, rater_id HAVING COUNT(*) > 1").fetchall()
    over_overlap = db.execute(
        "SELECT COUNT(*) FROM rating_item i JOIN rating_round r ON r.id = i.round_id WHERE i.judged > r.overlap"
    ).fetchone()[0]
    db.close()
    acked_set = set(acked)
    paced, saturated = (phase_figures(*phases[name]) for name in ("paced", "saturated"))
    return {
        "raters": len(phases["paced"][0]),
        **{k: paced[k] for k in ("submits_per_s", "p50_ms", "p99_ms")},
        "lost": sum(1 for token in acked_set if stored.get(token, 0) == 0),
        "duplicated": sum(max(0, n - 1) for n in stored.values()) + sum(n - 1 for (n,) in per_item_rater) + len(acked) - len(acked_set),
        "acknowledged": len(acked),
        "stored": sum(stored.values()),
        "stored_not_acknowledged": sum(1 for token in stored if token not in acked_set),
        "items_over_overlap": over_overlap,
        "paced": paced,
        "saturated": saturated,
    }


# -- Label Studio ---------------------------------------------------------------------------

LS_VENV = Path("/tmp/ls-venv")
LS_VERSION = "1.23.2"


def run_label_studio(args) -> dict:
    """The same workload against Label Studio; returns its figures or {"label_studio_error": why}."""
    import rating_load_label_studio as ls  # beside this script; kept apart as it is only for this mode

    return ls.run(args, venv=LS_VENV, version=LS_VERSION, free_port=free_port, wait_for=wait_for, percentile=percentile)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--raters", type=int, default=50, help="concurrent raters (1-200)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load (at most 300)")
    parser.add_argument("--max-submits", type=int, default=200, help="per rater")
    parser.add_argument("--items", type=int, default=1500, help="items in the round (overlap 3)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--think-ms", type=float, default=3000.0, help="mean pause per item in the paced phase (real raters take 10-60 s)")
    parser.add_argument("--label-studio", action="store_true", help="also run the workload against Label Studio")
    args = parser.parse_args(argv)
    args.raters = max(1, min(args.raters, 200))
    args.duration = max(1.0, min(args.duration, 300.0))

    os.chdir(ROOT)
    sys.path.insert(0, str(ROOT))
    result = run_lab(args)
    print(f"lab, paced: {result['paced']}", file=sys.stderr)
    print(f"lab, saturated: {result['saturated']}", file=sys.stderr)
    if args.label_studio:
        other = run_label_studio(args)
        result.update(other)
        if other.get("label_studio_submits_per_s"):
            # Throughput is compared where both are saturated: the same raters with no pause.
            result["ratio"] = round(result["saturated"]["submits_per_s"] / other["label_studio_submits_per_s"], 2)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
