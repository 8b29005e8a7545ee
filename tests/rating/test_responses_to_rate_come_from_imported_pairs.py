"""Before any policy is trained, imported pairs and references become rateable responses."""

import pytest

from webapp.experiments.models import Experiment, PolicyResponse, PreferencePair, Prompt
from webapp.rating.services import rounds

pytestmark = pytest.mark.django_db


@pytest.fixture
def imported():
    experiment = Experiment.objects.create(slug="imp", name="Imported", task="summarization")
    for i, (split, choice) in enumerate([("test", 1), ("test", 2), ("test", None), ("train", 1)]):
        prompt = Prompt.objects.create(
            experiment=experiment, split=split, context=f"post {i}", reference=f"reference {i}" if i != 1 else "",
            content_hash=Prompt.hash_for(f"post {i}"),
        )
        PreferencePair.objects.create(
            prompt=prompt, candidate_1=f"first {i}", candidate_2=f"second {i}", human_choice=choice,
            content_hash=PreferencePair.hash_for(f"first {i}", f"second {i}"),
        )
    return experiment


def test_test_prompts_get_their_reference_and_both_candidates_and_a_second_run_adds_nothing(imported):
    created = rounds.policy_responses_from_pairs(experiment=imported)
    assert created == {"reference": 2, "candidate-1": 3, "candidate-2": 3}
    first = PolicyResponse.objects.get(prompt__context="post 0", policy="candidate-1")
    assert first.text == "first 0"
    assert not PolicyResponse.objects.filter(prompt__split="train").exists()
    assert rounds.policy_responses_from_pairs(experiment=imported) == {}


def test_human_naming_uses_the_human_choice_and_leaves_unlabelled_pairs_out(imported):
    rounds.policy_responses_from_pairs(experiment=imported, naming="human")
    chosen = dict(PolicyResponse.objects.filter(policy="human-chosen").values_list("prompt__context", "text"))
    assert chosen == {"post 0": "first 0", "post 1": "second 1"}
    assert not PolicyResponse.objects.filter(prompt__context="post 2", policy__startswith="human").exists()


def test_the_demo_experiments_can_be_rated_straight_after_load_demo():
    from django.core.management import call_command

    call_command("load_demo")
    call_command("make_round", "--experiment", "demo")
    call_command("make_round", "--experiment", "demo-summarize")
    call_command("make_round", "--experiment", "demo-helpful")
    from webapp.rating.models import Round

    harmless, summaries, helpful = Round.objects.order_by("id")
    assert harmless.is_open and harmless.mode == "both" and harmless.items.filter(is_gold=False).count() > 0
    assert summaries.policies == ["candidate-1", "candidate-2", "reference"] and summaries.mode == "rank"
    assert helpful.policies == ["candidate-1", "candidate-2"] and helpful.mode == "rank"
    assert helpful.is_open and helpful.items.filter(is_gold=False).count() == 16
