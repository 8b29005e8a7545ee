"""Every response a round shows gets its length stored at round creation, in tokens of one named
tokenizer (the experiment's policy model's), whatever made it: a sampled policy response (whose
sampler counted its own tokens), the prompt's reference, or an imported candidate."""

from __future__ import annotations

import pytest
from django.conf import settings

from pipeline import registry
from pipeline.tokens import count_tokens
from webapp.experiments.models import Experiment, PolicyResponse, PreferencePair, Prompt
from webapp.experiments.services import response_lengths_fill
from webapp.rating.models import Entry
from webapp.rating.services import rounds
from webapp.reports.length_selectors import entry_lengths

pytestmark = pytest.mark.django_db

TEXT = "Photosynthesis turns light, water and carbon dioxide into sugar and oxygen."


@pytest.fixture
def tokenizer():
    registry.prepare(registry.DEFAULT_MODEL, settings.ARTIFACT_LOCAL)
    return registry.load_tokenizer(registry.DEFAULT_MODEL, settings.ARTIFACT_LOCAL)


def _experiment(slug: str, **fields) -> Experiment:
    experiment = Experiment.objects.create(slug=slug, name=slug, task="summarization", **fields)
    for i in range(3):
        Prompt.objects.create(experiment=experiment, split="test", context=f"Post {i}: a long story.", reference=TEXT,
                              content_hash=Prompt.hash_for(f"{slug}-{i}"))
    return experiment


def test_a_reference_and_a_policy_sample_of_the_same_text_get_the_same_stored_length(tokenizer):
    experiment = _experiment("same-text")
    for prompt in experiment.prompts.all():
        # The sampler's own count (generated ids) is kept as it was, and is not the report's length.
        PolicyResponse.objects.create(prompt=prompt, policy="sft", text=TEXT, token_count=99)
    rounds.round_create(experiment=experiment, policies=["sft"], with_reference=True)

    expected = count_tokens(tokenizer, [TEXT])[0]
    assert expected != len(TEXT.split())  # tokens, not words
    stored = set(PolicyResponse.objects.filter(prompt__experiment=experiment).values_list("policy", "length_tokens", "length_tokenizer"))
    assert stored == {("sft", expected, registry.DEFAULT_MODEL), ("reference", expected, registry.DEFAULT_MODEL)}
    by_entry, per_policy, unit = entry_lengths(experiment)
    assert {length for _, length in by_entry.values()} == {float(expected)}
    assert per_policy == {"reference": [float(expected)] * 3, "sft": [float(expected)] * 3}
    assert unit.tokenizer == registry.DEFAULT_MODEL and unit.unmeasured == 0
    assert Entry.objects.filter(item__round__experiment=experiment).count() > 0


def test_imported_candidates_are_measured_in_the_same_tokens_when_they_are_made(tokenizer):
    experiment = _experiment("imported")
    for prompt in experiment.prompts.all():
        PreferencePair.objects.create(prompt=prompt, candidate_1=TEXT, candidate_2=TEXT + " It needs sunlight.",
                                      content_hash=f"{prompt.pk}")
    rounds.policy_responses_from_pairs(experiment=experiment)
    lengths = dict(PolicyResponse.objects.filter(prompt__experiment=experiment).values_list("policy", "length_tokens"))
    assert lengths["candidate-1"] == lengths["reference"] == count_tokens(tokenizer, [TEXT])[0]
    assert lengths["candidate-2"] == count_tokens(tokenizer, [TEXT + " It needs sunlight."])[0]


def test_a_policy_model_not_on_this_machine_counts_in_the_bundled_tokenizer_and_says_so(tokenizer):
    experiment = _experiment("missing-model", policy_model="nobody/not-a-cached-model")
    prompt = experiment.prompts.first()
    PolicyResponse.objects.create(prompt=prompt, policy="sft", text=TEXT)
    assert response_lengths_fill(experiment=experiment) == 1
    response = PolicyResponse.objects.get(prompt=prompt, policy="sft")
    assert (response.length_tokens, response.length_tokenizer) == (count_tokens(tokenizer, [TEXT])[0], registry.DEFAULT_MODEL)


def test_a_length_counted_under_another_tokenizer_is_counted_again_not_mixed(tokenizer):
    experiment = _experiment("recount")
    prompt = experiment.prompts.first()
    PolicyResponse.objects.create(prompt=prompt, policy="sft", text=TEXT, length_tokens=3, length_tokenizer="some-other-model")
    PolicyResponse.objects.create(prompt=prompt, policy="rlhf", text=TEXT, length_tokens=5, length_tokenizer=registry.DEFAULT_MODEL)
    assert response_lengths_fill(experiment=experiment) == 1  # the one in the right unit is left alone
    assert PolicyResponse.objects.get(prompt=prompt, policy="sft").length_tokens == count_tokens(tokenizer, [TEXT])[0]
    assert PolicyResponse.objects.get(prompt=prompt, policy="rlhf").length_tokens == 5
