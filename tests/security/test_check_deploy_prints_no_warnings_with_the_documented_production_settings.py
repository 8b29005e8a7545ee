"""`manage.py check --deploy` with DEBUG off and the README's production variables: no warnings."""

import subprocess
import sys

from tests.security.production import ROOT, production_environment


def check_deploy(environment) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300,
    )


def test_check_deploy_prints_no_warnings_with_the_documented_production_settings(tmp_path):
    result = check_deploy(production_environment(tmp_path))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "System check identified no issues (0 silenced)." in output
    assert "WARNING" not in output


def test_without_the_https_variables_check_deploy_names_what_is_missing(tmp_path):
    # The same check, proving it looks: the four warnings the HTTPS variables silence.
    environment = production_environment(tmp_path)
    for name in ("SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS"):
        del environment[name]
    result = check_deploy(environment)
    assert result.returncode != 0
    for warning in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert warning in result.stderr + result.stdout
