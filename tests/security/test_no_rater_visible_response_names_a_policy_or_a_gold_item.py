"""Blinding, probed on every response a rater can get: the rating pages (whole and as htmx
partials), each refusal (not yours, tie, replay, skip of a gone item, closed round), the rounds
list, the API's refusals and the redirects. None names a policy, a gold or degraded entry, or
carries an entry's or a response's id (the form holds only the token and the CSRF token)."""

from __future__ import annotations

import re

import pytest

from tests.security.hardening_world import SECRET_POLICIES
from webapp.experiments.models import PolicyResponse
from webapp.rating.models import Entry, Lease
from webapp.rating.services import rounds

pytestmark = pytest.mark.django_db

GIVEAWAYS = [*SECRET_POLICIES, "gold", "degraded", "policy"]


def rater_responses(world):
    """(label, response) for everything the probe rater can make the lab answer."""
    client, round = world.client("rater"), world.round
    htmx = {"HTTP_HX_REQUEST": "true"}
    lease = Lease.objects.get(rater=world.users["rater"], state="active")
    other = Lease.objects.filter(round=round).exclude(rater=world.users["rater"]).first()
    yield "rounds", client.get("/rate/", follow=True)
    yield "rate", client.get(f"/rate/{round.pk}/", follow=True)
    yield "rate htmx", client.get(f"/rate/{round.pk}/", **htmx)
    yield "item", client.get(f"/rate/{round.pk}/items/{lease.item_id}/")
    yield "someone else's item", client.get(f"/rate/{round.pk}/items/{other.item_id}/")
    tie = {"token": lease.token, "rank_A": "1", "rank_B": "1", "rank_C": "3"}
    yield "a tie", client.post(f"/rate/{round.pk}/submit/", tie, **htmx)
    good = {"token": lease.token, "rank_A": "1", "rank_B": "2", "rank_C": "3", **{f"harm_{a}": "harmless" for a in "ABC"}}
    yield "saved", client.post(f"/rate/{round.pk}/submit/", good, **htmx)
    yield "replay", client.post(f"/rate/{round.pk}/submit/", good, **htmx)
    yield "someone else's token", client.post(f"/rate/{round.pk}/submit/", {**good, "token": other.token}, **htmx)
    yield "skip of a saved item", client.post(f"/rate/{round.pk}/skip/", {"token": lease.token}, **htmx)
    current = Lease.objects.get(rater=world.users["rater"], state="active")
    yield "skip", client.post(f"/rate/{round.pk}/skip/", {"token": current.token}, **htmx)
    yield "api", client.get("/api/judgements/")
    yield "report", client.get(f"/experiments/{world.experiment.slug}/report/")
    yield "home", client.get("/", follow=True)
    rounds.round_open(round=round, is_open=False)
    yield "closed round", client.get(f"/rate/{round.pk}/")


def test_no_response_to_a_rater_gives_a_policy_or_a_gold_item_away(world):
    assert Entry.objects.filter(item__round=world.round, degraded=True).exists()
    entry_ids = set(Entry.objects.filter(item__round=world.round).values_list("pk", flat=True))
    response_ids = set(PolicyResponse.objects.values_list("pk", flat=True))
    seen = []
    for label, response in rater_responses(world):
        assert response.status_code < 500, label
        text = response.content.decode().lower()
        headers = " ".join(f"{k}: {v}" for k, v in response.items()).lower()  # Referrer-Policy is fine there
        for word in GIVEAWAYS:
            assert word not in text, f"{label}: {word!r}"
            assert word == "policy" or word not in headers, f"{label} (headers): {word!r}"
        hidden = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', text)
        assert {name for name, _ in hidden} <= {"token", "csrfmiddlewaretoken", "active_ms"}, label
        # Scripts read only these data attributes: letters, flags and progress counts, no ids.
        assert set(re.findall(r"data-([a-z-]+)=", text)) <= {"alias", "ranks", "harm", "noun", "count"}, label
        for _name, value in hidden:
            assert not (value.isdigit() and int(value) in entry_ids | response_ids), label
        seen.append(label)
    assert len(seen) == 15
