"""A rater ranks by drag and drop and by keyboard alone, is stopped on a tie, labels harm, and sees
progress move; a second rater in another browser never gets the item the first one holds."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.rating.browser.conftest import log_in
from webapp.rating.models import Judgement, Lease, Mark

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "rating-pass-123"


def focus_by_tab(page, selector: str, limit: int = 80) -> None:
    """Press Tab until the focused element matches ``selector``: keyboard only, no clicks."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def done_count(page) -> str:
    return page.locator('[data-count="done"]').inner_text()


def test_a_rater_ranks_by_drag_and_drop_and_by_keyboard_and_cannot_submit_a_tie(open_page, make_round, make_rater, artifacts):
    round = make_round(n_prompts=6, overlap=1, mode="both", instructions="Put the most helpful and harmless response first.")
    first = make_rater("first", PASSWORD)
    make_rater("second", PASSWORD)

    page = open_page(1280, 800)
    log_in(page, "first", PASSWORD)
    expect(page.get_by_role("heading", name="Rank the responses and judge each one")).to_be_visible()
    expect(page.locator('[data-count="done"]')).to_have_text("0")
    expect(page.locator("li.response")).to_have_count(3)
    page.screenshot(path=str(artifacts / "rating-1280x800.png"), full_page=True)
    held = Lease.objects.get(rater=first, state="active")
    assert page.url.endswith(f"/rate/{round.pk}/items/{held.item_id}/")

    # A second rater, in a browser context of their own, is handed a different item and
    # cannot open the first rater's item by its address.
    other = open_page(390, 844)
    log_in(other, "second", PASSWORD)
    expect(other.locator("li.response")).to_have_count(3)
    assert Lease.objects.get(rater__username="second", state="active").item_id != held.item_id
    other.screenshot(path=str(artifacts / "rating-390x844.png"), full_page=True)
    refused = other.goto(f"/rate/{round.pk}/items/{held.item_id}/")
    assert refused.status == 404
    expect(other.get_by_role("heading", name="This item is not yours to rate")).to_be_visible()

    # Item 1, by drag and drop: C is dragged above A; the list order becomes the ranking.
    page.drag_and_drop('li[data-alias="C"] .response-head', 'li[data-alias="A"] .response-head', target_position={"x": 20, "y": 2})
    expect(page.locator("#order-summary")).to_have_text("Your order: 1. Response C, 2. Response A, 3. Response B.")
    expect(page.locator("li.response").first).to_have_attribute("data-alias", "C")
    for alias, verdict in (("A", "Harmless"), ("B", "Harmful"), ("C", "Harmless")):
        page.locator(f'li[data-alias="{alias}"] .harm-choice').get_by_text(verdict, exact=True).click()
    page.get_by_role("button", name="Submit and go to the next").click()
    expect(page.locator("#rating-status")).to_have_text("Saved. Here is the next item.")
    expect(page.locator('[data-count="done"]')).to_have_text("1")
    judgement = Judgement.objects.get(rater=first)
    ranks = dict(Mark.objects.filter(judgement=judgement).values_list("alias", "rank"))
    harm = dict(Mark.objects.filter(judgement=judgement).values_list("alias", "harmless"))
    assert ranks == {"C": 1, "A": 2, "B": 3} and harm == {"A": True, "B": False, "C": True}
    assert judgement.active_ms is not None and judgement.active_ms > 0
    assert page.evaluate("() => performance.getEntriesByType('navigation').length") == 1  # swapped, not reloaded

    # Item 2, by keyboard alone. First a tie: A and B both get rank 1.
    focus_by_tab(page, 'li[data-alias="A"]')
    page.keyboard.press("1")
    focus_by_tab(page, 'li[data-alias="B"]')
    page.keyboard.press("1")
    focus_by_tab(page, 'li[data-alias="C"]')
    page.keyboard.press("3")
    for alias in "ABC":
        focus_by_tab(page, f'input[name="harm_{alias}"]')
        page.keyboard.press("Space")
    focus_by_tab(page, 'button[type="submit"].primary')
    page.keyboard.press("Enter")
    problems = page.locator("#form-problems")
    expect(problems).to_be_visible()
    expect(problems).to_contain_text("No ties: Response A and Response B share rank 1.")
    page.screenshot(path=str(artifacts / "rating-tie-refused-1280x800.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(artifacts / "rating-tie-refused-390x844.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})
    assert Judgement.objects.filter(rater=first).count() == 1

    # Fix it: B gets rank 2; then the arrow keys move C up and back down (a move gives every
    # response its position as rank).
    focus_by_tab(page, 'li[data-alias="B"]')
    page.keyboard.press("2")
    expect(problems).to_be_hidden()
    focus_by_tab(page, 'li[data-alias="C"]')
    page.keyboard.press("ArrowUp")
    expect(page.locator("#order-summary")).to_have_text("Your order: 1. Response A, 2. Response C, 3. Response B.")
    page.keyboard.press("ArrowDown")
    expect(page.locator("#order-summary")).to_have_text("Your order: 1. Response A, 2. Response B, 3. Response C.")
    focus_by_tab(page, 'input[name="harm_B"]')
    page.keyboard.press("ArrowRight")  # B: harmful
    focus_by_tab(page, 'button[type="submit"].primary')
    page.keyboard.press("Enter")
    expect(page.locator('[data-count="done"]')).to_have_text("2")
    second = Judgement.objects.filter(rater=first).order_by("id").last()
    assert dict(second.marks.values_list("alias", "rank")) == {"A": 1, "B": 2, "C": 3}
    assert dict(second.marks.values_list("alias", "harmless")) == {"A": True, "B": False, "C": True}
    assert not Lease.objects.filter(rater__username="second", state="active", item_id__in=[judgement.item_id, second.item_id]).exists()
