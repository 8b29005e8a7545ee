"""A round's items: one per eligible test prompt, plus gold items made clearly worse."""

import pytest

from webapp.experiments.models import PolicyResponse, Prompt
from webapp.rating import gold
from webapp.rating.models import Entry, Item, Round
from webapp.rating.services import errors, rounds

pytestmark = pytest.mark.django_db


def test_every_test_prompt_with_a_response_from_each_policy_becomes_one_item(make_experiment):
    experiment = make_experiment(n_prompts=5)
    PolicyResponse.objects.filter(prompt=Prompt.objects.first(), policy="sft").delete()
    round = Round.objects.create(experiment=experiment, name="r", policies=["sft", "rlaif", "rlhf"], gold_share=0)
    made = rounds.round_items_create(round=round)
    assert (made.regular, made.gold, made.skipped_prompts) == (4, 0, 1)
    item = Item.objects.filter(round=round).first()
    assert sorted(item.entries.values_list("policy", flat=True)) == ["rlaif", "rlhf", "sft"]
    assert rounds.round_items_create(round=round).regular == 0
    assert Item.objects.filter(round=round).count() == 4


def test_chosen_prompts_limit_the_round(make_experiment):
    experiment = make_experiment(n_prompts=5)
    round = Round.objects.create(experiment=experiment, name="r", policies=["sft", "rlhf"], gold_share=0)
    round.prompts.set(Prompt.objects.all()[:2])
    assert rounds.round_items_create(round=round).regular == 2


def test_gold_items_make_up_the_gold_share_and_hold_one_degraded_copy(make_experiment):
    experiment = make_experiment(n_prompts=9)
    round = Round.objects.create(experiment=experiment, name="r", policies=["sft", "rlhf", "rlaif"], gold_share=0.25)
    made = rounds.round_items_create(round=round)
    assert (made.regular, made.gold) == (9, 3)
    for item in Item.objects.filter(round=round, is_gold=True):
        entries = list(item.entries.all())
        degraded = [e for e in entries if e.degraded]
        assert len(entries) == 3 and len(degraded) == 1
        original = PolicyResponse.objects.get(pk=degraded[0].response_id).text
        assert degraded[0].text != original and degraded[0].policy.startswith("gold-degraded:")
        assert len(degraded[0].text.split()) < len(original.split())
    assert rounds.round_items_create(round=round).gold == 0


def test_harmless_only_rounds_get_no_gold_because_gold_needs_a_ranking(make_experiment):
    round = Round.objects.create(experiment=make_experiment(), name="r", policies=["sft"], mode="harmless", gold_share=0.3)
    made = rounds.round_items_create(round=round)
    assert made.gold == 0 and made.regular == 6


def test_a_ranking_round_needs_two_policies(make_experiment):
    round = Round.objects.create(experiment=make_experiment(), name="r", policies=["sft"], mode="rank")
    with pytest.raises(errors.RatingError):
        rounds.round_items_create(round=round)


def test_a_round_without_items_cannot_be_opened(make_experiment):
    round = Round.objects.create(experiment=make_experiment(), name="r", policies=["sft", "rlhf"])
    with pytest.raises(errors.RatingError):
        rounds.round_open(round=round, is_open=True)


def test_gold_passes_only_when_every_degraded_entry_is_ranked_below_every_intact_one():
    assert gold.gold_passed(ranks={1: 1, 2: 2, 3: 3}, degraded={3}) is True
    assert gold.gold_passed(ranks={1: 1, 2: 3, 3: 2}, degraded={3}) is False
    assert gold.gold_passed(ranks={1: 1, 2: 2}, degraded=set()) is None
    assert Entry.objects.count() == 0


@pytest.mark.django_db
def test_make_round_with_if_none_makes_one_round_for_the_demo_and_then_nothing():
    from django.core.management import call_command

    from webapp.experiments import services as experiment_services
    from webapp.rating.models import Round

    experiment_services.demo_load()
    call_command("make_round", "--experiment", "demo", "--if-none")
    call_command("make_round", "--experiment", "demo", "--if-none")
    rounds = Round.objects.filter(experiment__slug="demo")
    assert rounds.count() == 1 and rounds.get().is_open and rounds.get().items.exists()
