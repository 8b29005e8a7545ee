"""Factories for the rating tests: raters, staff, an experiment with responses, open rounds."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group, User

from webapp.access import RATERS_GROUP
from webapp.experiments.models import Experiment, PolicyResponse, Prompt
from webapp.rating.models import Round
from webapp.rating.services import rounds

POLICIES = ["rlaif", "rlhf", "sft"]


@pytest.fixture
def make_rater(db):
    def make(username: str = "rita", password: str = "rating-pass-123") -> User:
        user = User.objects.create_user(username=username, password=password)
        user.groups.add(Group.objects.get_or_create(name=RATERS_GROUP)[0])
        return user

    return make


@pytest.fixture
def rater(make_rater):
    return make_rater("rita")


@pytest.fixture
def staff(db):
    return User.objects.create_user(username="boss", password="staff-pass-123", is_staff=True, is_superuser=True)


@pytest.fixture
def make_experiment(db):
    """make_experiment(n_prompts, policies, task) -> an experiment whose test prompts have one response per policy."""

    def make(n_prompts: int = 6, policies=POLICIES, task: str = "harmless", slug: str = "rate-exp") -> Experiment:
        experiment = Experiment.objects.create(slug=slug, name="Rating experiment", task=task)
        for i in range(n_prompts):
            prompt = Prompt.objects.create(
                experiment=experiment,
                split="test",
                context=f"Human: question number {i} about gardening?",
                content_hash=Prompt.hash_for(f"{slug}-{i}"),
            )
            for n, policy in enumerate(policies):
                PolicyResponse.objects.create(
                    prompt=prompt,
                    policy=policy,
                    text=f"Answer {i}.{n}: water the plants in the morning and keep the soil loose.",
                )
        return experiment

    return make


@pytest.fixture
def make_round(make_experiment):
    """make_round(**round fields) -> an open round with its items made (no gold unless asked)."""

    def make(experiment: Experiment | None = None, n_prompts: int = 6, policies=POLICIES, **fields) -> Round:
        experiment = experiment or make_experiment(n_prompts=n_prompts, policies=policies)
        defaults = {"name": "Round one", "policies": list(policies), "mode": "rank", "overlap": 2, "gold_share": 0.0}
        round = Round.objects.create(experiment=experiment, **{**defaults, **fields})
        rounds.round_items_create(round=round)
        rounds.round_open(round=round, is_open=True)
        return round

    return make


def full_ranks(lease) -> dict[str, int]:
    """A valid ranking of a lease's shown responses: A first, then B, ..."""
    return {chr(65 + i): i + 1 for i in range(len(lease.shown_order))}


def all_harmless(lease) -> dict[str, bool]:
    return {chr(65 + i): True for i in range(len(lease.shown_order))}


def token_in(html: str) -> str:
    return re.search(r'name="token" value="([^"]+)"', html).group(1)


def lease_item(rater, item):
    """Lease ``item`` itself to ``rater``, as the queue would (one slot claimed, entries in stored
    order), for tests that need a rater on a gold or a real item whatever order the queue picks."""
    from datetime import timedelta

    from django.db.models import F
    from django.utils import timezone

    from webapp.rating.models import Entry, Item, Lease

    assert Item.objects.filter(pk=item.pk, claimed__lt=item.round.overlap).update(claimed=F("claimed") + 1)
    now = timezone.now()
    return Lease.objects.create(
        round=item.round, item=item, rater=rater, shown_order=list(Entry.objects.filter(item=item).values_list("id", flat=True)),
        leased_at=now, expires_at=now + timedelta(minutes=item.round.lease_minutes),
    )
