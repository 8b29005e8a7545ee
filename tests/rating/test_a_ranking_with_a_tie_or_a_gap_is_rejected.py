"""A tie, a missing rank or a missing harm label is refused by the server, and nothing is stored."""

import pytest

from tests.rating.conftest import all_harmless, token_in
from webapp.rating.models import Judgement, Lease, Mark
from webapp.rating.services import errors, judgements, leasing

pytestmark = pytest.mark.django_db


def test_a_ranking_with_a_tie_is_rejected_by_the_service(make_round, rater):
    round = make_round()
    lease = leasing.item_lease(rater=rater, round=round)
    with pytest.raises(errors.InvalidJudgement, match="No ties: Response A and Response B share rank 1"):
        judgements.judgement_submit(rater=rater, token=lease.token, ranks={"A": 1, "B": 1, "C": 3})
    assert not Judgement.objects.exists() and not Mark.objects.exists()
    assert Lease.objects.get(pk=lease.pk).state == Lease.State.ACTIVE


def test_a_ranking_with_a_missing_rank_or_an_out_of_range_rank_is_rejected(make_round, rater):
    round = make_round()
    lease = leasing.item_lease(rater=rater, round=round)
    with pytest.raises(errors.InvalidJudgement, match="Response C has none"):
        judgements.judgement_submit(rater=rater, token=lease.token, ranks={"A": 1, "B": 2})
    with pytest.raises(errors.InvalidJudgement, match="Ranks go from 1 to 3"):
        judgements.judgement_submit(rater=rater, token=lease.token, ranks={"A": 1, "B": 2, "C": 4})
    with pytest.raises(errors.InvalidJudgement):
        judgements.judgement_submit(rater=rater, token=lease.token, ranks={"A": 1, "B": 2, "C": 3, "D": 4})
    assert not Judgement.objects.exists()


def test_a_harmless_round_needs_a_label_for_every_response(make_round, rater):
    round = make_round(mode="harmless")
    lease = leasing.item_lease(rater=rater, round=round)
    with pytest.raises(errors.InvalidJudgement, match="Response B, Response C is not marked"):
        judgements.judgement_submit(rater=rater, token=lease.token, harmless={"A": True})
    judgements.judgement_submit(rater=rater, token=lease.token, harmless=all_harmless(lease))
    assert Judgement.objects.count() == 1


def test_the_page_says_why_a_tie_was_refused_and_keeps_the_choices(client, make_round, rater):
    round = make_round(mode="both")
    client.force_login(rater)
    page = client.get(f"/rate/{round.pk}/", follow=True).content.decode()
    response = client.post(
        f"/rate/{round.pk}/submit/",
        {"token": token_in(page), "rank_A": "2", "rank_B": "2", "rank_C": "1", "harm_A": "harmless", "harm_B": "harmful", "harm_C": "harmless"},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert response.status_code == 422
    assert "No ties: Response A and Response B share rank 2." in html
    assert 'name="rank_C" value="1" checked' in html and 'name="harm_B" value="harmful" checked' in html
    assert not Judgement.objects.exists()
