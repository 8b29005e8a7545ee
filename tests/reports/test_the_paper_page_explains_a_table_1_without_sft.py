"""An experiment whose rounds rank RLAIF and RLHF but not SFT: the paper page still opens, its
Table 1 and harmless blocks say that no round ranks SFT and how to fill them, and their CSVs
are headers only."""

from __future__ import annotations

import random

import pytest
from django.urls import reverse

from tests.reports.conftest import fill_round
from webapp.experiments.models import Experiment, PolicyResponse, Prompt
from webapp.rating.models import Round
from webapp.rating.services import rounds

pytestmark = pytest.mark.django_db


def test_rounds_without_sft_leave_table_1_empty_with_the_reason(client, staff, make_rater):
    experiment = Experiment.objects.create(slug="no-sft", name="No SFT", task="helpful")
    for i in range(6):
        prompt = Prompt.objects.create(experiment=experiment, split="test", context=f"Human: question {i}?",
                                       content_hash=Prompt.hash_for(f"no-sft-{i}"))
        for policy in ("rlaif", "rlhf"):
            PolicyResponse.objects.create(prompt=prompt, policy=policy, text=f"{policy} answers {i}")
    round = Round.objects.create(experiment=experiment, name="Head to head", policies=["rlaif", "rlhf"], mode="rank",
                                 overlap=2, gold_share=0)
    rounds.round_items_create(round=round, seed=1)
    rounds.round_open(round=round, is_open=True)
    assert fill_round(round, [make_rater("a"), make_rater("b")], random.Random(1)) > 0

    client.force_login(staff)
    response = client.get(reverse("reports:paper", args=["no-sft"]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "No round ranks SFT (baseline &#x27;sft&#x27; is not among the ranked policies: rlaif, rlhf)" in html
    assert html.count("No round ranks SFT") == 2  # Table 1 and the harmless rates
    for name in ("paper_table1", "paper_harmless"):
        lines = client.get(reverse("reports:csv", args=["no-sft", name])).content.decode().splitlines()
        assert len(lines) == 1, name
