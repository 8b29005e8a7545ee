"""Settings come from the environment and a bad value stops start-up, naming the variable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from webapp import env

ROOT = Path(__file__).resolve().parents[2]


def load_settings(**overrides) -> subprocess.CompletedProcess:
    code = (
        "import django, json; from django.conf import settings; django.setup(); "
        "print(json.dumps({'engine': settings.DATABASES['default']['ENGINE'], 'name': str(settings.DATABASES['default']['NAME']), "
        "'options': settings.DATABASES['default'].get('OPTIONS', {}), 'broker': settings.CELERY_BROKER_URL, "
        "'artifacts': settings.ARTIFACT_ROOT, 'debug': settings.DEBUG, 'hosts': settings.ALLOWED_HOSTS}))"
    )
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "webapp.settings", **overrides}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True)


def test_the_embedded_default_is_sqlite_in_wal_mode_under_var_with_a_filesystem_broker(tmp_path):
    result = load_settings(VAR_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    import json

    loaded = json.loads(result.stdout)
    assert loaded["engine"] == "django.db.backends.sqlite3"
    assert loaded["name"] == str(tmp_path / "lab.sqlite3")
    assert "journal_mode=WAL" in loaded["options"]["init_command"]
    assert loaded["broker"] == "filesystem://localhost/"
    assert loaded["artifacts"] == str(tmp_path / "artifacts")
    assert (tmp_path / "secret_key").is_file()


def test_postgres_and_redis_urls_are_taken_as_given(tmp_path):
    result = load_settings(
        VAR_DIR=str(tmp_path),
        DATABASE_URL="postgres://lab:pw@127.0.0.1:5432/lab",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
        ARTIFACT_ROOT="s3://bucket/lab",
        ALLOWED_HOSTS="lab.example.org, 127.0.0.1",
    )
    assert result.returncode == 0, result.stderr
    import json

    loaded = json.loads(result.stdout)
    assert loaded["engine"] == "django.db.backends.postgresql" and loaded["name"] == "lab"
    assert loaded["broker"] == "redis://127.0.0.1:6379/0"
    assert loaded["artifacts"] == "s3://bucket/lab"
    assert loaded["hosts"] == ["lab.example.org", "127.0.0.1"]


@pytest.mark.parametrize(
    "variable, value, message",
    [
        ("DEBUG", "ture", "DEBUG='ture' is not a boolean"),
        ("DATABASE_URL", "postgress://x/y", "DATABASE_URL='postgress://x/y': the scheme must be one of"),
        ("CELERY_BROKER_URL", "kafka://x", "CELERY_BROKER_URL='kafka://x'"),
        ("PRICE_PER_HUMAN_LABEL", "cheap", "PRICE_PER_HUMAN_LABEL='cheap' is not a number"),
        ("TRAINING_PROCESSES", "two", "TRAINING_PROCESSES='two' is neither a number of processes nor 'auto'"),
        ("TRAINING_PROCESSES", "0", "TRAINING_PROCESSES=0: at least 1 process"),
    ],
)
def test_a_bad_value_stops_start_up_and_names_the_variable(tmp_path, variable, value, message):
    result = load_settings(VAR_DIR=str(tmp_path), **{variable: value})
    assert result.returncode != 0
    assert message in result.stderr


def test_secret_key_is_required_when_debug_is_off(tmp_path):
    result = load_settings(VAR_DIR=str(tmp_path), DEBUG="false")
    assert result.returncode != 0 and "SECRET_KEY must be set when DEBUG is off" in result.stderr
    ok = load_settings(VAR_DIR=str(tmp_path), DEBUG="false", SECRET_KEY="x" * 40)
    assert ok.returncode == 0, ok.stderr


def test_the_typed_helpers_reject_values_below_their_minimum(monkeypatch):
    monkeypatch.setenv("SOME_COUNT", "-3")
    with pytest.raises(env.EnvError, match="SOME_COUNT=-3 is below the minimum 0"):
        env.env_int("SOME_COUNT", 1, minimum=0)
    monkeypatch.setenv("SOME_COUNT", "three")
    with pytest.raises(env.EnvError, match="SOME_COUNT='three' is not an integer"):
        env.env_int("SOME_COUNT", 1)


def test_training_processes_is_a_count_or_auto(monkeypatch):
    monkeypatch.delenv("TRAINING_PROCESSES", raising=False)
    assert env.env_processes("TRAINING_PROCESSES", 1) == 1
    monkeypatch.setenv("TRAINING_PROCESSES", "4")
    assert env.env_processes("TRAINING_PROCESSES", 1) == 4
    monkeypatch.setenv("TRAINING_PROCESSES", "AUTO")
    assert env.env_processes("TRAINING_PROCESSES", 1) == "auto"
