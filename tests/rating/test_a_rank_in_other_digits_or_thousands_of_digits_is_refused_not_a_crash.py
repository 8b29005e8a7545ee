"""A rank such as "²" (a digit to str.isdigit, not to int) or a number thousands of digits long
(int() refuses those) is refused like any missing rank: 422 with the panel, never 500. The same
goes for the judgements API's ``?round=`` filter."""

import pytest
from rest_framework.authtoken.models import Token

from tests.rating.conftest import token_in
from webapp.rating.models import Judgement

pytestmark = pytest.mark.django_db

ODD_RANKS = ["²", "٣", "1" * 5000, "-1", "1.0", " 1e3 "]


@pytest.mark.parametrize("odd", ODD_RANKS, ids=["superscript", "arabic-indic", "5000-digits", "negative", "decimal", "exponent"])
def test_an_odd_rank_is_refused_with_422(client, make_round, rater, odd):
    round = make_round(mode="rank")
    client.force_login(rater)
    token = token_in(client.get(f"/rate/{round.pk}/", follow=True).content.decode())
    response = client.post(f"/rate/{round.pk}/submit/", {"token": token, "rank_A": odd, "rank_B": "2", "rank_C": "3"})
    assert response.status_code == 422
    assert "Response A has none" in response.content.decode()
    assert not Judgement.objects.exists()


@pytest.mark.parametrize("odd", ["²", "9" * 5000])
def test_the_judgements_api_ignores_an_odd_round_filter(client, staff, odd):
    token = Token.objects.create(user=staff).key
    response = client.get("/api/judgements/", {"round": odd}, HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 200
