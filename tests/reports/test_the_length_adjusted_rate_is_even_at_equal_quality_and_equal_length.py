"""At equal quality and equal length the report's length-adjusted win rate is ~50 %.

Real rows through the report's own read: a sampled policy ("sft") whose texts are short words (one
token each) against the prompts' references written in long words (about three tokens each), with
lengths in tokens drawn from the same distribution for both. Raters prefer the longer response
(in tokens) and nothing else. Measured in one unit the length-adjusted rate is 50 %; with the
sampler's tokens for one side and words for the other (as the report once did) the references
looked three times shorter than they were and the rate came out far from it."""

from __future__ import annotations

import math
import random
from dataclasses import replace

import numpy as np
import pytest
from django.conf import settings

from pipeline import registry
from pipeline.stats import length_table
from pipeline.tokens import count_tokens
from webapp.experiments.models import Experiment, PolicyResponse, Prompt
from webapp.rating.models import alias_for
from webapp.rating.services import judgements, leasing, rounds
from webapp.reports import selectors

pytestmark = pytest.mark.django_db

N_PROMPTS, N_RATERS, OVERLAP = 160, 4, 3
PER_TOKEN = 0.06  # log-odds per token of length advantage: the raters' only preference


def test_equal_quality_at_equal_length_gives_an_even_length_adjusted_rate(make_rater):
    registry.prepare(registry.DEFAULT_MODEL, settings.ARTIFACT_LOCAL)
    tokenizer = registry.load_tokenizer(registry.DEFAULT_MODEL, settings.ARTIFACT_LOCAL)
    rng = random.Random(11)
    experiment = Experiment.objects.create(slug="even", name="Even", task="summarization")
    for i in range(N_PROMPTS):
        reference = " ".join(["unbelievably"] * rng.randint(4, 20))
        sampled = " ".join(["cat"] * rng.randint(12, 60))  # the same 12-60 tokens as the references
        prompt = Prompt.objects.create(experiment=experiment, split="test", context=f"Post {i}.", reference=reference,
                                       content_hash=Prompt.hash_for(f"even-{i}"))
        PolicyResponse.objects.create(prompt=prompt, policy="sft", text=sampled, token_count=len(sampled.split()) + 1)
    round, _ = rounds.round_create(experiment=experiment, policies=["sft"], with_reference=True, overlap=OVERLAP,
                                   gold_share=0.0, mode="rank")
    entries = [entry for item in round.items.all() for entry in item.entries.all()]
    tokens = {entry.pk: count_tokens(tokenizer, [entry.text])[0] for entry in entries}
    policy_of = {entry.pk: entry.policy for entry in entries}
    for k in range(N_RATERS):
        rater = make_rater(f"even-rater-{k}")
        while (lease := leasing.item_lease(rater=rater, round=round)) is not None:
            # Drawn by policy, not by the shown order (SystemRandom's): the data are the same every run.
            sampled, reference = sorted(lease.shown_order, key=lambda entry: policy_of[entry] != "sft")
            sampled_wins = rng.random() < 1 / (1 + math.exp(-PER_TOKEN * (tokens[sampled] - tokens[reference])))
            winner = sampled if sampled_wins else reference
            ranks = {alias_for(i): 1 if entry == winner else 2 for i, entry in enumerate(lease.shown_order)}
            judgements.judgement_submit(rater=rater, token=lease.token, ranks=ranks, harmless=None, active_ms=10_000)

    report = selectors.human_report(experiment)
    row = next(r for r in report["stats"]["length"] if (r["a"], r["b"]) == ("sft", "reference"))
    assert row["n"] == N_PROMPTS * OVERLAP
    assert abs(row["mean_gap"]) < 6  # equal lengths in one unit
    assert abs(row["adjusted_rate"] - 0.5) < 0.06
    assert row["crossed"]["interval"]["low"] < 0.5 < row["crossed"]["interval"]["high"]
    assert row["slope_per_100_tokens"] > 3  # the planted length preference is seen, in tokens
    assert report["length_unit"] == {"unit": "tokens", "tokenizer": registry.DEFAULT_MODEL,
                                     "measured": 2 * N_PROMPTS, "unmeasured": 0}

    # The same rankings with the references measured in words (the former mixed units): far from 50 %.
    table = selectors.human_inputs(experiment).rankings
    words_of = {count_tokens(tokenizer, [text])[0]: len(text.split()) for text in
                PolicyResponse.objects.filter(prompt__experiment=experiment, policy="reference").values_list("text", flat=True)}
    mixed = table.length.copy()
    ref = table.index("reference")
    mixed[:, ref] = [words_of[x] if not np.isnan(x) else x for x in mixed[:, ref]]
    old = next(r for r in length_table(replace(table, length=mixed)) if (r.a, r.b) == ("sft", "reference"))
    assert abs(old.adjusted_rate - 0.5) > 0.15
