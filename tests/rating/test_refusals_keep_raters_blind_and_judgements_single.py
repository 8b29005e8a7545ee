"""Blinding and access: what a rater may not see or do is refused, and each refusal stores nothing."""

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.authtoken.models import Token

from tests.rating.conftest import full_ranks, token_in
from webapp.rating.models import Judgement, Mark
from webapp.rating.services import errors, judgements, leasing, rounds

pytestmark = pytest.mark.django_db


def ranked_post(token, n=3):
    return {"token": token, **{f"rank_{chr(65 + i)}": str(i + 1) for i in range(n)}}


def test_policy_names_never_reach_the_rating_page(client, make_round, rater):
    secret_names = ["sft-zebra", "rlhf-quokka", "rlaif-narwhal"]
    round = make_round(gold_share=0.3, mode="both", policies=secret_names)
    client.force_login(rater)
    for _ in range(4):
        html = client.get(f"/rate/{round.pk}/", follow=True).content.decode().lower()
        for name in ["zebra", "quokka", "narwhal", "gold", "degraded", "policy"]:
            assert name not in html, name
        assert "response a" in html and "response c" in html
        client.post(f"/rate/{round.pk}/submit/", {**ranked_post(token_in(html)), **{f"harm_{a}": "harmless" for a in "ABC"}})


def test_an_item_not_leased_to_the_rater_is_refused_by_its_url(client, make_round, make_rater):
    round = make_round()
    other = make_rater("other")
    held = leasing.item_lease(rater=other, round=round)
    me = make_rater("me")
    client.force_login(me)
    assert client.get(f"/rate/{round.pk}/items/{held.item_id}/").status_code == 404
    mine = leasing.item_lease(rater=me, round=round)
    assert client.get(f"/rate/{round.pk}/items/{mine.item_id}/").status_code == 200


def test_a_judgement_for_an_item_leased_to_someone_else_is_refused(client, make_round, make_rater):
    round = make_round()
    other = make_rater("other")
    held = leasing.item_lease(rater=other, round=round)
    client.force_login(make_rater("me"))
    response = client.post(f"/rate/{round.pk}/submit/", ranked_post(held.token), HTTP_HX_REQUEST="true")
    assert response.status_code == 404 and "No such item is leased to you." in response.content.decode()
    assert not Judgement.objects.exists()
    with pytest.raises(errors.LeaseNotFound):
        leasing.lease_skip(rater=User.objects.get(username="me"), token=held.token)


def test_a_replayed_submit_is_refused_and_stored_once(client, make_round, rater):
    round = make_round()
    client.force_login(rater)
    token = token_in(client.get(f"/rate/{round.pk}/", follow=True).content.decode())
    assert client.post(f"/rate/{round.pk}/submit/", ranked_post(token), HTTP_HX_REQUEST="true").status_code == 200
    replay = client.post(f"/rate/{round.pk}/submit/", ranked_post(token), HTTP_HX_REQUEST="true")
    assert replay.status_code == 409 and "This judgement was already saved." in replay.content.decode()
    assert Judgement.objects.count() == 1 and Mark.objects.count() == 3


def test_the_database_refuses_a_second_judgement_of_one_item_by_one_rater(make_round, rater):
    from django.db import IntegrityError, transaction

    round = make_round()
    lease = leasing.item_lease(rater=rater, round=round)
    judgement = judgements.judgement_submit(rater=rater, token=lease.token, ranks=full_ranks(lease))
    with pytest.raises(IntegrityError), transaction.atomic():
        Judgement.objects.create(
            round=round, item=judgement.item, rater=rater, lease=lease, shown_order=[], leased_at=judgement.leased_at,
            submitted_at=judgement.submitted_at, server_ms=0,
        )


def test_every_rating_form_needs_its_csrf_token(make_round, rater):
    round = make_round()
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(rater)
    token = token_in(browser.get(f"/rate/{round.pk}/", follow=True).content.decode())
    assert browser.post(f"/rate/{round.pk}/submit/", ranked_post(token)).status_code == 403
    assert browser.post(f"/rate/{round.pk}/skip/", {"token": token}).status_code == 403
    assert not Judgement.objects.exists()


def test_staff_pages_and_the_api_refuse_raters(client, make_round, rater):
    round = make_round()
    client.force_login(rater)
    assert client.get(f"/experiments/{round.experiment.slug}/").status_code == 403
    assert client.get("/admin/").status_code == 302
    assert client.get(f"/admin/rating/round/{round.pk}/quality/").status_code == 302
    for url in ["/api/rounds/", "/api/judgements/", f"/api/rounds/{round.pk}/progress/", f"/api/rounds/{round.pk}/judgements.jsonl"]:
        assert client.get(url).status_code == 403, url
    token = Token.objects.create(user=rater)
    assert Client().get("/api/judgements/", HTTP_AUTHORIZATION=f"Token {token.key}").status_code == 403


def test_rating_pages_refuse_users_outside_the_raters_group_and_anonymous_visitors(client, make_round, db):
    round = make_round()
    client.force_login(User.objects.create_user("outsider", password="x-pass-123"))
    assert client.get(f"/rate/{round.pk}/").status_code == 403
    assert client.post(f"/rate/{round.pk}/submit/", {"token": "x"}).status_code == 403
    anonymous = Client().get(f"/rate/{round.pk}/")
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")


def test_a_closed_round_is_not_found_by_raters(client, make_round, rater):
    round = make_round()
    lease = leasing.item_lease(rater=rater, round=round)
    rounds.round_open(round=round, is_open=False)
    client.force_login(rater)
    assert client.get(f"/rate/{round.pk}/").status_code == 404
    assert client.post(f"/rate/{round.pk}/submit/", ranked_post(lease.token)).status_code == 404
    assert not Judgement.objects.exists()
