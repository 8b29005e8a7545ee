"""make_round (and every caller of round_create) refuses an overlap outside 1..50 and a gold share
outside 0..0.5, as the admin's form does: --gold-share 1.0 divided by zero, --overlap -1 crashed
on the database, and --overlap 0 made a round nobody could rate."""

import math

import pytest
from django.core.management import CommandError, call_command

from webapp.rating.models import Round

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("--overlap", "0", "overlap must be between 1 and 50, got 0"),
        ("--overlap", "-1", "overlap must be between 1 and 50, got -1"),
        ("--overlap", "100000", "overlap must be between 1 and 50, got 100000"),
        ("--gold-share", "1.0", "gold share must be between 0.0 and 0.5, got 1.0"),
        ("--gold-share", "-0.1", "gold share must be between 0.0 and 0.5, got -0.1"),
        ("--gold-share", "nan", "gold share must be between 0.0 and 0.5, got nan"),
    ],
)
def test_an_out_of_range_setting_is_refused_and_no_round_is_made(make_experiment, option, value, message):
    make_experiment(slug="mr")
    with pytest.raises(CommandError, match=message):
        call_command("make_round", "--experiment", "mr", option, value)
    assert not Round.objects.exists()


def test_the_limits_themselves_are_accepted(make_experiment):
    make_experiment(slug="mr")
    call_command("make_round", "--experiment", "mr", "--overlap", "50", "--gold-share", "0.5")
    round = Round.objects.get()
    assert round.overlap == 50 and math.isclose(round.gold_share, 0.5)
