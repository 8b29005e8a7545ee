"""Stop when precise enough: a round with a target half-width shows, for every interval the report
shows first, how far it is from the target and how many more human ratings the data suggests; the
judgement that brings every interval within the target closes the round (and no one is given
another item), while a round short of its target stays open. A target out of range is refused."""

import math

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from webapp.rating.models import Round
from webapp.rating.services import leasing
from webapp.rating.services.errors import RoundClosed
from webapp.reports import precision, selectors

from .conftest import fill_round

pytestmark = pytest.mark.django_db


def _half(row: dict) -> float:
    interval = row["crossed"]["interval"]
    return (interval["high"] - interval["low"]) / 2


def test_a_round_short_of_its_target_stays_open_and_says_how_many_ratings_are_missing(
        make_filled, make_rater, client, staff, django_capture_on_commit_callbacks):
    import random

    filled = make_filled("short", n_prompts=30, n_raters=3, per_rater=8)
    Round.objects.filter(pk=filled.round.pk).update(target_half_width=0.02)
    with django_capture_on_commit_callbacks(execute=True):
        fill_round(filled.round, [make_rater("late")], random.Random(1), per_rater=1)
    round = Round.objects.get(pk=filled.round.pk)
    assert round.is_open and round.precision_met_at is None
    assert all(not row["met"] for row in precision.experiment_precision(filled.experiment)["rows"])

    client.force_login(staff)
    body = client.get(reverse("reports:api-precision", args=["short"])).json()
    assert body["round"] == round.pk and body["target"] == 0.02 and body["met"] is False
    stats = selectors.human_report(filled.experiment)["stats"]
    wins = {f"{r['a']} vs {r['b']}": r for r in stats["vs_baseline"]}
    rows = {r["estimate"]: r for r in body["rows"]}
    assert set(rows) == set(wins) | {f"harmless: {h['policy']}" for h in stats["harmless"]}
    for name, win in wins.items():
        row, n = rows[name], win["n"]
        assert row["half_width"] == pytest.approx(_half(win)) and row["ratings"] == n
        assert row["more_ratings"] == math.ceil(n * (_half(win) / 0.02) ** 2) - n > 0
    assert body["more_ratings"] == max(r["more_ratings"] for r in body["rows"])
    page = client.get(reverse("reports:results", args=["short"])).content.decode()
    assert "Precision targets (±2.0 points" in page and "More ratings needed (humans only)" in page


def test_the_judgement_that_meets_every_target_closes_the_round(make_filled, make_rater, django_capture_on_commit_callbacks):
    import random

    filled = make_filled("wide", n_prompts=40, n_raters=4, per_rater=30)
    payload = selectors.human_report(filled.experiment)
    shown_first = payload["stats"]["vs_baseline"] + payload["stats"]["harmless"]
    assert min(r["crossed"]["n_prompts"] for r in shown_first) >= 30, "past the rule's minimum"
    widest = max(_half(r) for r in shown_first)
    Round.objects.filter(pk=filled.round.pk).update(target_half_width=round_up(widest + 0.05))
    late = make_rater("late")
    with django_capture_on_commit_callbacks(execute=True):
        fill_round(filled.round, [late], random.Random(2), per_rater=1)
    round = Round.objects.get(pk=filled.round.pk)
    assert not round.is_open and round.precision_met_at is not None
    assert precision.experiment_precision(filled.experiment)["met"] is True
    with pytest.raises(RoundClosed):  # no one is given another item
        leasing.item_lease(rater=late, round=round)


def round_up(x: float) -> float:
    return math.ceil(x * 100) / 100


def test_a_target_outside_its_range_is_refused_and_nothing_is_made(make_filled):
    make_filled("bounds", n_prompts=4, n_raters=1, per_rater=0)
    before = Round.objects.count()
    with pytest.raises(CommandError, match=r"target half width must be between 0.005 and 0.5, got 0.9"):
        call_command("make_round", "--experiment", "bounds", "--target-half-width", "0.9", verbosity=0)
    assert Round.objects.count() == before


def test_without_a_target_the_api_says_why_there_is_nothing(client, staff, make_filled):
    make_filled("none", n_prompts=4, n_raters=1, per_rater=1)
    client.force_login(staff)
    body = client.get(reverse("reports:api-precision", args=["none"])).json()
    assert body["round"] is None and body["rows"] == [] and "make_round --target-half-width" in body["reason"]
