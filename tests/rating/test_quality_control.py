"""Gold accuracy, time per item and a flag per rater; excluding a rater keeps their judgements."""

import pytest

from tests.rating.conftest import full_ranks, lease_item
from webapp.rating import selectors
from webapp.rating.models import Entry, Judgement
from webapp.rating.services import judgements, leasing, rounds

pytestmark = pytest.mark.django_db


def rate_everything(rater, round, *, pass_gold: bool, active_ms: int):
    # Gold ids follow no order, so the queue might hand out only real items: a free gold item
    # goes first, then the queue's.
    gold = round.items.filter(is_gold=True, claimed__lt=round.overlap).first()
    first = lease_item(rater, gold) if gold is not None else None
    while (lease := first or leasing.item_lease(rater=rater, round=round)) is not None:
        first = None
        ranks = full_ranks(lease)
        if lease.item.is_gold:
            degraded = Entry.objects.get(item=lease.item, degraded=True).pk
            position = lease.shown_order.index(degraded)
            alias = chr(65 + position)
            worst = [a for a, r in ranks.items() if r == len(ranks)][0]
            target = len(ranks) if pass_gold else 1
            swap = [a for a, r in ranks.items() if r == target][0]
            ranks[alias], ranks[swap] = ranks[swap], ranks[alias]
            del worst
        judgements.judgement_submit(rater=rater, token=lease.token, ranks=ranks, active_ms=active_ms)


def test_gold_accuracy_median_time_and_the_flag_per_rater(make_round, make_rater):
    round = make_round(n_prompts=4, gold_share=0.5, overlap=2, min_gold_accuracy=0.8)
    careful, careless = make_rater("careful"), make_rater("careless")
    rate_everything(careful, round, pass_gold=True, active_ms=20000)
    rate_everything(careless, round, pass_gold=False, active_ms=2000)
    rows = {row.username: row for row in selectors.round_quality(round)}
    assert rows["careful"].gold_seen > 0 and rows["careful"].gold_accuracy == 1.0 and not rows["careful"].flagged
    assert rows["careless"].gold_seen > 0 and rows["careless"].gold_accuracy == 0.0 and rows["careless"].flagged
    assert rows["careful"].median_active_s == 20.0 and rows["careless"].median_active_s == 2.0
    assert rows["careful"].judgements == 4


def test_excluding_a_rater_keeps_their_judgements_and_marks_them_excluded_in_the_export(make_round, make_rater):
    round = make_round(n_prompts=2)
    kept, dropped = make_rater("kept"), make_rater("dropped")
    rate_everything(kept, round, pass_gold=True, active_ms=1000)
    rate_everything(dropped, round, pass_gold=True, active_ms=1000)
    rounds.round_rater_exclude(round=round, rater=dropped, excluded=True, reason="random clicking")
    assert Judgement.objects.filter(rater=dropped).count() == 2
    excluded = {r["rater"]: r["excluded"] for r in selectors.judgement_records(round)}
    assert excluded == {"kept": False, "dropped": True}
    rounds.round_rater_exclude(round=round, rater=dropped, excluded=False)
    assert not any(r["excluded"] for r in selectors.judgement_records(round))


def test_staff_see_the_quality_table_and_exclude_a_rater_from_the_admin(client, staff, make_round, make_rater):
    round = make_round(n_prompts=2, gold_share=0.5)
    careless = make_rater("careless")
    rate_everything(careless, round, pass_gold=False, active_ms=1500)
    client.force_login(staff)
    page = client.get(f"/admin/rating/round/{round.pk}/quality/").content.decode()
    assert "careless" in page and "below threshold" in page
    response = client.post(f"/admin/rating/round/{round.pk}/quality/", {"rater": careless.pk, "action": "exclude", "reason": "gold"})
    assert response.status_code == 302
    assert round.memberships.get(rater=careless).excluded
    assert "Include again" in client.get(f"/admin/rating/round/{round.pk}/quality/").content.decode()
