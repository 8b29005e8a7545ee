"""In a round with the reference, a test prompt whose reference is empty (or only spaces) keeps
its item with the other responses: raters are never shown a blank "reference"."""

import pytest

from tests.rating.reference_world import experiment_with_references
from webapp.experiments.models import PolicyResponse
from webapp.rating.models import Entry, Item
from webapp.rating.services import rounds

pytestmark = pytest.mark.django_db


def test_prompts_without_a_reference_get_items_of_the_other_policies_only():
    experiment = experiment_with_references(blank=(1, 2))  # prompt 1: "", prompt 2: spaces
    round, made = rounds.round_create(experiment=experiment, policies=["sft", "rlaif"], gold_share=0.3)
    assert round.with_reference and made.regular == 6 and made.skipped_prompts == 0
    for item in Item.objects.filter(round=round).select_related("prompt"):
        policies = sorted(e.policy.removeprefix("gold-degraded:") for e in item.entries.all())
        has_reference = bool(item.prompt.reference.strip())
        assert policies == (["reference", "rlaif", "sft"] if has_reference else ["rlaif", "sft"]), item.prompt.context
    assert not [e.text for e in Entry.objects.filter(item__round=round) if not e.text.strip()]
    assert not PolicyResponse.objects.filter(policy="reference", prompt__reference__in=["", "   \n"]).exists()


def test_a_blank_reference_response_made_elsewhere_is_left_out_too():
    experiment = experiment_with_references(blank=(0,))
    prompt = experiment.prompts.get(context__contains="number 0")
    PolicyResponse.objects.create(prompt=prompt, policy="reference", text=" ")
    round, _ = rounds.round_create(experiment=experiment, policies=["sft", "rlaif"], gold_share=0.0)
    item = Item.objects.get(round=round, prompt=prompt)
    assert sorted(item.entries.values_list("policy", flat=True)) == ["rlaif", "sft"]


def test_with_one_other_policy_a_prompt_without_a_reference_is_skipped_as_nothing_is_left_to_rank():
    experiment = experiment_with_references(policies=("rlaif",), blank=(3,))
    round, made = rounds.round_create(experiment=experiment, policies=["rlaif"], gold_share=0.0)
    assert round.policies == ["rlaif", "reference"] and round.mode == "rank"
    assert made.regular == 5 and made.skipped_prompts == 1
    assert all(item.entries.count() == 2 for item in Item.objects.filter(round=round))
