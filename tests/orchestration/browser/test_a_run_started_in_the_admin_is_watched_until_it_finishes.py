"""Staff start a run from the admin's experiment list and watch its page, updated by htmx polling,
reach "Finished" while a real worker process does the stages; then the polling stops.

Real processes throughout: `manage.py runserver` and `celery -A webapp worker` on the lab's own
database and broker, chromium driven by Playwright. The arms are just SFT (prepare the model,
sample two test prompts, open the round), to keep the CPU time to a few seconds."""

import time

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]
PASSWORD = "pipeline-pass-123"


def test_staff_start_a_run_in_the_admin_and_the_run_page_reaches_finished(lab, browser, artifacts):
    lab.import_tiny(train=2, test=2)
    lab.query(f"from django.contrib.auth.models import User\nUser.objects.create_superuser('boss', '', '{PASSWORD}')\nresult = 1")
    base_url = lab.start_server()
    lab.start_worker()
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=base_url)
    context.set_default_timeout(20_000)
    page = context.new_page()
    try:
        page.goto("/admin/login/?next=/admin/experiments/experiment/")
        page.get_by_label("Username").fill("boss")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in").click()
        page.locator("tr", has_text="tiny").locator("input.action-select").check()
        page.locator('select[name="action"]').select_option("run_experiment")
        page.get_by_role("button", name="Go", exact=True).click()

        expect(page.get_by_role("heading", name="Run Tiny")).to_be_visible()
        for arm in ("rlhf", "rlaif"):  # checked by default; this run compares nothing but SFT
            page.locator(f'input[name="arms"][value="{arm}"]').uncheck()
        expect(page.locator('input[name="size"][value="demo"]')).to_be_checked()
        page.get_by_role("button", name="Run experiment").click()

        expect(page.get_by_role("heading", name="Pipeline run #1")).to_be_visible()
        expect(page.locator("#stage-samples-sft")).to_be_visible()
        expect(page.locator("#run-state")).to_have_text("Finished", timeout=600_000)
        expect(page.locator("li.stage[data-state=succeeded]")).to_have_count(3)
        expect(page.get_by_role("link", name="evaluation round #1")).to_be_visible()
        expect(page.locator("#stage-samples-sft .progress-text")).to_contain_text("2 / 2 prompts")
        page.screenshot(path=str(artifacts / "pipeline-run-1280x900.png"), full_page=True)

        polls = []
        page.on("request", lambda request: polls.append(request.url) if "/runs/1/" in request.url else None)
        time.sleep(5)
        assert polls == []  # a finished run's page no longer polls

        page.set_viewport_size({"width": 390, "height": 844})
        page.screenshot(path=str(artifacts / "pipeline-run-390x844.png"), full_page=True)
    finally:
        context.close()
