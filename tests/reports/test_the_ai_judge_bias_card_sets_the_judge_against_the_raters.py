"""The alignment dashboard's AI judge bias card: position bias, length bias, calibration against
the raters and each policy's lean, from the bundled model judging a ranked round. The numbers
are recomputed here from the stored scores and rankings; the card's function is also checked on
a small example worked by hand."""

from __future__ import annotations

import numpy as np
import pytest
from django.urls import reverse

from pipeline.stats.judge_bias import judge_bias
from webapp.pipeline.services.ai_judge import round_ai_judge
from webapp.rating.models import AiJudgement, Judgement
from webapp.reports.judge_selectors import judge_report

pytestmark = pytest.mark.django_db


def test_the_card_of_a_real_judge_matches_its_scores_and_the_rankings(make_filled, bundled_lm, staff, client):
    filled = make_filled(slug="biased", n_prompts=12, n_raters=3, overlap=3, gold_share=0.0, mode="rank")
    round_ai_judge(round=filled.round)
    [card] = judge_report(filled.experiment)["judges"]
    scores = list(AiJudgement.objects.filter(round=filled.round).values_list("item_id", "policy_a", "policy_b", "p", "p_order1", "p_order2"))
    assert card["judge_spec"] == filled.experiment.labeler_model and card["pairs"] == len(scores) == 36
    assert card["flip_rate"] == pytest.approx(np.mean([(p1 > 0.5) != (p2 > 0.5) for *_, p1, p2 in scores]))
    assert card["first_shown"] == pytest.approx(np.mean([p1 for *_, p1, _ in scores] + [1 - p2 for *_, p2 in scores]))

    # The raters' side of the lean, from the marks: P(rlaif ranked above the other) per scored pair.
    ranks: dict[int, list[dict[str, int]]] = {}
    for judgement in Judgement.objects.filter(round=filled.round).prefetch_related("marks__entry"):
        ranks.setdefault(judgement.item_id, []).append({m.entry.policy: m.rank for m in judgement.marks.all()})
    ai, human, weight = [], [], []
    for item_id, a, b, p, _, _ in scores:
        if "rlaif" in (a, b) and item_id in ranks:
            other = b if a == "rlaif" else a
            ai.append(p if a == "rlaif" else 1 - p)
            human.append(np.mean([r["rlaif"] < r[other] for r in ranks[item_id]]))
            weight.append(len(ranks[item_id]))
    lean = next(row for row in card["leans"] if row["policy"] == "rlaif")
    assert lean["ai_win_rate"] == pytest.approx(np.average(ai, weights=weight))
    assert lean["human_win_rate"] == pytest.approx(np.average(human, weights=weight))
    assert sum(b["rankings"] for b in card["reliability"]) == sum(3 * len(v) for v in ranks.values())
    assert 0.0 <= card["ece"] <= 0.5 and 0.0 <= card["brier"] <= 1.0

    client.force_login(staff)
    page = client.get(reverse("reports:alignment", args=["biased"])).content.decode()
    assert "AI judge bias card" in page and "AI judge lean per policy (self-preference)" in page


def test_the_card_on_an_example_worked_by_hand():
    # Two pairs. Pair 1: a (longer, 20 vs 10) vs b, p 0.8 (orders 0.9 and 0.7), raters 3 of 4 for a.
    # Pair 2: a (shorter, 5 vs 15) vs c, p 0.4 (orders 0.6 and 0.2: flips), raters 1 of 2 for a.
    card = judge_bias(np.array(["a", "a"]), np.array(["b", "c"]), np.array([0.8, 0.4]), np.array([0.9, 0.6]),
                      np.array([0.7, 0.2]), np.array([20.0, 5.0]), np.array([10.0, 15.0]), np.array([0.75, 0.5]),
                      np.array([4, 2]))
    assert card.flip_rate == 0.5
    assert card.first_shown == pytest.approx(np.mean([0.9, 0.6, 0.3, 0.8]))
    # Longer side: pair 1 a (judge 0.8, raters 0.75); pair 2 c (judge 0.6, raters 0.5); weights 4 and 2.
    assert card.longer_ai == pytest.approx((4 * 0.8 + 2 * 0.6) / 6)
    assert card.longer_human == pytest.approx((4 * 0.75 + 2 * 0.5) / 6)
    # Confidence: pair 1 0.8 (agree 0.75) in [0.8, 0.9); pair 2 0.6 for c (agree 0.5) in [0.6, 0.7).
    assert card.ece == pytest.approx((4 * 0.05 + 2 * 0.1) / 6)
    assert card.brier == pytest.approx((4 * (0.75 * 0.04 + 0.25 * 0.64) + 2 * (0.5 * 0.36 + 0.5 * 0.16)) / 6)
    leans = {lean.policy: lean for lean in card.leans}
    assert leans["a"].ai_win_rate == pytest.approx((4 * 0.8 + 2 * 0.4) / 6)
    assert leans["c"].gap == pytest.approx(0.6 - 0.5)
