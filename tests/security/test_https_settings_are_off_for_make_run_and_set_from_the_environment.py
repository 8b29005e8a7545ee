"""The HTTPS settings are off by default (`make run` serves plain HTTP on loopback), come from
the environment, and a bad value stops start-up naming the variable."""

import json
import os
import subprocess
import sys

import pytest

from tests.security.production import ROOT

NAMES = [
    "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD", "SECURE_PROXY_SSL_HEADER", "STATIC_ROOT",
    "AXES_FAILURE_LIMIT", "AXES_COOLOFF_TIME",
]


def load(tmp_path, **variables) -> subprocess.CompletedProcess:
    code = (
        "import django, json; from django.conf import settings; django.setup(); "
        f"print(json.dumps({{name: str(getattr(settings, name)) for name in {NAMES!r}}}))"
    )
    environment = {key: value for key, value in os.environ.items() if not key.startswith(("SECURE_", "LOGIN_"))}
    environment.update(DJANGO_SETTINGS_MODULE="webapp.settings", VAR_DIR=str(tmp_path), **variables)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True)


def test_by_default_nothing_forces_https(tmp_path):
    result = load(tmp_path)
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.splitlines()[-1])
    assert loaded["SECURE_SSL_REDIRECT"] == loaded["SESSION_COOKIE_SECURE"] == loaded["CSRF_COOKIE_SECURE"] == "False"
    assert loaded["SECURE_HSTS_SECONDS"] == "0" and loaded["SECURE_PROXY_SSL_HEADER"] == "None"
    assert loaded["STATIC_ROOT"] == str(tmp_path / "staticfiles")
    assert loaded["AXES_FAILURE_LIMIT"] == "10" and loaded["AXES_COOLOFF_TIME"] == "0:15:00"


def test_the_environment_turns_them_on(tmp_path):
    result = load(
        tmp_path, SECURE_SSL_REDIRECT="true", SESSION_COOKIE_SECURE="yes", CSRF_COOKIE_SECURE="1",
        SECURE_HSTS_SECONDS="31536000", SECURE_HSTS_INCLUDE_SUBDOMAINS="on", SECURE_HSTS_PRELOAD="true",
        SECURE_PROXY_SSL_HEADER="X-Forwarded-Proto", STATIC_ROOT=str(tmp_path / "static"),
        LOGIN_FAILURE_LIMIT="5", LOGIN_COOLOFF_MINUTES="60",
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.splitlines()[-1])
    assert {loaded[name] for name in NAMES[:3] + NAMES[4:6]} == {"True"}
    assert loaded["SECURE_HSTS_SECONDS"] == "31536000"
    assert loaded["SECURE_PROXY_SSL_HEADER"] == "('HTTP_X_FORWARDED_PROTO', 'https')"
    assert loaded["STATIC_ROOT"] == str(tmp_path / "static")
    assert loaded["AXES_FAILURE_LIMIT"] == "5" and loaded["AXES_COOLOFF_TIME"] == "1:00:00"


def test_a_proxy_header_may_name_its_value(tmp_path):
    result = load(tmp_path, SECURE_PROXY_SSL_HEADER="X-Forwarded-Ssl=on")
    assert json.loads(result.stdout.splitlines()[-1])["SECURE_PROXY_SSL_HEADER"] == "('HTTP_X_FORWARDED_SSL', 'on')"


@pytest.mark.parametrize(
    "variable, value, message",
    [
        ("SECURE_SSL_REDIRECT", "sure", "SECURE_SSL_REDIRECT='sure' is not a boolean"),
        ("SESSION_COOKIE_SECURE", "ture", "SESSION_COOKIE_SECURE='ture' is not a boolean"),
        ("SECURE_HSTS_SECONDS", "1y", "SECURE_HSTS_SECONDS='1y' is not an integer"),
        ("SECURE_HSTS_SECONDS", "-1", "SECURE_HSTS_SECONDS=-1 is below the minimum 0"),
        ("SECURE_PROXY_SSL_HEADER", "X Forwarded Proto", "SECURE_PROXY_SSL_HEADER='X Forwarded Proto' is not a header name"),
        ("SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto=", "SECURE_PROXY_SSL_HEADER='X-Forwarded-Proto=' is not a header name"),
        ("LOGIN_FAILURE_LIMIT", "0", "LOGIN_FAILURE_LIMIT=0 is below the minimum 1"),
        ("LOGIN_COOLOFF_MINUTES", "soon", "LOGIN_COOLOFF_MINUTES='soon' is not an integer"),
        ("PASSWORD_MIN_LENGTH", "6", "PASSWORD_MIN_LENGTH=6 is below the minimum 8"),
        ("IMPORT_MAX_LINE_BYTES", "1MB", "IMPORT_MAX_LINE_BYTES='1MB' is not an integer"),
    ],
)
def test_a_bad_value_stops_start_up_naming_the_variable(tmp_path, variable, value, message):
    result = load(tmp_path, **{variable: value})
    assert result.returncode != 0 and message in result.stderr
