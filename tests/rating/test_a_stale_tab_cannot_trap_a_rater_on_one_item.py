"""A tab left open past its lease, then a reload elsewhere that leases the same item to the same
rater again: the stale tab's submit saves once, the rater moves on to another item, and an
item's claims always equal its live leases plus its judgements."""

from datetime import timedelta

import pytest
from django.db.models import Count, Q
from django.utils import timezone

from tests.rating.conftest import full_ranks
from webapp.rating.models import Item, Judgement, Lease
from webapp.rating.services import errors, judgements, leasing

pytestmark = pytest.mark.django_db


def assert_claims_are_live_leases_plus_judgements(round) -> None:
    items = Item.objects.filter(round=round).annotate(
        live=Count("leases", filter=Q(leases__state=Lease.State.ACTIVE), distinct=True),
        saved=Count("judgements", distinct=True),
    )
    for item in items:
        assert item.claimed == item.live + item.saved, f"item {item.pk}: {item.claimed} claims, {item.live} leases + {item.saved} judgements"
        assert item.judged == item.saved


@pytest.fixture
def reissued(make_round, rater):
    """A rater whose first lease expired and whose reload leased them the same item again."""
    round = make_round(n_prompts=3, overlap=2, lease_minutes=5)
    stale = leasing.item_lease(rater=rater, round=round)
    later = timezone.now() + timedelta(minutes=6)
    fresh = leasing.item_lease(rater=rater, round=round, now=later)
    assert fresh.pk != stale.pk and fresh.item_id == stale.item_id
    assert_claims_are_live_leases_plus_judgements(round)
    return round, stale, fresh, later


def test_the_stale_tab_saves_once_and_the_next_item_is_a_different_one(reissued, rater):
    round, stale, fresh, later = reissued
    judgements.judgement_submit(rater=rater, token=stale.token, ranks=full_ranks(stale), now=later)
    assert_claims_are_live_leases_plus_judgements(round)
    assert Item.objects.get(pk=stale.item_id).claimed == 1
    following = leasing.item_lease(rater=rater, round=round, now=later)
    assert following is not None and following.item_id != stale.item_id
    assert_claims_are_live_leases_plus_judgements(round)


def test_the_fresh_tab_is_then_told_it_was_already_saved(reissued, rater):
    round, stale, fresh, later = reissued
    judgements.judgement_submit(rater=rater, token=stale.token, ranks=full_ranks(stale), now=later)
    with pytest.raises(errors.AlreadySubmitted):
        judgements.judgement_submit(rater=rater, token=fresh.token, ranks=full_ranks(fresh), now=later)
    assert Judgement.objects.filter(rater=rater).count() == 1
    assert_claims_are_live_leases_plus_judgements(round)


def test_the_stale_tab_is_told_it_was_already_saved_when_the_fresh_one_saved_first(reissued, rater):
    round, stale, fresh, later = reissued
    judgements.judgement_submit(rater=rater, token=fresh.token, ranks=full_ranks(fresh), now=later)
    with pytest.raises(errors.AlreadySubmitted):
        judgements.judgement_submit(rater=rater, token=stale.token, ranks=full_ranks(stale), now=later)
    assert Judgement.objects.filter(rater=rater).count() == 1
    assert_claims_are_live_leases_plus_judgements(round)
    assert leasing.item_lease(rater=rater, round=round, now=later).item_id != stale.item_id


def test_claims_hold_through_leases_skips_expiries_and_late_submits(make_round, make_rater):
    round = make_round(n_prompts=4, overlap=2, lease_minutes=5)
    raters = [make_rater(name) for name in ("a", "b", "c")]
    now = timezone.now()
    for step in range(12):
        now += timedelta(minutes=3)
        rater = raters[step % 3]
        lease = leasing.item_lease(rater=rater, round=round, now=now)
        if lease is None:
            continue
        if step % 4 == 0:
            leasing.lease_skip(rater=rater, token=lease.token)
        elif step % 4 == 1:
            judgements.judgement_submit(rater=rater, token=lease.token, ranks=full_ranks(lease), now=now + timedelta(minutes=7))
        elif step % 4 == 2:
            judgements.judgement_submit(rater=rater, token=lease.token, ranks=full_ranks(lease), now=now)
        assert_claims_are_live_leases_plus_judgements(round)
    leasing.leases_expire(round=round, now=now + timedelta(hours=1))
    assert_claims_are_live_leases_plus_judgements(round)
