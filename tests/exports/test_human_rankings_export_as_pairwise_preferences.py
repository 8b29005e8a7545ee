"""A rating round's rankings come out as pairwise preferences: a ranking of three texts is
three pairs, the better ranked chosen, with the rater, the round and the positions shown;
gold items and excluded raters are left out unless asked for."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError

from webapp.experiments.models import Experiment, PolicyResponse, Prompt
from webapp.rating.models import Judgement, RoundRater
from webapp.rating.services import judgements, leasing, rounds

pytestmark = pytest.mark.django_db


@pytest.fixture
def rated_round(db):
    experiment = Experiment.objects.create(slug="ranked", name="Ranked", task="helpful")
    for i in range(4):
        prompt = Prompt.objects.create(experiment=experiment, split="test", context=f"Human: question {i}?", content_hash=Prompt.hash_for(f"r{i}"))
        for policy in ("rlaif", "rlhf", "sft"):
            PolicyResponse.objects.create(prompt=prompt, policy=policy, text=f"{policy} answer {i}: water the plants in the morning.")
    round, _ = rounds.round_create(experiment=experiment, policies=["rlaif", "rlhf", "sft"], name="R", overlap=2, gold_share=0.25, mode="rank")
    for name in ("ann", "bob"):
        rater = User.objects.create_user(name)
        while (lease := leasing.item_lease(rater=rater, round=round)) is not None:
            judgements.judgement_submit(rater=rater, token=lease.token, ranks={"A": 1, "B": 2, "C": 3})
    RoundRater.objects.create(round=round, rater=User.objects.get(username="bob"), excluded=True)
    return round


def export(tmp_path, round_id, *flags) -> list[dict]:
    out = tmp_path / "pairs.jsonl"
    call_command("export_rankings", round_id, str(out), *flags, verbosity=0)
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_each_ranking_becomes_its_pairs_without_gold_or_excluded_raters(rated_round, tmp_path):
    records = export(tmp_path, rated_round.pk)
    kept = Judgement.objects.filter(round=rated_round, item__is_gold=False, rater__username="ann")
    assert len(records) == 3 * kept.count() > 0
    assert {r["rater"] for r in records} == {"ann"} and not any(r["is_gold"] for r in records)
    assert sorted({(r["chosen_position"], r["rejected_position"]) for r in records}) == [(1, 2), (1, 3), (2, 3)]
    assert all(r["chosen_rank"] < r["rejected_rank"] and r["positions_shown"] == 3 and r["round_id"] == rated_round.pk for r in records)
    assert all(r["prompt"].startswith("Human: question") and r["chosen"] != r["rejected"] for r in records)


def test_gold_and_excluded_raters_come_back_when_asked(rated_round, tmp_path):
    records = export(tmp_path, rated_round.pk, "--include-gold", "--include-excluded")
    assert len(records) == 3 * Judgement.objects.filter(round=rated_round).count()
    assert {r["rater"] for r in records} == {"ann", "bob"}
    assert any(r["is_gold"] for r in records) and any(r["excluded"] for r in records)


def test_an_unknown_round_or_format_is_refused_and_writes_nothing(rated_round, tmp_path):
    with pytest.raises(CommandError, match="no rating round #999"):
        export(tmp_path, 999)
    with pytest.raises(CommandError, match="format must be one of"):
        export(tmp_path, rated_round.pk, "--format", "xml")
    assert list(tmp_path.iterdir()) == []


def test_staff_download_the_pairs_from_the_api(rated_round):
    from django.test import Client

    client = Client()
    client.force_login(User.objects.create_user("boss", is_staff=True, is_superuser=True))
    lines = b"".join(client.get(f"/api/rounds/{rated_round.pk}/preferences.jsonl?gold=include").streaming_content).splitlines()
    assert {json.loads(line)["rater"] for line in lines} == {"ann"}
    assert any(json.loads(line)["is_gold"] for line in lines)
    refused = client.get(f"/api/rounds/{rated_round.pk}/preferences.xml")
    assert refused.status_code == 400 and "format must be one of" in refused.json()["detail"]
    assert client.get("/api/rounds/999/preferences.jsonl").status_code == 404
