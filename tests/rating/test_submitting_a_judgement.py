"""A submit stores the whole judgement at once, with the shown order and timings, and brings the next item."""

import pytest

from tests.rating.conftest import token_in
from webapp.rating.models import Entry, Item, Judgement, Lease, Mark
from webapp.rating.services import judgements, leasing

pytestmark = pytest.mark.django_db


def test_a_judgement_stores_shown_order_ranks_harm_labels_and_times(make_round, rater):
    round = make_round(mode="both")
    lease = leasing.item_lease(rater=rater, round=round)
    judgement = judgements.judgement_submit(
        rater=rater, token=lease.token, ranks={"A": 2, "B": 1, "C": 3}, harmless={"A": True, "B": True, "C": False}, active_ms=4200
    )
    assert judgement.shown_order == lease.shown_order and judgement.active_ms == 4200 and judgement.server_ms >= 0
    marks = list(Mark.objects.filter(judgement=judgement).order_by("shown_position"))
    assert [(m.alias, m.entry_id, m.rank, m.harmless) for m in marks] == [
        ("A", lease.shown_order[0], 2, True),
        ("B", lease.shown_order[1], 1, True),
        ("C", lease.shown_order[2], 3, False),
    ]
    # The copies the reports read, aligned with the shown order like the marks.
    stored = Judgement.objects.get(pk=judgement.pk)
    assert (stored.ranks, stored.harmless) == ([2, 1, 3], [True, True, False])
    item = Item.objects.get(pk=lease.item_id)
    assert (item.judged, item.claimed) == (1, 1)
    assert Lease.objects.get(pk=lease.pk).state == Lease.State.DONE


def test_the_shown_order_is_random_per_rater(make_round, make_rater):
    round = make_round(n_prompts=1, overlap=40)
    orders = {tuple(leasing.item_lease(rater=make_rater(f"r{i}"), round=round).shown_order) for i in range(40)}
    assert len(orders) > 1
    assert set(orders.pop()) == set(Entry.objects.values_list("id", flat=True))


def test_the_next_item_arrives_as_an_htmx_swap_with_progress_advanced(client, make_round, rater):
    round = make_round(n_prompts=3)
    client.force_login(rater)
    first = client.get(f"/rate/{round.pk}/", follow=True)
    page = first.content.decode()
    assert '<div id="rating-panel"' in page and "<html" in page and 'data-count="done">0<' in page
    response = client.post(
        f"/rate/{round.pk}/submit/",
        {"token": token_in(page), "rank_A": "1", "rank_B": "3", "rank_C": "2", "active_ms": "3100"},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and html.lstrip().startswith('<div id="rating-panel"')
    assert "Saved. Here is the next item." in html and 'data-count="done">1<' in html and 'data-count="left">1<' in html
    new_lease = Lease.objects.get(rater=rater, state="active")
    assert response["HX-Push-Url"] == f"/rate/{round.pk}/items/{new_lease.item_id}/"
    assert token_in(html) == new_lease.token
    assert Judgement.objects.get(rater=rater).active_ms == 3100


def test_a_plain_form_post_without_javascript_works_too(client, make_round, rater):
    round = make_round(n_prompts=2)
    client.force_login(rater)
    page = client.get(f"/rate/{round.pk}/", follow=True).content.decode()
    response = client.post(f"/rate/{round.pk}/submit/", {"token": token_in(page), "rank_A": "1", "rank_B": "2", "rank_C": "3"})
    assert response.status_code == 200 and "<html" in response.content.decode()
    assert Judgement.objects.count() == 1


def test_when_nothing_is_left_the_page_says_so(client, make_round, rater):
    round = make_round(n_prompts=1)
    client.force_login(rater)
    page = client.get(f"/rate/{round.pk}/", follow=True).content.decode()
    response = client.post(f"/rate/{round.pk}/submit/", {"token": token_in(page), "rank_A": "1", "rank_B": "2", "rank_C": "3"}, HTTP_HX_REQUEST="true")
    assert "Nothing left for you in this round" in response.content.decode()
