"""After logging in, a rater lands on the rating page; staff land on the experiments."""

import pytest

pytestmark = pytest.mark.django_db


def test_a_rater_is_sent_from_home_to_the_open_round(client, make_round, rater):
    round = make_round()
    client.force_login(rater)
    response = client.get("/", follow=True)
    assert response.redirect_chain[-1][0].startswith(f"/rate/{round.pk}/items/")
    assert "Rank the responses" in response.content.decode()


def test_with_several_open_rounds_the_rater_picks_one_and_with_none_is_told_so(client, make_round, make_experiment, rater):
    client.force_login(rater)
    assert "nothing for you to rate yet" in client.get("/", follow=True).content.decode()
    make_round(name="First")
    make_round(experiment=make_experiment(slug="second"), name="Second")
    page = client.get("/rate/").content.decode()
    assert "First" in page and "Second" in page


def test_logging_in_as_a_rater_ends_on_the_rating_page(client, make_round, rater):
    make_round()
    response = client.post("/accounts/login/", {"username": "rita", "password": "rating-pass-123"}, follow=True)
    assert "/rate/" in response.redirect_chain[-1][0]


def test_staff_still_land_on_the_experiments(client, staff):
    client.force_login(staff)
    assert "Experiments" in client.get("/").content.decode()
