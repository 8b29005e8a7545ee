"""Staff open the report of a filled experiment in chromium: the Plotly charts render from our
own plotly.js, new judgements appear without a reload, and every page is screenshotted at
desktop and phone size (test-artifacts/)."""

from __future__ import annotations

import random

import pytest
from django.contrib.auth.models import Permission, User
from playwright.sync_api import expect

from tests.reports.conftest import PASSWORD, fill_round
from webapp.pipeline.services.ai_judge import round_ai_judge
from webapp.rating.services import rounds
from webapp.reports.selectors import judgement_counts

# reset_sequences: the queue breaks ties by item and rater id, so with the ids left by earlier
# tests the late rater below was once given only gold items and the count of used judgements
# could not change. Fresh ids make the filled round, and what is left in its queue, the same
# in every run.
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, reset_sequences=True)]


def log_in_as_staff(page) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("boss")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/")


def charts_drawn(page, at_least: int) -> None:
    expect(page.locator(".js-plotly-plot .main-svg").nth(at_least - 1)).to_be_attached(timeout=15_000)


def test_staff_see_the_charts_render_and_the_results_update_live(open_page, artifacts, make_filled, make_runs, make_rater):
    boss = User.objects.create_user(username="boss", password=PASSWORD, is_staff=True)
    # Staff see an experiment's pages and its report with these two permissions (webapp.access).
    boss.user_permissions.add(*Permission.objects.filter(codename__in=["view_experiment", "view_judgement"]))
    filled = make_filled(slug="browsed", n_prompts=40, n_raters=4, overlap=3, contrarian=True)
    rounds.round_rater_exclude(round=filled.round, rater=filled.contrarian, excluded=True, reason="always ranks SFT first")
    make_runs(filled.experiment)
    slug = filled.experiment.slug

    page = open_page(1280, 800)
    log_in_as_staff(page)
    page.goto(f"/experiments/{slug}/")
    page.get_by_role("link", name="Report: win rates").click()
    expect(page.get_by_role("heading", name="Win rates vs sft", exact=True)).to_be_visible()
    charts_drawn(page, 5)  # win rates, Bradley–Terry, harmless, lengths, length-adjusted
    expect(page.locator(".excluded-note")).to_contain_text(filled.contrarian.username)
    page.screenshot(path=str(artifacts / "report-results-1280x800.png"), full_page=True)

    # Live: a late rater's judgements reach the open page through the 10-second poll, and the
    # page then shows exactly the counts in the database. The wait allows several polls: on a
    # loaded 2-core machine one poll's report build can take longer than the period.
    before = judgement_counts(filled.experiment)
    fill_round(filled.round, [make_rater("late")], random.Random(3))
    after = judgement_counts(filled.experiment)
    assert after["included"] > before["included"], "the late rater's judgements must count in the report"
    summary = page.locator("dl.summary")
    expect(summary.locator("div", has_text="Judgements used").locator("dd")).to_have_text(str(after["included"]), timeout=60_000)
    expect(summary.locator("div", has_text="Gold, left out").locator("dd")).to_have_text(str(after["gold"]))

    # The AI judge (the bundled model) scores a third of the items: the PPI++ tables appear.
    round_ai_judge(round=filled.round, limit=12)
    page.reload()
    assisted = page.locator("section#ai_assisted")
    expect(assisted.get_by_role("heading", name="AI-assisted win rates vs sft (PPI++)")).to_be_visible()
    expect(assisted.get_by_role("columnheader", name="Worth in human judgements")).to_be_visible()
    expect(assisted.locator("tbody tr")).to_have_count(2)
    assisted.screenshot(path=str(artifacts / "report-ai-judge-1280x800.png"))
    harmless = page.locator("section#ai_harmless")
    expect(harmless.locator("tbody tr")).to_have_count(3)
    harmless.screenshot(path=str(artifacts / "report-ai-judge-harmless-1280x800.png"))
    charts_drawn(page, 5)

    page.get_by_role("link", name="AI labeler & training").click()
    expect(page.get_by_role("heading", name="Prompting techniques (the paper's Table 2)")).to_be_visible()
    charts_drawn(page, 4)  # position bias, calibration, RM accuracy vs pairs, a training run
    page.screenshot(path=str(artifacts / "report-alignment-1280x800.png"), full_page=True)
    expect(page.locator("section#judge_bias tbody tr")).to_have_count(1)
    page.locator("section#judge_bias").screenshot(path=str(artifacts / "report-judge-bias-1280x800.png"))
    page.get_by_role("link", name="Raters", exact=True).click()
    expect(page.get_by_role("heading", name="Agreement between raters", exact=True)).to_be_visible()
    page.screenshot(path=str(artifacts / "report-raters-1280x800.png"), full_page=True)
    page.get_by_role("link", name="Cost").click()
    charts_drawn(page, 1)
    page.screenshot(path=str(artifacts / "report-cost-1280x800.png"), full_page=True)

    page.get_by_role("link", name="Sample size").click()
    page.get_by_label("Win rate", exact=True).fill("0.65")
    page.get_by_role("button", name="Compute").click()
    expect(page.locator("#plan-result")).to_contain_text("rated items")

    phone = open_page(390, 844)
    log_in_as_staff(phone)
    phone.goto(f"/experiments/{slug}/report/")
    charts_drawn(phone, 5)
    phone.screenshot(path=str(artifacts / "report-results-390x844.png"), full_page=True)
    phone.goto(f"/experiments/{slug}/report/alignment/")
    charts_drawn(phone, 4)
    phone.screenshot(path=str(artifacts / "report-alignment-390x844.png"), full_page=True)
