"""The rating workload against Label Studio, for bench/rating_load.py --label-studio.

Label Studio runs from its own virtual environment (it pins its own Django), on loopback,
with a fresh data directory, following ../shared/peers/label-studio.md. The workload is the
saturated phase of the lab's: N raters with no pause, each loops: fetch a task (GET
/api/tasks/{id}), submit a ranking of its three responses (POST /api/tasks/{id}/annotations/).
Stored annotations are counted through the API afterwards, not taken from what clients were told.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

LABEL_CONFIG = """<View>
  <Text name="context" value="$context"/>
  <List name="answers" value="$items" title="Responses"/>
  <Ranker name="rank" toName="answers"/>
  <Choices name="harm_a" toName="answers" choice="single"><Choice value="harmless"/><Choice value="harmful"/></Choices>
</View>"""


def _request(port: int, token: str, method: str, path: str, payload=None, timeout: float = 60.0):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        body = None if payload is None else json.dumps(payload)
        headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


class LSRater(threading.Thread):
    def __init__(self, port, token, task_ids, deadline, max_submits, results, key):
        super().__init__(daemon=True)
        self.port, self.token, self.task_ids, self.deadline, self.max_submits = port, token, task_ids, deadline, max_submits
        self.results, self.key = results, key

    def run(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"Authorization": f"Token {self.token}", "Content-Type": "application/json"}
        acked, latencies, errors = [], [], 0
        for task_id in self.task_ids:
            if time.monotonic() >= self.deadline or len(acked) >= self.max_submits:
                break
            try:
                conn.request("GET", f"/api/tasks/{task_id}", headers=headers)
                response = conn.getresponse()
                task = json.loads(response.read() or b"{}")
                if response.status != 200:
                    errors += 1
                    continue
                ids = [item["id"] for item in task["data"]["items"]]
                payload = {
                    "lead_time": 1.0,
                    "result": [
                        {"from_name": "rank", "to_name": "answers", "type": "ranker", "value": {"ranker": {"answers": ids}}},
                        {"from_name": "harm_a", "to_name": "answers", "type": "choices", "value": {"choices": ["harmless"]}},
                    ],
                }
                started = time.perf_counter()
                conn.request("POST", f"/api/tasks/{task_id}/annotations/", body=json.dumps(payload), headers=headers)
                response = conn.getresponse()
                response.read()
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status in (200, 201):
                    acked.append(task_id)
                else:
                    errors += 1
            except (OSError, http.client.HTTPException, ValueError):
                errors += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        conn.close()
        self.results[self.key] = {"acked": acked, "latencies": latencies, "errors": errors}


def _ensure_installed(venv: Path, version: str) -> str | None:
    binary = venv / "bin" / "label-studio"
    if binary.exists():
        return None
    try:
        subprocess.run(["python3", "-m", "venv", str(venv)], check=True, capture_output=True, timeout=120)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"label-studio=={version}"], check=True, capture_output=True, timeout=1200)
    except (subprocess.SubprocessError, OSError) as problem:
        return f"could not install label-studio=={version} into {venv}: {problem}"
    return None if binary.exists() else f"label-studio=={version} installed no {binary}"


def _project_with_tasks(port: int, token: str, n_tasks: int) -> list[int] | str:
    """Create the bench project with ``n_tasks`` three-answer ranking tasks; their ids, or what failed."""
    status, body = _request(port, token, "POST", "/api/projects", {"title": "bench", "label_config": LABEL_CONFIG})
    if status not in (200, 201):
        return f"creating the project answered {status}: {body[:300]!r}"
    project = json.loads(body)["id"]
    tasks = [
        {
            "context": f"Human: question {i}?\n\nAssistant:",
            "items": [{"id": f"r{k}", "html": f"A {name} answer to question {i}, two sentences long. It is polite."} for k, name in enumerate(("sft", "rlhf", "rlaif"))],
        }
        for i in range(n_tasks)
    ]
    status, body = _request(port, token, "POST", f"/api/projects/{project}/import", tasks, timeout=600)
    if status not in (200, 201):
        return f"importing tasks answered {status}: {body[:300]!r}"
    task_ids: list[int] = []
    page = 1
    while len(task_ids) < n_tasks:
        status, body = _request(port, token, "GET", f"/api/tasks?project={project}&page={page}&page_size=1000&fields=task_only")
        found = json.loads(body) if status == 200 else {}
        batch = [t["id"] for t in (found.get("tasks", []) if isinstance(found, dict) else found)]
        if not batch:
            break
        task_ids += batch
        page += 1
    return task_ids


def _tally(port: int, token: str, task_ids: list[int], results: dict, elapsed: float, percentile) -> dict:
    """Throughput and latency of the raters, and what the server stored against what it acknowledged."""
    acked = [task for r in results.values() for task in r["acked"]]
    latencies = [ms for r in results.values() for ms in r["latencies"]]
    stored: dict[int, int] = {}
    for task_id in set(task_ids):
        status, body = _request(port, token, "GET", f"/api/tasks/{task_id}/annotations/")
        if status == 200:
            stored[task_id] = len(json.loads(body))
    acked_per_task: dict[int, int] = {}
    for task in acked:
        acked_per_task[task] = acked_per_task.get(task, 0) + 1
    return {
        "label_studio_submits_per_s": round(len(acked) / elapsed, 2) if elapsed else 0.0,
        "label_studio_p50_ms": round(percentile(latencies, 0.5), 1),
        "label_studio_p99_ms": round(percentile(latencies, 0.99), 1),
        "label_studio_errors": sum(r["errors"] for r in results.values()),
        "label_studio_lost": sum(max(0, n - stored.get(t, 0)) for t, n in acked_per_task.items()),
        "label_studio_duplicated": sum(max(0, stored.get(t, 0) - acked_per_task.get(t, 0)) for t in stored if stored[t] > 1),
        "label_studio_stored_not_acknowledged": sum(max(0, n - acked_per_task.get(t, 0)) for t, n in stored.items() if n and t not in acked_per_task),
        "label_studio_note": "one API token shared by all raters; each rater works through its own slice of tasks",
    }


def run(args, *, venv: Path, version: str, free_port, wait_for, percentile) -> dict:
    problem = _ensure_installed(venv, version)
    if problem:
        return {"label_studio_error": problem}
    data_dir = Path(tempfile.mkdtemp(prefix="ls-bench-"))
    port, token, password = free_port(), secrets.token_hex(20), secrets.token_urlsafe(12)
    env = {**os.environ, "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true", "LOG_LEVEL": "WARNING", "DJANGO_DB": "sqlite"}
    for name in ("DATABASE_URL", "VAR_DIR", "DJANGO_SETTINGS_MODULE", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS"):
        env.pop(name, None)
    log = open(data_dir / "server.log", "wb")
    server = subprocess.Popen(
        [
            str(venv / "bin" / "label-studio"), "start", "--no-browser", "--internal-host", "127.0.0.1", "-p", str(port),
            "--data-dir", str(data_dir), "--username", "admin@example.com", "--password", password,
            "--user-token", token, "--enable-legacy-api-token",
        ],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(data_dir),
    )
    try:
        try:
            wait_for(port, "/health", 600, server)
        except RuntimeError as problem:
            tail = (data_dir / "server.log").read_text(errors="replace")[-600:]
            return {"label_studio_error": f"Label Studio did not start: {problem}; log ends: {tail}"}
        task_ids = _project_with_tasks(port, token, args.raters * 40)
        if isinstance(task_ids, str):
            return {"label_studio_error": task_ids}
        if len(task_ids) < args.raters:
            return {"label_studio_error": f"only {len(task_ids)} tasks could be listed"}

        results: dict = {}
        started = time.monotonic()
        deadline = started + args.duration
        raters = [
            LSRater(port, token, task_ids[i :: args.raters], deadline, args.max_submits, results, i) for i in range(args.raters)
        ]
        for rater in raters:
            rater.start()
        for rater in raters:
            rater.join(args.duration + 120)
        elapsed = time.monotonic() - started

        return {"label_studio_version": version, **_tally(port, token, task_ids, results, elapsed, percentile)}
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        shutil.rmtree(data_dir, ignore_errors=True)
