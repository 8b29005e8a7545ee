"""The reference is rated blind: its policy name never reaches the rating page, and it is shown
at any position, like every other response."""

import pytest

from tests.rating.conftest import token_in
from tests.rating.reference_world import experiment_with_references
from webapp.rating.models import Entry, Lease
from webapp.rating.services import rounds

pytestmark = pytest.mark.django_db


def test_the_rating_page_never_names_the_reference_and_shows_it_anywhere(client, make_rater):
    experiment = experiment_with_references(n_prompts=12, policies=("sft-heron", "rlaif-otter"))
    round, _ = rounds.round_create(experiment=experiment, policies=["sft-heron", "rlaif-otter"], overlap=3, gold_share=0.0)
    reference_ids = set(Entry.objects.filter(item__round=round, policy="reference").values_list("id", flat=True))
    positions = []
    for n in range(6):
        client.force_login(make_rater(f"rater-{n}"))
        for _ in range(4):
            html = client.get(f"/rate/{round.pk}/", follow=True).content.decode()
            lowered = html.lower()
            for secret in ("reference", "heron", "otter", "policy"):
                assert secret not in lowered, secret
            assert "Summary A" in html and "Summary C" in html and "the poster asks how to plan a move" in html
            lease = Lease.objects.get(token=token_in(html))
            positions.append(next(i for i, entry_id in enumerate(lease.shown_order) if entry_id in reference_ids))
            ranks = {f"rank_{chr(65 + i)}": str(i + 1) for i in range(3)}
            assert client.post(f"/rate/{round.pk}/submit/", {"token": lease.token, **ranks}).status_code in (200, 302)
    # 24 leases, each order drawn at random: the reference is not pinned to one place.
    assert len(positions) == 24 and set(positions) == {0, 1, 2}
