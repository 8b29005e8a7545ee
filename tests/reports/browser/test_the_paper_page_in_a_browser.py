"""Staff open the paper page of an experiment filled by the real commands (tiny sizes) in
chromium: Figure 5 is drawn from our own plotly.js, the table of contents and the run links are
reachable from the keyboard, and the page is screenshotted (test-artifacts/report-paper-1280x800.png)."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission, User
from django.core.cache import cache
from playwright.sync_api import expect

from tests.reports.browser.test_the_report_in_a_browser import charts_drawn, log_in_as_staff
from tests.reports.conftest import PASSWORD
from tests.reports.paper_data import fill_paper_blocks
from webapp.experiments.models import Experiment

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True, reset_sequences=True)]


def test_staff_read_the_paper_page_and_follow_a_run_link(open_page, artifacts, make_filled, bundled_lm, tmp_path):
    boss = User.objects.create_user(username="boss", password=PASSWORD, is_staff=True)
    boss.user_permissions.add(*Permission.objects.filter(codename__in=["view_experiment", "view_judgement"]))
    filled = make_filled(slug="paper", n_prompts=12, n_raters=3)
    Experiment.objects.filter(pk=filled.experiment.pk).update(task="helpful")
    fill_paper_blocks(Experiment.objects.get(pk=filled.experiment.pk), tmp_path)
    cache.clear()

    page = open_page(1280, 800)
    log_in_as_staff(page)
    page.goto("/experiments/paper/report/")
    page.get_by_role("link", name="Paper", exact=True).click()
    expect(page.get_by_role("heading", name="Table 1: win rates vs SFT, and RLAIF vs RLHF")).to_be_visible()
    charts_drawn(page, 1)  # Figure 5
    expect(page.locator("section#paper_table1 tbody tr")).to_have_count(3)  # rlaif and rlhf vs SFT, RLAIF vs RLHF
    expect(page.locator("section#paper_appendix_m tbody tr")).to_have_count(2)
    page.screenshot(path=str(artifacts / "report-paper-1280x800.png"), full_page=True)

    # The table of contents takes the keyboard to a block; its CSV link is the next stop.
    toc = page.get_by_role("navigation", name="On this page").get_by_role("link", name="Figure 5: reward-model accuracy vs training pairs")
    toc.focus()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/report/paper/#paper_figure5$"))
    csv_link = page.locator("section#paper_figure5 a.csv")
    expect(csv_link).to_have_attribute("href", "/experiments/paper/report/csv/paper_figure5.csv")
