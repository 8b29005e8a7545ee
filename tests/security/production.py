"""The production environment as the README's "Deploying" section documents it, for tests that
start manage.py or gunicorn in a subprocess: the README's `export` lines, with a fresh secret
and every file of the lab under a temporary folder."""

from __future__ import annotations

import os
import re
import secrets
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Settings a developer's shell (or the test run: DJANGO_ALLOW_ASYNC_UNSAFE) may hold; the
# subprocess must see only what we give it.
_LAB_VARIABLES = re.compile(
    r"^(DEBUG|SECRET_KEY|ALLOWED_HOSTS|CSRF_TRUSTED_ORIGINS|VAR_DIR|STATIC_ROOT|DATABASE_URL|CELERY_BROKER_URL|"
    r"ARTIFACT_ROOT|ARTIFACT_LOCAL|RUNS_ROOT|SECURE_\w+|SESSION_COOKIE_SECURE|CSRF_COOKIE_SECURE|IMPORT_MAX_\w+|"
    r"LOGIN_\w+|PASSWORD_MIN_LENGTH|DJANGO_\w+)$"
)


def documented_production_variables() -> dict[str, str]:
    """KEY=VALUE of the `export` lines in the first shell block of README's "Deploying"."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Deploying\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    variables = {}
    for line in block.splitlines():
        if line.startswith("export "):
            for word in shlex.split(line)[1:]:
                key, _, value = word.partition("=")
                variables[key] = value
    assert {"DEBUG", "SECRET_KEY", "SECURE_SSL_REDIRECT"} <= variables.keys(), variables
    return variables


def production_environment(folder: Path, **overrides: str) -> dict[str, str]:
    """os.environ without the lab's settings, plus the documented production variables, with
    the embedded database and broker, static files and secret under ``folder``."""
    environment = {key: value for key, value in os.environ.items() if not _LAB_VARIABLES.match(key)}
    environment.update(documented_production_variables())
    environment.update(
        DJANGO_SETTINGS_MODULE="webapp.settings",
        SECRET_KEY=secrets.token_urlsafe(50),  # the README reads it from a file
        VAR_DIR=str(folder / "var"),
        STATIC_ROOT=str(folder / "static"),
    )
    environment.update(overrides)
    return environment
