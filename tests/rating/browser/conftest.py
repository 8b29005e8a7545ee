"""Helpers for the rating browser tests; the Playwright fixtures live in tests/browser_fixtures.py."""

from __future__ import annotations


def log_in(page, username: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/rate/**")
