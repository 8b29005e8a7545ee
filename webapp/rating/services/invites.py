"""Rater invites: staff make a one-time sign-up link that expires; following it makes a rater."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import Group, User
from django.db import transaction
from django.utils import timezone

from webapp.access import RATERS_GROUP
from webapp.rating.models import RaterInvite
from webapp.rating.services.errors import InviteInvalid


def rater_invite_create(*, created_by: User | None, note: str = "", days: int = 7) -> RaterInvite:
    return RaterInvite.objects.create(created_by=created_by, note=note[:200], expires_at=timezone.now() + timedelta(days=days))


def rater_invite_accept(*, token: str, username: str, password: str, now=None) -> User:
    """Make a rater from a sign-up link; the link works once, before it expires."""
    now = now or timezone.now()
    with transaction.atomic():
        invite = RaterInvite.objects.filter(token=token).first()
        if invite is None or invite.used_at is not None or invite.expires_at <= now:
            raise InviteInvalid("This sign-up link is not valid: it was used already, has expired or never existed.")
        user = User.objects.create_user(username=username, password=password)
        user.groups.add(Group.objects.get_or_create(name=RATERS_GROUP)[0])
        if not RaterInvite.objects.filter(pk=invite.pk, used_at__isnull=True).update(used_at=now, used_by=user):
            raise InviteInvalid("This sign-up link was used already.")
    return user
