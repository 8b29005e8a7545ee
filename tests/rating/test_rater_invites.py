"""Staff invite raters with a one-time sign-up link that expires."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from webapp import access
from webapp.rating.models import RaterInvite
from webapp.rating.services import errors, invites

pytestmark = pytest.mark.django_db


def sign_up(client, token, username="newbie"):
    return client.post(f"/accounts/invite/{token}/", {"username": username, "password1": "a-long-pass-9876", "password2": "a-long-pass-9876"})


def test_a_sign_up_link_makes_a_logged_in_rater_once(client, staff):
    invite = invites.rater_invite_create(created_by=staff, note="for Nia")
    assert client.get(f"/accounts/invite/{invite.token}/").status_code == 200
    response = sign_up(client, invite.token)
    assert response.status_code == 302 and response["Location"] == "/rate/"
    user = User.objects.get(username="newbie")
    assert access.is_rater(user) and not user.is_staff
    invite.refresh_from_db()
    assert invite.used_by == user and invite.used_at is not None
    client.logout()
    assert client.get(f"/accounts/invite/{invite.token}/").status_code == 404
    assert sign_up(client, invite.token, "second").status_code == 404
    assert not User.objects.filter(username="second").exists()


def test_an_expired_or_unknown_link_is_refused(client, staff):
    invite = RaterInvite.objects.create(created_by=staff, expires_at=timezone.now() - timedelta(minutes=1))
    assert sign_up(client, invite.token).status_code == 404
    assert client.get("/accounts/invite/nope/").status_code == 404
    with pytest.raises(errors.InviteInvalid):
        invites.rater_invite_accept(token=invite.token, username="late", password="a-long-pass-9876")
    assert not User.objects.filter(username__in=["newbie", "late"]).exists()


def test_staff_create_an_invite_in_the_admin_and_see_its_link(client, staff):
    client.force_login(staff)
    response = client.post(
        "/admin/rating/raterinvite/add/", {"note": "for Sam", "expires_at_0": "2099-01-01", "expires_at_1": "10:00:00"}
    )
    assert response.status_code == 302
    invite = RaterInvite.objects.get(note="for Sam")
    assert f"/accounts/invite/{invite.token}/" in client.get("/admin/rating/raterinvite/").content.decode()
