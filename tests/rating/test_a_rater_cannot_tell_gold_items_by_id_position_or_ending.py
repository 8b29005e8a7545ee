"""Gold items carry no mark a rater could see without reading: their ids (in the address bar) are
interleaved with the real items', the queue hands them out spread through the round and never
shows a rater both items on one prompt (the same context twice, one response made worse), and
a degraded text ends the way the response it was made from ends."""

from statistics import mean

import pytest

from webapp.experiments.models import Experiment, PolicyResponse, Prompt
from webapp.rating.models import Entry, Item, Round
from webapp.rating.services import leasing, rounds

pytestmark = pytest.mark.django_db

ENDINGS = [".", "!", "?", "", '."', "..."]


@pytest.fixture
def gold_round(db):
    """40 prompts whose responses end in varied ways, a ranking round with a fifth of its items gold."""
    experiment = Experiment.objects.create(slug="gold-blind", name="Gold blind", task="summarize")
    for i in range(40):
        prompt = Prompt.objects.create(experiment=experiment, split="test", context=f"Post {i}", content_hash=Prompt.hash_for(f"gold-{i}"))
        for n, policy in enumerate(["sft", "rlhf", "rlaif"]):
            text = f"Summary {i} {n}: the writer moved city and found the new job hard at first" + ENDINGS[(i + n) % len(ENDINGS)]
            PolicyResponse.objects.create(prompt=prompt, policy=policy, text=text)
    round = Round.objects.create(experiment=experiment, name="r", policies=["sft", "rlhf", "rlaif"], mode="rank", overlap=1, gold_share=0.2)
    rounds.round_items_create(round=round)
    rounds.round_open(round=round, is_open=True)
    return round


def closing(text: str) -> str:
    return text[len(text.rstrip('.!?"')):]


def mean_place_of_gold(items: list[Item]) -> float:
    """0 = every gold item first, 1 = every gold item last; about 0.5 when places say nothing."""
    return mean(i / (len(items) - 1) for i, item in enumerate(items) if item.is_gold)


def test_gold_item_ids_are_interleaved_with_the_real_ones(gold_round):
    items = list(Item.objects.filter(round=gold_round).order_by("id"))
    assert sum(item.is_gold for item in items) == 10
    assert 0.2 < mean_place_of_gold(items) < 0.8
    assert max(i.pk for i in items if i.is_gold) > min(i.pk for i in items if not i.is_gold)
    assert min(i.pk for i in items if i.is_gold) < max(i.pk for i in items if not i.is_gold)


def test_the_queue_hands_gold_items_out_spread_through_the_round(gold_round, make_rater):
    places = []
    for name in ("r1", "r2", "r3", "r4", "r5"):
        rater, served = make_rater(name), []
        while (lease := leasing.item_lease(rater=rater, round=gold_round)) is not None:
            served.append(lease.item)
            leasing.lease_skip(rater=rater, token=lease.token)  # a skip moves on without filling a slot
        assert len(served) == 40  # one item per prompt
        places += [i / (len(served) - 1) for i, item in enumerate(served) if item.is_gold]
    assert len(places) >= 10 and 0.3 < mean(places) < 0.7


def test_after_a_skip_the_other_item_on_the_same_prompt_is_not_offered(gold_round, rater):
    seen_prompts = []
    while (lease := leasing.item_lease(rater=rater, round=gold_round)) is not None:
        seen_prompts.append(lease.item.prompt_id)
        leasing.lease_skip(rater=rater, token=lease.token)
    assert len(seen_prompts) == len(set(seen_prompts)) == 40


def test_a_degraded_text_ends_like_the_response_it_was_made_from(gold_round):
    degraded = list(Entry.objects.filter(item__round=gold_round, degraded=True).select_related("response"))
    assert len(degraded) == 10
    for entry in degraded:
        ending = closing(entry.response.text)
        assert entry.text.endswith(ending) and not entry.text.endswith(" ,")
        assert entry.text[len(entry.text) - len(ending) - 1].isalnum()
    intact_endings = {closing(e.text) for e in Entry.objects.filter(item__round=gold_round, degraded=False)}
    assert {closing(e.text) for e in degraded} <= intact_endings
