"""Staff set up rounds in the admin: choose policies, make items, open, and follow progress."""

import pytest

from webapp.experiments.models import Experiment, PolicyResponse, PreferencePair, Prompt
from webapp.rating.models import Item, Round

pytestmark = pytest.mark.django_db


def round_form(experiment, **overrides):
    data = {
        "name": "Blind round", "experiment": experiment.pk, "policies": ["sft", "rlhf"], "mode": "rank", "overlap": 3,
        "gold_share": 0.2, "instructions": "Best first.", "lease_minutes": 20, "min_gold_accuracy": 0.7,
    }
    data.update(overrides)
    return data


def test_a_round_is_created_its_items_made_and_opened_from_the_admin(client, staff, make_experiment):
    experiment = make_experiment(n_prompts=4)
    client.force_login(staff)
    assert client.post("/admin/rating/round/add/", round_form(experiment)).status_code == 302
    round = Round.objects.get(name="Blind round")
    assert round.policies == ["sft", "rlhf"] and round.created_by == staff and not round.is_open
    client.post("/admin/rating/round/", {"action": "create_items", "_selected_action": [round.pk]})
    assert Item.objects.filter(round=round, is_gold=False).count() == 4 and Item.objects.filter(round=round, is_gold=True).count() == 1
    client.post("/admin/rating/round/", {"action": "open_rounds", "_selected_action": [round.pk]})
    round.refresh_from_db()
    assert round.is_open
    listing = client.get("/admin/rating/round/?is_open__exact=1").content.decode()
    assert "Blind round" in listing and "0 / 15" in listing
    change = client.get(f"/admin/rating/round/{round.pk}/change/").content.decode()
    assert "Quality control per rater" in change and "5 (1 gold)" in change


def test_a_policy_the_experiment_lacks_is_refused(client, staff, make_experiment):
    experiment = make_experiment(n_prompts=2, policies=["sft", "rlhf"])
    other = Experiment.objects.create(slug="other", name="o", task="helpful")
    prompt = Prompt.objects.create(experiment=other, split="test", context="c", content_hash="h")
    PolicyResponse.objects.create(prompt=prompt, policy="rlaif", text="t")
    client.force_login(staff)
    response = client.post("/admin/rating/round/add/", round_form(experiment, policies=["sft", "rlaif"]))
    assert response.status_code == 200 and "has no responses from: rlaif" in response.content.decode()
    assert not Round.objects.exists()


def test_responses_are_made_from_imported_pairs_in_the_admin(client, staff):
    experiment = Experiment.objects.create(slug="pairs", name="p", task="helpful")
    prompt = Prompt.objects.create(experiment=experiment, split="test", context="c", content_hash="h")
    PreferencePair.objects.create(prompt=prompt, candidate_1="one", candidate_2="two", content_hash="p")
    client.force_login(staff)
    assert "Make responses from imported pairs" in client.get("/admin/rating/round/").content.decode()
    response = client.post("/admin/rating/round/prepare-responses/", {"experiment": experiment.pk, "naming": "candidates"})
    assert response.status_code == 302
    assert sorted(PolicyResponse.objects.values_list("policy", flat=True)) == ["candidate-1", "candidate-2"]
