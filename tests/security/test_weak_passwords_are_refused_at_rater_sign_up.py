"""A rater's invite sign-up refuses weak passwords with Django's validators' own messages
(similar to the user name, too short, all digits, common) and creates no user; the lab users
that `create_lab_users` makes get passwords that pass the same rules."""

import pytest
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password

from webapp.experiments import accounts
from webapp.rating.models import RaterInvite
from webapp.rating.services import invites

pytestmark = pytest.mark.django_db


def sign_up(client, token, username, password):
    return client.post(f"/accounts/invite/{token}/", {"username": username, "password1": password, "password2": password})


@pytest.mark.parametrize(
    "username, password, messages",
    [
        ("nia.okafor", "nia.okafor", ["The password is too similar to the username."]),
        ("nia", "20261130", ["This password is too short. It must contain at least 10 characters.",
                             "This password is entirely numeric."]),
        ("nia", "1234567890", ["This password is entirely numeric.", "This password is too common."]),
        ("nia", "password123", ["This password is too common."]),
    ],
)
def test_a_weak_password_is_refused_with_the_validators_messages(client, username, password, messages):
    invite = invites.rater_invite_create(created_by=None)
    response = sign_up(client, invite.token, username, password)
    page = response.content.decode()
    assert response.status_code == 200
    for message in messages:
        assert message in page
    assert not User.objects.filter(username=username).exists()
    invite.refresh_from_db()
    assert invite.used_at is None


def test_the_sign_up_page_states_the_rules(client):
    invite = invites.rater_invite_create(created_by=None)
    page = client.get(f"/accounts/invite/{invite.token}/").content.decode()
    assert "at least 10 characters" in page and "entirely numeric" in page


def test_a_strong_password_makes_the_rater(client):
    invite = invites.rater_invite_create(created_by=None)
    assert sign_up(client, invite.token, "nia", "violet-harbour-lamp-42").status_code == 302
    assert RaterInvite.objects.get(pk=invite.pk).used_by == User.objects.get(username="nia")


def test_the_generated_lab_passwords_pass_the_rules(tmp_path):
    for credentials in accounts.lab_users_ensure(credentials_file=tmp_path / "credentials.json"):
        validate_password(credentials["password"], User.objects.get(username=credentials["username"]))
