"""The helpful demo is read by the project's one reader like any import: dialogues in the HH
turn format, two replies each, and a label that is not always on the same side."""

from collections import Counter

import pytest

from pipeline.data import read
from pipeline.data.readers import split_turns
from webapp.experiments import services
from webapp.experiments.models import PreferencePair

pytestmark = pytest.mark.django_db

HELPFUL = services.DEMO_DIR / "helpful.jsonl"


def test_every_line_reads_as_a_labelled_dialogue_ending_with_the_humans_turn():
    records = list(read(HELPFUL, "jsonl", limits=services.import_limits()))
    assert len(records) >= 40
    for record in records:
        turns = split_turns(record.context)
        assert turns[0][0] == "Human" and turns[-1][0] == "Human", record.source_id
        assert [speaker for speaker, _ in turns] == ["Human", "Assistant"] * (len(turns) // 2) + ["Human"]
        assert record.human_choice in (1, 2) and record.candidate_1 != record.candidate_2
    assert sum(len(split_turns(r.context)) > 1 for r in records) >= 10  # some are multi-turn
    assert len({r.context for r in records}) == len(records)


def test_the_more_helpful_reply_is_first_in_about_half_the_pairs_of_each_split():
    services.demo_load()
    pairs = PreferencePair.objects.filter(prompt__experiment__slug="demo-helpful")
    by_split = Counter(pairs.values_list("prompt__split", "human_choice"))
    for split in ("train", "test"):
        first, second = by_split[(split, 1)], by_split[(split, 2)]
        assert abs(first - second) <= (first + second) // 4, (split, first, second)
    # Stored in the file's order: nothing was shuffled, so the label is the file's own.
    assert not pairs.filter(source_order_swapped=True).exists()
