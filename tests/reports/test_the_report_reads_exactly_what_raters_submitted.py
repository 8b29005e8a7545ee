"""The report's fast read of judgements (one row each, JSON columns parsed a column at a time,
tables built from flat arrays) gives exactly the tables the plain way gives: Ranking and
HarmLabel objects built from every judgement's marks through the ORM."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.stats import HarmLabel, Ranking, encode_harm_labels, encode_rankings
from webapp.rating.models import Judgement
from webapp.reports import selectors

pytestmark = pytest.mark.django_db


def length(entry) -> float:
    """The response's stored length in tokens of the experiment's length tokenizer (as the reports define it)."""
    tokens = entry.response.length_tokens if entry.response_id else None
    return float(tokens) if tokens is not None else float("nan")


def plain_tables(experiment):
    rankings, labels = [], []
    judgements = (Judgement.objects.filter(round__experiment=experiment, item__is_gold=False)
                  .select_related("item", "rater").prefetch_related("marks__entry__response").order_by("id"))
    for j in judgements:
        marks = sorted(j.marks.all(), key=lambda m: m.shown_position)
        if all(m.rank is not None for m in marks):
            ranked = sorted(marks, key=lambda m: m.rank)
            rankings.append(Ranking(j.item_id, j.item.prompt_id, j.rater.username,
                                    tuple(m.entry.policy for m in ranked),
                                    tuple(length(m.entry) for m in ranked)))
        labels += [HarmLabel(j.item_id, j.item.prompt_id, j.rater.username, m.entry.policy, m.harmless)
                   for m in marks if m.harmless is not None]
    return encode_rankings(rankings), encode_harm_labels(labels)


@pytest.mark.parametrize("mode", ["both", "rank", "harmless"])
def test_the_fast_read_equals_the_tables_built_from_every_mark(make_filled, mode):
    filled = make_filled(slug=f"read-{mode}", n_prompts=24, gold_share=0.2, mode=mode)
    fast = selectors.human_inputs(filled.experiment)
    rankings, harm = plain_tables(filled.experiment)

    assert fast.rankings.n == rankings.n and fast.harm_labels.n == harm.n
    assert (rankings.n > 50) == (mode != "harmless") and (harm.n > 150) == (mode != "rank")
    for name in ("policies", "prompts", "items", "raters"):
        assert getattr(fast.rankings, name) == getattr(rankings, name)
        assert getattr(fast.harm_labels, name) == getattr(harm, name)
    for name in ("rank", "length", "prompt", "item", "rater"):
        np.testing.assert_array_equal(getattr(fast.rankings, name), getattr(rankings, name))
    for name in ("policy", "harmless", "prompt", "item", "rater"):
        np.testing.assert_array_equal(getattr(fast.harm_labels, name), getattr(harm, name))
