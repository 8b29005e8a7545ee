"""The human reference takes part in a round as one more policy, "reference": by default in
summarization rounds (when the test prompts have references), in other rounds when asked for,
through the service, make_round and the admin alike."""

import pytest
from django.core.management import CommandError, call_command

from tests.rating.reference_world import experiment_with_references
from webapp.experiments.models import PolicyResponse
from webapp.rating.models import Entry, Round
from webapp.rating.services import errors, rounds

pytestmark = pytest.mark.django_db


def reference_entries(round):
    return Entry.objects.filter(item__round=round, item__is_gold=False, policy="reference")


def test_a_summarization_round_includes_each_test_prompts_reference_by_default():
    experiment = experiment_with_references()
    round, made = rounds.round_create(experiment=experiment, policies=["sft", "rlaif"], gold_share=0.0)
    assert round.with_reference and round.policies == ["sft", "rlaif", "reference"]
    assert made.regular == 6 and reference_entries(round).count() == 6
    for entry in reference_entries(round).select_related("item__prompt"):
        assert entry.text == entry.item.prompt.reference and entry.response.policy == "reference"
    # Only the test prompts' references became responses, and a second round reuses them.
    assert PolicyResponse.objects.filter(policy="reference").count() == 6
    rounds.round_create(experiment=experiment, policies=["sft", "rlaif"], gold_share=0.0)
    assert PolicyResponse.objects.filter(policy="reference").count() == 6


def test_a_summarization_round_leaves_the_reference_out_when_asked():
    experiment = experiment_with_references()
    round, _ = rounds.round_create(experiment=experiment, policies=["sft", "rlaif"], with_reference=False)
    assert not round.with_reference and round.policies == ["sft", "rlaif"] and not reference_entries(round).exists()


@pytest.mark.parametrize("task", ["helpful", "harmless"])
def test_other_tasks_leave_the_reference_out_by_default_and_include_it_when_asked(task):
    experiment = experiment_with_references(task=task)
    plain, _ = rounds.round_create(experiment=experiment, policies=["sft", "rlaif"], mode="rank")
    assert not plain.with_reference and not reference_entries(plain).exists()
    with_it, _ = rounds.round_create(experiment=experiment, policies=["sft", "rlaif"], mode="rank", with_reference=True)
    assert with_it.with_reference and with_it.policies[-1] == "reference" and reference_entries(with_it).count() == 6


def test_naming_the_reference_among_the_policies_includes_it_and_contradicting_that_is_refused():
    experiment = experiment_with_references(task="helpful")
    round, _ = rounds.round_create(experiment=experiment, policies=["reference", "sft"])
    assert round.with_reference and round.policies == ["sft", "reference"]
    with pytest.raises(errors.RatingError, match="among the policies of a round without the reference"):
        rounds.round_create(experiment=experiment, policies=["reference", "sft"], with_reference=False)


def test_asking_for_the_reference_where_no_test_prompt_has_one_is_refused_and_keeps_nothing():
    experiment = experiment_with_references(task="helpful", blank=tuple(range(6)))
    with pytest.raises(errors.RatingError, match="no test prompt with a reference"):
        rounds.round_create(experiment=experiment, policies=["sft", "rlaif"], with_reference=True)
    assert not Round.objects.exists()
    # A summarization experiment without references just has no reference by default.
    experiment.task = "summarization"
    experiment.save()
    round, _ = rounds.round_create(experiment=experiment, policies=["sft", "rlaif"])
    assert not round.with_reference and round.policies == ["sft", "rlaif"]


def test_make_round_follows_the_task_and_its_with_reference_and_no_reference_flags(capsys):
    summaries = experiment_with_references()
    dialogues = experiment_with_references(task="helpful", slug="ref-dialogues")
    call_command("make_round", "--experiment", summaries.slug)
    call_command("make_round", "--experiment", summaries.slug, "--no-reference")
    call_command("make_round", "--experiment", dialogues.slug)
    call_command("make_round", "--experiment", dialogues.slug, "--with-reference")
    made = list(Round.objects.order_by("id").values_list("experiment__slug", "with_reference", "policies"))
    assert made == [
        ("ref-exp", True, ["rlaif", "sft", "reference"]),
        ("ref-exp", False, ["rlaif", "sft"]),  # the reference responses the first round made are not a default policy
        ("ref-dialogues", False, ["rlaif", "sft"]),
        ("ref-dialogues", True, ["rlaif", "sft", "reference"]),
    ]
    assert "policies rlaif, sft, reference" in capsys.readouterr().out
    with pytest.raises(CommandError, match="not allowed with argument --with-reference"):
        call_command("make_round", "--experiment", dialogues.slug, "--with-reference", "--no-reference")


def test_make_round_refuses_the_reference_where_there_is_none_with_a_message():
    experiment = experiment_with_references(task="helpful", blank=tuple(range(6)))
    with pytest.raises(CommandError, match="ref-exp has no test prompt with a reference response"):
        call_command("make_round", "--experiment", experiment.slug, "--with-reference")


def test_the_admin_round_form_offers_the_task_default_yes_and_no(client, staff):
    summaries = experiment_with_references()
    dialogues = experiment_with_references(task="helpful", slug="ref-dialogues")
    client.force_login(staff)
    form = client.get("/admin/rating/round/add/").content.decode()
    assert 'name="with_reference"' in form and "yes for summarization" in form

    def post(experiment, choice, name):
        data = {
            "name": name, "experiment": experiment.pk, "policies": ["sft", "rlaif"], "mode": "rank", "overlap": 3,
            "gold_share": 0.0, "instructions": "Best first.", "lease_minutes": 20, "min_gold_accuracy": 0.7,
            "with_reference": choice,
        }
        return client.post("/admin/rating/round/add/", data)

    for experiment, choice, name in [(summaries, "", "s-default"), (summaries, "no", "s-no"), (dialogues, "", "d-default"), (dialogues, "yes", "d-yes")]:
        assert post(experiment, choice, name).status_code == 302, name
    saved = dict(Round.objects.values_list("name", "with_reference"))
    assert saved == {"s-default": True, "s-no": False, "d-default": False, "d-yes": True}
    d_yes = Round.objects.get(name="d-yes")
    assert d_yes.policies == ["sft", "rlaif", "reference"]
    client.post("/admin/rating/round/", {"action": "create_items", "_selected_action": [d_yes.pk]})
    assert reference_entries(d_yes).count() == 6
    change = client.get(f"/admin/rating/round/{d_yes.pk}/change/").content.decode()
    assert '<option value="yes" selected>' in change

    none = experiment_with_references(task="helpful", slug="ref-none", blank=tuple(range(6)))
    refused = post(none, "yes", "n-yes")
    assert refused.status_code == 200 and "has no test prompt with a reference response" in refused.content.decode()
