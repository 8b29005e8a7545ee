"""Staff read rounds, progress and judgements over the API with a token, and export a round as JSONL or CSV."""

import csv
import io
import json

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from tests.rating.conftest import full_ranks, lease_item
from webapp.rating.services import judgements

pytestmark = pytest.mark.django_db


@pytest.fixture
def rated_round(make_round, make_rater):
    round = make_round(n_prompts=2, mode="both", gold_share=0.5, overlap=1)
    rater = make_rater("ann")
    # One gold and one real judgement, on different prompts, whichever order the queue would pick.
    gold = round.items.filter(is_gold=True).first()
    real = round.items.filter(is_gold=False).exclude(prompt=gold.prompt).first()
    for item in (gold, real):
        lease = lease_item(rater, item)
        judgements.judgement_submit(
            rater=rater, token=lease.token, ranks=full_ranks(lease), harmless={"A": True, "B": False, "C": True}, active_ms=900
        )
    return round


@pytest.fixture
def api(staff):
    return Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff).key}")


def test_a_staff_token_reads_rounds_progress_and_judgements(api, rated_round):
    rounds = api.get("/api/rounds/").json()
    assert rounds["results"][0]["id"] == rated_round.pk and rounds["results"][0]["mode"] == "both"
    progress = api.get(f"/api/rounds/{rated_round.pk}/progress/").json()
    assert progress["judgements"] == 2 and progress["raters"][0]["rater"] == "ann"
    judgements = api.get(f"/api/judgements/?round={rated_round.pk}").json()["results"]
    assert len(judgements) == 2
    marks = judgements[0]["marks"]
    assert [m["alias"] for m in marks] == ["A", "B", "C"] and {m["policy"] for m in marks} <= {"sft", "rlhf", "rlaif"} | {
        f"gold-degraded:{p}" for p in ("sft", "rlhf", "rlaif")
    }
    assert api.get("/api/judgements/?rater=nobody").json()["count"] == 0


def test_the_jsonl_export_has_shown_order_mapping_ranking_timings_and_gold_flags(api, rated_round):
    response = api.get(f"/api/rounds/{rated_round.pk}/judgements.jsonl")
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    records = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
    assert len(records) == 2 and {r["is_gold"] for r in records} == {True, False}
    for record in records:
        assert record["shown_order"] == ["A", "B", "C"] and record["ranking"] == ["A", "B", "C"]
        assert record["ranking_policies"] == [record["alias_policy"][a] for a in "ABC"]
        assert record["harmless"] == {"A": True, "B": False, "C": True}
        assert record["active_ms"] == 900 and record["server_ms"] >= 0 and record["excluded"] is False
        if record["is_gold"]:
            # Gold is passed only when the degraded response is ranked below every intact one.
            assert record["gold_passed"] is record["ranking_policies"][-1].startswith("gold-degraded")


def test_the_csv_export_has_the_same_rows_with_json_cells(api, rated_round):
    response = api.get(f"/api/rounds/{rated_round.pk}/judgements.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 2
    assert json.loads(rows[0]["shown_order"]) == ["A", "B", "C"] and set(json.loads(rows[0]["alias_policy"])) == {"A", "B", "C"}
    assert rows[0]["excluded"] == "false" and rows[0]["active_ms"] == "900"


def test_the_api_refuses_requests_without_a_staff_token(rated_round):
    assert Client().get("/api/rounds/").status_code == 401
    assert Client(HTTP_AUTHORIZATION="Token not-a-token").get(f"/api/rounds/{rated_round.pk}/judgements.csv").status_code == 401
