"""With DEBUG on (`make run`), Django logs every query by formatting its SQL with `%`; the
queue's hand-written SQL must survive that, and a submit stays within a small query budget."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.rating.conftest import token_in
from webapp.rating.models import Judgement

pytestmark = pytest.mark.django_db

# Session, user, group, round; lease + judgement + marks + item; the next lease; the panel.
QUERY_BUDGET = 30


def test_a_submit_with_query_logging_on_saves_and_brings_the_next_item(client, make_round, rater):
    round = make_round(n_prompts=5, mode="rank")
    client.force_login(rater)
    with CaptureQueriesContext(connection):  # the debug cursor, as under DEBUG=True
        html = client.get(f"/rate/{round.pk}/", follow=True).content.decode()
    aliases = sorted(set(re.findall(r'name="rank_([A-Z])"', html)))
    form = {"token": token_in(html), "active_ms": 1000, **{f"rank_{a}": i + 1 for i, a in enumerate(aliases)}}

    with CaptureQueriesContext(connection) as queries:
        response = client.post(f"/rate/{round.pk}/submit/", form, HTTP_HX_REQUEST="true")

    assert response.status_code == 200
    assert "Saved. Here is the next item." in response.content.decode()
    assert token_in(response.content.decode()) != form["token"]
    assert Judgement.objects.filter(rater=rater).count() == 1
    assert len(queries.captured_queries) <= QUERY_BUDGET, [q["sql"][:80] for q in queries.captured_queries]
