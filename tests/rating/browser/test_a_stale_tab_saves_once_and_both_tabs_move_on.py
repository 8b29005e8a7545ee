"""Two tabs of one rater and a short lease: the first tab is left open past its lease, a second
tab is handed the same item again; the first tab's submit saves once and moves to a different
item, and the second tab's submit says it was already saved and moves on too."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from tests.rating.browser.conftest import log_in
from tests.rating.test_a_stale_tab_cannot_trap_a_rater_on_one_item import assert_claims_are_live_leases_plus_judgements
from webapp.rating.models import Judgement, Lease

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "rating-pass-123"


def rank_in_shown_order(page) -> None:
    for n, alias in enumerate("ABC", start=1):
        page.locator(f'li[data-alias="{alias}"] .rank-choice').get_by_text(str(n), exact=True).click()
    expect(page.locator("#order-summary")).to_have_text("Your order: 1. Response A, 2. Response B, 3. Response C.")


def test_a_stale_tab_saves_once_and_both_tabs_move_on_to_other_items(open_page, make_round, make_rater):
    round = make_round(n_prompts=4, overlap=2, lease_minutes=1)
    rater = make_rater("tabby", PASSWORD)
    stale_tab = open_page()
    log_in(stale_tab, "tabby", PASSWORD)
    first = Lease.objects.get(rater=rater, state="active")
    item_url = f"/rate/{round.pk}/items/{first.item_id}/"
    assert stale_tab.url.endswith(item_url)

    # The lease runs out while the tab sits open (its minute, moved into the past).
    Lease.objects.filter(pk=first.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    fresh_tab = stale_tab.context.new_page()
    fresh_tab.goto(f"/rate/{round.pk}/")
    assert fresh_tab.url.endswith(item_url)  # the same item, leased to the same rater again
    assert Lease.objects.filter(rater=rater, state="active").exclude(pk=first.pk).get().item_id == first.item_id

    rank_in_shown_order(stale_tab)
    stale_tab.get_by_role("button", name="Submit and go to the next").click()
    expect(stale_tab.locator("#rating-status")).to_have_text("Saved. Here is the next item.")
    expect(stale_tab.locator('[data-count="done"]')).to_have_text("1")
    assert not stale_tab.url.endswith(item_url)
    assert Judgement.objects.filter(rater=rater).count() == 1
    assert_claims_are_live_leases_plus_judgements(round)

    rank_in_shown_order(fresh_tab)
    fresh_tab.get_by_role("button", name="Submit and go to the next").click()
    expect(fresh_tab.locator("#rating-error")).to_contain_text("already saved")
    expect(fresh_tab.locator("#rating-status")).to_have_text("Here is the next item.")
    expect(fresh_tab.locator("li.response")).to_have_count(3)
    held = Lease.objects.get(rater=rater, state="active")
    assert held.item_id != first.item_id
    assert fresh_tab.url.endswith(f"/rate/{round.pk}/items/{held.item_id}/")
    assert Judgement.objects.filter(rater=rater).count() == 1
    assert_claims_are_live_leases_plus_judgements(round)
