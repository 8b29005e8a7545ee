"""The queue: least-rated first, never twice to one rater, leased so slots are not overfilled."""

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.rating.conftest import full_ranks
from webapp.rating import selectors
from webapp.rating.models import Item, Lease
from webapp.rating.services import errors, judgements, leasing, rounds

pytestmark = pytest.mark.django_db


def test_the_next_item_is_one_the_rater_has_not_done_least_rated_first(make_round, make_rater):
    round = make_round(n_prompts=3, overlap=3)
    first, second = make_rater("a"), make_rater("b")
    lease = leasing.item_lease(rater=first, round=round)
    judgements.judgement_submit(rater=first, token=lease.token, ranks=full_ranks(lease))
    other = leasing.item_lease(rater=second, round=round)
    assert other.item_id != lease.item_id  # the judged item is now the most rated
    again = leasing.item_lease(rater=first, round=round)
    assert again.item_id not in (lease.item_id,)


def test_a_rater_who_comes_back_gets_the_same_leased_item_in_the_same_order(make_round, rater):
    round = make_round()
    lease = leasing.item_lease(rater=rater, round=round)
    back = leasing.item_lease(rater=rater, round=round)
    assert back.pk == lease.pk and back.shown_order == lease.shown_order


def test_two_raters_cannot_fill_the_last_slot_of_an_item(make_round, make_rater):
    round = make_round(n_prompts=1, overlap=1)
    holder, latecomer = make_rater("a"), make_rater("b")
    assert leasing.item_lease(rater=holder, round=round) is not None
    assert leasing.item_lease(rater=latecomer, round=round) is None
    assert Item.objects.get(round=round).claimed == 1


def test_an_expired_lease_gives_its_slot_back_to_the_queue(make_round, make_rater):
    round = make_round(n_prompts=1, overlap=1, lease_minutes=5)
    holder, latecomer = make_rater("a"), make_rater("b")
    lease = leasing.item_lease(rater=holder, round=round)
    later = timezone.now() + timedelta(minutes=6)
    taken = leasing.item_lease(rater=latecomer, round=round, now=later)
    assert taken is not None and taken.item_id == lease.item_id
    lease.refresh_from_db()
    assert lease.state == Lease.State.EXPIRED
    with pytest.raises(errors.LeaseLost):
        judgements.judgement_submit(rater=holder, token=lease.token, ranks=full_ranks(lease), now=later)


def test_a_late_submit_is_still_taken_when_the_item_has_room(make_round, rater):
    round = make_round(n_prompts=1, overlap=2, lease_minutes=5)
    lease = leasing.item_lease(rater=rater, round=round)
    later = timezone.now() + timedelta(minutes=6)
    leasing.leases_expire(round=round, now=later)
    judgement = judgements.judgement_submit(rater=rater, token=lease.token, ranks=full_ranks(lease), now=later)
    item = Item.objects.get(round=round)
    assert judgement.pk and (item.claimed, item.judged) == (1, 1)


def test_skipping_gives_another_item_and_the_skipped_one_is_not_offered_again(make_round, rater):
    round = make_round(n_prompts=2)
    lease = leasing.item_lease(rater=rater, round=round)
    leasing.lease_skip(rater=rater, token=lease.token, reason="not my topic")
    nxt = leasing.item_lease(rater=rater, round=round)
    assert nxt.item_id != lease.item_id
    leasing.lease_skip(rater=rater, token=nxt.token)
    assert leasing.item_lease(rater=rater, round=round) is None
    assert Lease.objects.get(pk=lease.pk).skip_reason == "not my topic"
    assert Item.objects.get(pk=lease.item_id).claimed == 0


def test_progress_counts_done_assigned_and_left(make_round, rater):
    round = make_round(n_prompts=4)
    lease = leasing.item_lease(rater=rater, round=round)
    assert selectors.rater_progress(round=round, rater=rater) == selectors.RaterProgress(done=0, assigned=1, left=3)
    judgements.judgement_submit(rater=rater, token=lease.token, ranks=full_ranks(lease))
    assert selectors.rater_progress(round=round, rater=rater) == selectors.RaterProgress(done=1, assigned=0, left=3)


def test_a_rater_never_sees_the_gold_copy_of_a_prompt_they_already_judged(make_round, rater):
    round = make_round(n_prompts=2, gold_share=0.5, overlap=1)
    seen_prompts = []
    while (lease := leasing.item_lease(rater=rater, round=round)) is not None:
        seen_prompts.append(lease.item.prompt_id)
        judgements.judgement_submit(rater=rater, token=lease.token, ranks=full_ranks(lease))
    assert len(seen_prompts) == len(set(seen_prompts)) == 2


def test_the_queue_refuses_a_closed_round(make_round, rater):
    round = make_round()
    rounds.round_open(round=round, is_open=False)
    with pytest.raises(errors.RoundClosed):
        leasing.item_lease(rater=rater, round=round)
