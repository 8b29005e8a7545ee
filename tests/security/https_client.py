"""A small HTTP client for a server behind a pretend HTTPS proxy: it sends what the proxy would
(``X-Forwarded-Proto: https``, the Origin of the https site) and keeps the cookies itself, since
the standard library's cookie jar never sends a Secure cookie over the plain connection."""

from __future__ import annotations

import http.client
import re
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urlsplit


class Response:
    def __init__(self, status: int, headers: list[tuple[str, str]], body: bytes):
        self.status, self.body = status, body
        self.headers = {name.lower(): value for name, value in headers}
        self.cookies = [value for name, value in headers if name.lower() == "set-cookie"]

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


class ProxiedClient:
    def __init__(self, port: int):
        self.port, self.cookies = port, {}
        self.origin = f"https://127.0.0.1:{port}"

    def request(self, method: str, path: str, *, form: dict | None = None, https: bool = True) -> Response:
        headers = {"Host": f"127.0.0.1:{self.port}"}
        if https:
            headers["X-Forwarded-Proto"] = "https"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urlencode(form)
            headers.update({"Content-Type": "application/x-www-form-urlencoded", "Origin": self.origin, "Referer": self.origin + path})
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request(method, path, body=body, headers=headers)
            raw = connection.getresponse()
            response = Response(raw.status, raw.getheaders(), raw.read())
        finally:
            connection.close()
        for header in response.cookies:
            for name, morsel in SimpleCookie(header).items():
                self.cookies[name] = morsel.value
        return response

    def get(self, path: str, *, follow: bool = True) -> Response:
        response = self.request("GET", path)
        while follow and response.status in (301, 302, 303):
            location = urlsplit(response.headers["location"])
            response = self.request("GET", location.path + (f"?{location.query}" if location.query else ""))
        return response

    def log_in(self, username: str, password: str) -> Response:
        page = self.get("/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        return self.request(
            "POST", "/accounts/login/", form={"csrfmiddlewaretoken": token, "username": username, "password": password}
        )


class _Assets(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        found = dict(attrs)
        url = found.get("href") if tag == "link" else found.get("src") if tag == "script" else None
        if url and not url.startswith("data:"):
            self.urls.append(url)


def page_assets(html: str) -> list[str]:
    """Every ``<link href>`` and ``<script src>`` of a page (inline data: URLs left out)."""
    parser = _Assets()
    parser.feed(html)
    return parser.urls
