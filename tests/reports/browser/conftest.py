"""The rating app's Playwright fixtures (Debian chromium, a fresh context per page), reused."""

from tests.rating.browser.conftest import artifacts, browser, open_page  # noqa: F401
