"""The production profile as documented: DEBUG off, collectstatic, gunicorn behind an HTTPS
proxy. The log-in page, a rater's rating page and the staff pages (home, experiment, report,
admin) load, and so does every stylesheet and script they reference."""

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.security.https_client import ProxiedClient, page_assets
from tests.security.production import ROOT, production_environment


def manage(environment, *args) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A migrated lab with the demo and its rating round, collected static files, gunicorn."""
    folder = tmp_path_factory.mktemp("production")
    # Loopback instead of the README's host name: the proxy in front is this test's client.
    environment = production_environment(folder, ALLOWED_HOSTS="127.0.0.1", CSRF_TRUSTED_ORIGINS="")
    manage(environment, "migrate", "--noinput", "-v", "0")
    users = manage(environment, "create_lab_users")
    passwords = dict(
        (line.split("username:")[1].split()[0], line.split("password:")[1].strip())
        for line in users.splitlines() if "password:" in line
    )
    manage(environment, "load_demo")
    manage(environment, "make_round", "--experiment", "demo", "--if-none")
    manage(environment, "collectstatic", "--noinput", "-v", "0")
    port = free_port()
    gunicorn = Path(sys.executable).parent / "gunicorn"
    process = subprocess.Popen(
        [str(gunicorn), "webapp.wsgi", "-b", f"127.0.0.1:{port}", "-k", "gthread", "--threads", "4"],
        cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"gunicorn did not start:\n{process.stdout.read()}")
            time.sleep(0.2)
    yield port, passwords
    process.terminate()
    process.wait(timeout=30)


def assert_assets_load(client: ProxiedClient, html: str) -> list[str]:
    assets = page_assets(html)
    assert assets, "the page references no stylesheet or script"
    for url in assets:
        response = client.get(url)
        assert response.status == 200, f"{url}: {response.status}"
        assert response.body, f"{url} is empty"
    return assets


def test_the_log_in_page_and_its_css_and_htmx_load(server):
    port, _ = server
    client = ProxiedClient(port)
    page = client.get("/accounts/login/")
    assert page.status == 200 and "Log in" in page.text
    assets = assert_assets_load(client, page.text)
    # Hashed names: collectstatic's manifest is in use, so browsers may cache them for good.
    assert any(url.startswith("/static/css/lab.") and url.endswith(".css") and url != "/static/css/lab.css" for url in assets)
    assert any("htmx" in url for url in assets)
    assert "max-age=31536000" in client.get(assets[0]).headers.get("cache-control", "")
    assert "strict-transport-security" in page.headers


def test_plain_http_is_redirected_to_https(server):
    port, _ = server
    response = ProxiedClient(port).request("GET", "/accounts/login/", https=False)
    assert response.status == 301 and response.headers["location"] == f"https://127.0.0.1:{port}/accounts/login/"


def test_a_rater_logs_in_with_secure_cookies_and_the_rating_page_loads_its_script(server):
    port, passwords = server
    client = ProxiedClient(port)
    login = client.log_in("rater", passwords["rater"])
    assert login.status == 302, login.text
    assert all("Secure" in cookie for cookie in login.cookies)
    page = client.get("/rate/")
    assert page.status == 200 and "Response A" in page.text
    assets = assert_assets_load(client, page.text)
    assert any("rating/rating." in url and url.endswith(".js") for url in assets)


def test_staff_pages_home_experiment_report_and_admin_load_their_assets(server):
    port, passwords = server
    client = ProxiedClient(port)
    assert client.log_in("admin", passwords["admin"]).status == 302
    seen = []
    for path in ("/", "/experiments/demo/", "/experiments/demo/report/", "/admin/"):
        page = client.get(path)
        assert page.status == 200, f"{path}: {page.status}"
        seen += assert_assets_load(client, page.text)
    assert any("reports/reports." in url for url in seen) and any("/static/admin/" in url for url in seen)
