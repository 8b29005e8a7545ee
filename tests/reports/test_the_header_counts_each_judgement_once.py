"""The report's header splits the judgements into used, gold and excluded: an excluded rater's
gold judgements count once (as gold), so the three add up to the total."""

from __future__ import annotations

import pytest

from webapp.rating.models import Judgement
from webapp.rating.services import rounds
from webapp.reports import selectors

pytestmark = pytest.mark.django_db


def test_used_gold_and_excluded_add_up_to_every_judgement(make_filled):
    filled = make_filled(slug="counted", n_prompts=30, gold_share=0.2, contrarian=True)
    rounds.round_rater_exclude(round=filled.round, rater=filled.contrarian, excluded=True, reason="contrarian")
    counts = selectors.human_report(filled.experiment)["judgements"]

    theirs = Judgement.objects.filter(round=filled.round, rater=filled.contrarian)
    assert theirs.filter(item__is_gold=True).exists(), "the contrarian must have judged a gold item for this to test anything"
    assert counts["excluded"] == theirs.filter(item__is_gold=False).count()
    assert counts["gold"] == Judgement.objects.filter(round=filled.round, item__is_gold=True).count()
    assert counts["included"] + counts["gold"] + counts["excluded"] == counts["total"] == Judgement.objects.count()
