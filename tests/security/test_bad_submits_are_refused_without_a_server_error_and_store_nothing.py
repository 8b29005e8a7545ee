"""Bad submits and skips, as a careless client or a curious rater might send them: each is refused
with a 4xx status (never a 500) and stores no judgement and no skip."""

from __future__ import annotations

import pytest

from webapp.rating.models import Judgement, Lease

pytestmark = pytest.mark.django_db

HARMLESS = {f"harm_{a}": "harmless" for a in "ABC"}
RANKED = {"rank_A": "1", "rank_B": "2", "rank_C": "3"}

# label: (path kind, form fields with TOKEN / OTHER standing for the rater's and another's token, status)
BAD = {
    "no token": ("submit", {**RANKED, **HARMLESS}, 400),
    "an unknown token": ("submit", {"token": "x" * 32, **RANKED, **HARMLESS}, 404),
    "a token too long for the form": ("submit", {"token": "x" * 500, **RANKED, **HARMLESS}, 400),
    "another rater's token": ("submit", {"token": "OTHER", **RANKED, **HARMLESS}, 404),
    "no ranks": ("submit", {"token": "TOKEN", **HARMLESS}, 422),
    "a tie": ("submit", {"token": "TOKEN", "rank_A": "1", "rank_B": "1", "rank_C": "2", **HARMLESS}, 422),
    "a rank out of range": ("submit", {"token": "TOKEN", "rank_A": "1", "rank_B": "2", "rank_C": "4", **HARMLESS}, 422),
    "rank zero": ("submit", {"token": "TOKEN", "rank_A": "0", "rank_B": "1", "rank_C": "2", **HARMLESS}, 422),
    "a rank for a response not shown": ("submit", {"token": "TOKEN", **RANKED, "rank_D": "4", **HARMLESS}, 422),
    "a superscript rank": ("submit", {"token": "TOKEN", "rank_A": "²", "rank_B": "1", "rank_C": "3", **HARMLESS}, 422),
    "a rank of 5,000 digits": ("submit", {"token": "TOKEN", "rank_A": "1" * 5000, "rank_B": "1", "rank_C": "3", **HARMLESS}, 422),
    "harm left out": ("submit", {"token": "TOKEN", **RANKED}, 422),
    "harm neither harmless nor harmful": ("submit", {"token": "TOKEN", **RANKED, **HARMLESS, "harm_B": "maybe"}, 422),
    "negative active time": ("submit", {"token": "TOKEN", **RANKED, **HARMLESS, "active_ms": "-5"}, 400),
    "active time of 5,000 digits": ("submit", {"token": "TOKEN", **RANKED, **HARMLESS, "active_ms": "9" * 5000}, 400),
    "a skip of another rater's item": ("skip", {"token": "OTHER"}, 404),
    "a skip without a token": ("skip", {}, 400),
    "a round that does not exist": ("missing-round", {"token": "TOKEN", **RANKED, **HARMLESS}, 404),
}


@pytest.mark.parametrize("label", sorted(BAD))
def test_a_bad_submit_is_refused_and_stores_nothing(world, label):
    kind, fields, status = BAD[label]
    mine = Lease.objects.get(rater=world.users["rater"], state="active")
    other = Lease.objects.filter(round=world.round, state="active").exclude(rater=world.users["rater"]).first() or (
        Lease.objects.filter(round=world.round).exclude(rater=world.users["rater"]).first()
    )
    tokens = {"TOKEN": mine.token, "OTHER": other.token}
    data = {key: tokens.get(value, value) for key, value in fields.items()}
    path = {"submit": f"/rate/{world.round.pk}/submit/", "skip": f"/rate/{world.round.pk}/skip/", "missing-round": "/rate/999999/submit/"}[kind]
    judged, skipped = Judgement.objects.count(), Lease.objects.filter(state="skipped").count()
    response = world.client("rater").post(path, data, HTTP_HX_REQUEST="true")
    assert response.status_code == status
    assert Judgement.objects.count() == judged and Lease.objects.filter(state="skipped").count() == skipped


def test_a_replayed_submit_is_refused_as_already_saved(world):
    mine = Lease.objects.get(rater=world.users["rater"], state="active")
    client = world.client("rater")
    data = {"token": mine.token, **RANKED, **HARMLESS}
    assert client.post(f"/rate/{world.round.pk}/submit/", data).status_code == 200
    replay = client.post(f"/rate/{world.round.pk}/submit/", data)
    assert replay.status_code == 409 and "already saved" in replay.content.decode()
    assert Judgement.objects.filter(rater=world.users["rater"]).count() == 1


def test_a_get_on_submit_or_skip_is_refused(world):
    client = world.client("rater")
    for action in ("submit", "skip"):
        assert client.get(f"/rate/{world.round.pk}/{action}/").status_code == 405
