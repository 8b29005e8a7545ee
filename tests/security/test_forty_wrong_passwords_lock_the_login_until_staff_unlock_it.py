"""Guessing is throttled: after LOGIN_FAILURE_LIMIT (10) wrong passwords for one user name from
one address, even the right password is refused with a message saying why, until the cool-off
passes or staff delete the attempt in the admin (django-axes)."""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

pytestmark = pytest.mark.django_db

PASSWORD = "rating-pass-123"


@pytest.fixture
def rater():
    return User.objects.create_user("rita", password=PASSWORD)


def log_in(client, username="rita", password=PASSWORD):
    return client.post("/accounts/login/", {"username": username, "password": password})


def lock_out(client):
    statuses = [log_in(client, password=f"guess-{n}").status_code for n in range(40)]
    # The ten wrong ones get the form again; from then on the lockout page.
    assert statuses[:9] == [200] * 9 and set(statuses[10:]) == {429}
    return statuses


def test_forty_wrong_passwords_then_the_right_one_is_refused_with_a_message(client, rater):
    lock_out(client)
    response = log_in(client)
    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many failed log-ins for <strong>rita</strong>" in page and "Staff can unlock it" in page
    assert "_auth_user_id" not in client.session
    assert client.get("/rate/").status_code == 302  # still sent to the log-in page


def test_the_lock_is_for_that_user_name_only(client, rater):
    User.objects.create_user("sam", password="another-pass-456")
    lock_out(client)
    assert log_in(client, "sam", "another-pass-456").status_code == 302


def test_the_lock_lifts_after_the_cool_off(client, rater, settings):
    lock_out(client)
    AccessAttempt.objects.update(attempt_time=timezone.now() - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))
    assert log_in(client).status_code == 302


def test_staff_unlock_a_locked_user_in_the_admin(client, rater):
    lock_out(client)
    staff = Client()
    staff.force_login(User.objects.create_user("boss", password="staff-pass-123", is_staff=True, is_superuser=True))
    listing = staff.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200 and "rita" in listing.content.decode()
    attempt = AccessAttempt.objects.get(username="rita")
    assert staff.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"}).status_code == 302
    assert log_in(client).status_code == 302


def test_the_admin_log_in_is_throttled_too(client, rater):
    for n in range(10):
        client.post("/admin/login/", {"username": "rita", "password": f"guess-{n}", "next": "/admin/"})
    assert client.post("/admin/login/", {"username": "rita", "password": PASSWORD, "next": "/admin/"}).status_code == 429
