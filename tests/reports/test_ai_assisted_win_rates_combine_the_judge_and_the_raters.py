"""The AI judge (the bundled model) scores a half-rated round through ``manage.py ai_judge``,
and the report shows AI-assisted (PPI++) win rates and harmless rates beside the human-only ones: the numbers are
recomputed here from the stored judgements and scores, the page and the API show them, and a
rerun scores nothing twice."""

from __future__ import annotations

from io import StringIO

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from webapp.experiments.models import Experiment
from webapp.rating.models import AiHarmJudgement, AiJudgement, Judgement, Mark, Round
from webapp.reports.selectors import human_report

pytestmark = pytest.mark.django_db


@pytest.fixture
def half_rated(make_filled, bundled_lm):
    # 30 prompts, 4 raters judging 5 items each: the queue gives the least judged item first, so
    # 20 items are rated once and 10 are left to the judge alone.
    return make_filled(slug="judged", n_prompts=30, n_raters=4, overlap=3, gold_share=0.0, per_rater=5)


def _human_and_ai(round: Round, policy: str, baseline: str) -> tuple[list[float], list[float]]:
    """Human outcomes (policy above baseline) on rated prompts, and the judge's P(policy beats
    baseline) on the prompts nobody rated: read from the rows, not from the report."""
    scores = {}
    for item_id, a, b, p in AiJudgement.objects.filter(round=round).values_list("item_id", "policy_a", "policy_b", "p"):
        if {a, b} == {policy, baseline}:
            scores[item_id] = p if a == policy else 1 - p
    y, rated = [], set()
    for judgement in Judgement.objects.filter(round=round, item__is_gold=False).prefetch_related("marks__entry"):
        rank = {m.entry.policy: m.rank for m in judgement.marks.all()}
        y.append(float(rank[policy] < rank[baseline]))
        rated.add(judgement.item_id)
    return y, [p for item_id, p in scores.items() if item_id not in rated]


def test_the_judge_scores_every_pair_once_and_the_report_combines_it_with_the_raters(half_rated, staff, client):
    out = StringIO()
    call_command("ai_judge", half_rated.round.pk, stdout=out, verbosity=0)
    # 30 items x 3 pairs of policies, and x 3 responses labelled for harm (the round asks both).
    assert "180 scored now; in all 90 pairs compared and 90 responses labelled for harm" in out.getvalue()
    judged = AiJudgement.objects.filter(round=half_rated.round)
    assert all(0.0 < p < 1.0 and p == pytest.approx((p1 + p2) / 2) for p, p1, p2 in judged.values_list("p", "p_order1", "p_order2"))

    rerun = StringIO()
    call_command("ai_judge", half_rated.round.pk, stdout=rerun, verbosity=0)
    assert "0 scored now; in all 90 pairs compared and 90 responses labelled for harm" in rerun.getvalue()

    report = human_report(Experiment.objects.get(slug="judged"))
    rows = {row["policy"]: row for row in report["ai_assisted"]}
    assert set(rows) == {"rlaif", "rlhf"} and {row["opponent"] for row in rows.values()} == {"sft"}
    for policy, row in rows.items():
        rate = row["rate"]
        y, ai_only = _human_and_ai(half_rated.round, policy, "sft")
        assert rate["method"].startswith("PPI++"), rate["reason"]
        assert rate["n_human"] == len(y) and rate["n_ai_only"] == len(ai_only) > 0
        assert rate["human_only"] == pytest.approx(np.mean(y))
        expected = rate["lam"] * np.mean(ai_only) + np.mean(np.array(y) - rate["lam"] * _rated_scores(half_rated.round, policy))
        assert rate["estimate"] == pytest.approx(expected)
        assert 0.0 <= rate["interval"]["low"] < rate["estimate"] < rate["interval"]["high"] <= 1.0
        assert 0.0 <= rate["lam"] <= 1.0 and rate["effective_human"] >= rate["n_human"] * 0.999

    harmless = {row["policy"]: row["rate"] for row in report["ai_harmless"]}
    assert set(harmless) == {"rlaif", "rlhf", "sft"}
    for policy, rate in harmless.items():
        labels = list(Mark.objects.filter(judgement__round=half_rated.round, entry__policy=policy, harmless__isnull=False)
                      .values_list("entry__item_id", "harmless"))
        scored = dict(AiHarmJudgement.objects.filter(round=half_rated.round, policy=policy).values_list("item_id", "p"))
        ai_only = [p for item_id, p in scored.items() if item_id not in {i for i, _ in labels}]
        assert rate["method"].startswith("PPI++"), rate["reason"]
        assert rate["n_human"] == len(labels) and rate["n_ai_only"] == len(ai_only) > 0
        assert rate["human_only"] == pytest.approx(np.mean([h for _, h in labels]))
        f = np.array([scored[item_id] for item_id, _ in labels])
        y = np.array([float(h) for _, h in labels])
        assert rate["estimate"] == pytest.approx(rate["lam"] * np.mean(ai_only) + np.mean(y - rate["lam"] * f))
        assert rate["p_value"] is None  # a harmless rate has no null to test

    client.force_login(staff)
    page = client.get("/experiments/judged/report/").content.decode()
    assert "AI-assisted win rates vs sft (PPI++)" in page and "Worth in human judgements" in page
    assert "AI-assisted harmless rates (PPI++)" in page and "Worth in human labels" in page
    api = client.get("/api/experiments/judged/report/").json()
    assert api["ai_assisted"] == report["ai_assisted"]


def _rated_scores(round: Round, policy: str) -> np.ndarray:
    """The judge's P(policy beats sft) for each human ranking, in the order of _human_and_ai."""
    scores = {}
    for item_id, a, b, p in AiJudgement.objects.filter(round=round).values_list("item_id", "policy_a", "policy_b", "p"):
        if {a, b} == {policy, "sft"}:
            scores[item_id] = p if a == policy else 1 - p
    return np.array([scores[item_id] for item_id in
                     Judgement.objects.filter(round=round, item__is_gold=False).values_list("item_id", flat=True)])


def test_a_report_without_a_judge_says_how_to_run_one(make_filled, staff, client):
    make_filled(slug="unjudged", n_prompts=12, n_raters=3, overlap=2)
    assert human_report(Experiment.objects.get(slug="unjudged"))["ai_assisted"] == []
    client.force_login(staff)
    assert "No AI judge has scored a round of this experiment" in client.get("/experiments/unjudged/report/").content.decode()


def test_bad_ai_judge_input_is_refused_naming_the_problem(make_filled):
    filled = make_filled(slug="refused", n_prompts=12, n_raters=2, overlap=1)
    with pytest.raises(CommandError, match="no rating round #999999"):
        call_command("ai_judge", 999999, verbosity=0)
    with pytest.raises(CommandError, match="--limit must be at least 1"):
        call_command("ai_judge", filled.round.pk, limit=0, verbosity=0)
    empty = Round.objects.create(experiment=filled.experiment, name="Empty", policies=["sft", "rlaif"], mode="rank")
    with pytest.raises(CommandError, match=f"round #{empty.pk} \\(Empty\\) has nothing to judge"):
        call_command("ai_judge", empty.pk, verbosity=0)
    assert not AiJudgement.objects.exists() and not AiHarmJudgement.objects.exists()
