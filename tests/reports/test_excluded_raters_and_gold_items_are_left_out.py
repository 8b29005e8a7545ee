"""Gold items are quality control only and excluded raters' judgements stay in the database but
out of the report: neither counts in any win rate, and the exclusions are listed."""

from __future__ import annotations

import pytest

from webapp.rating.models import Judgement
from webapp.rating.services import rounds
from webapp.reports import selectors

pytestmark = pytest.mark.django_db


def test_gold_items_are_left_out_of_every_table(make_filled):
    filled = make_filled(slug="golden", n_prompts=30, gold_share=0.2)
    report = selectors.human_report(filled.experiment)
    counts, stats = report["judgements"], report["stats"]

    gold = Judgement.objects.filter(round=filled.round, item__is_gold=True).count()
    assert gold > 0 and counts["gold"] == gold
    assert counts["included"] == counts["total"] - gold == stats["n_rankings"]
    assert stats["policies"] == ["rlaif", "rlhf", "sft"]  # no "gold-degraded:..." policy
    assert all(not h["policy"].startswith("gold") for h in stats["harmless"])
    assert sum(h["n"] for h in stats["harmless"]) == 3 * stats["n_rankings"]


def test_an_excluded_rater_is_left_out_and_listed_and_the_report_follows_at_once(make_filled):
    filled = make_filled(slug="contrary", n_prompts=30, gold_share=0.0, contrarian=True)
    before = selectors.human_report(filled.experiment)
    rate_before = next(w for w in before["stats"]["vs_baseline"] if w["a"] == "rlaif")["rate"]
    assert filled.contrarian.username in [r["rater"] for r in before["stats"]["ranking_agreement"]["raters"]]

    rounds.round_rater_exclude(round=filled.round, rater=filled.contrarian, excluded=True, reason="always puts SFT first")
    after = selectors.human_report(filled.experiment)  # the cache key changed with the exclusion
    contrarian_judgements = Judgement.objects.filter(rater=filled.contrarian).count()

    assert after["fingerprint"] != before["fingerprint"]
    assert after["judgements"]["excluded"] == contrarian_judgements > 0
    assert after["stats"]["n_rankings"] == before["stats"]["n_rankings"] - contrarian_judgements
    assert filled.contrarian.username not in [r["rater"] for r in after["stats"]["ranking_agreement"]["raters"]]
    assert next(w for w in after["stats"]["vs_baseline"] if w["a"] == "rlaif")["rate"] > rate_before
    assert after["excluded_raters"] == [{
        "round_id": filled.round.pk, "round": "Round one", "rater": filled.contrarian.username,
        "reason": "always puts SFT first", "excluded_at": after["excluded_raters"][0]["excluded_at"],
        "judgements": contrarian_judgements,
    }]

    raters = selectors.rater_report(filled.experiment)
    row = next(r for r in raters["raters"] if r["rater"] == filled.contrarian.username)
    assert row["excluded"] and row["rank_agreement"] is None and row["judgements"] == contrarian_judgements
    assert raters["excluded_raters"][0]["rater"] == filled.contrarian.username
