"""The queue's writes: lease a rater their next item, skip it, give back slots whose time ran out.

Every function is keyword-only and runs in one transaction. The queue never reads a count
and then writes it: it claims a slot with ``UPDATE item SET claimed = claimed + 1 WHERE
claimed < overlap`` and looks at the number of rows changed, which is safe under concurrent
raters on SQLite (where IMMEDIATE transactions serialise writers anyway) and on PostgreSQL
(where the UPDATE takes the row lock and re-checks the condition).
"""

from __future__ import annotations

import random
from datetime import timedelta

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from webapp.rating.models import Entry, Item, Lease, Round
from webapp.rating.queue import queue_next_ids
from webapp.rating.services.errors import AlreadySubmitted, LeaseNotFound, RoundClosed

# The order a rater sees the responses in must not be guessable, so it comes from the OS.
_system_random = random.SystemRandom()


def leases_expire(*, round: Round, now=None) -> int:
    """Give back the slots of leases past their time; returns how many were expired."""
    now = now or timezone.now()
    expired = 0
    for lease_id, item_id in Lease.objects.filter(round=round, state=Lease.State.ACTIVE, expires_at__lt=now).values_list("id", "item_id"):
        if Lease.objects.filter(pk=lease_id, state=Lease.State.ACTIVE).update(state=Lease.State.EXPIRED, ended_at=now):
            Item.objects.filter(pk=item_id, claimed__gt=F("judged")).update(claimed=F("claimed") - 1)
            expired += 1
    return expired


def item_lease(*, rater: User, round: Round, now=None) -> Lease | None:
    """The rater's current item in ``round``, leasing the next one if they hold none; None when nothing is left.

    Next means: an item this rater has not judged or skipped (nor another item on the same
    prompt), with fewer claims than the round's overlap, least judged first.
    """
    if not round.is_open:
        raise RoundClosed("This round is closed.")
    now = now or timezone.now()
    current = Lease.objects.filter(round=round, rater=rater, state=Lease.State.ACTIVE).first()
    if current is not None and current.expires_at >= now:
        return current  # the common case, a read: no write lock taken
    with transaction.atomic():
        leases_expire(round=round, now=now)
        current = Lease.objects.filter(round=round, rater=rater, state=Lease.State.ACTIVE).first()
        if current is not None:
            return current
        for item_id in queue_next_ids(rater=rater, round=round):
            if Item.objects.filter(pk=item_id, claimed__lt=round.overlap).update(claimed=F("claimed") + 1):
                shown = list(Entry.objects.filter(item_id=item_id).values_list("id", flat=True))
                _system_random.shuffle(shown)
                return Lease.objects.create(
                    round=round,
                    item_id=item_id,
                    rater=rater,
                    shown_order=shown,
                    leased_at=now,
                    expires_at=now + timedelta(minutes=round.lease_minutes),
                )
    return None


def lease_skip(*, rater: User, token: str, reason: str = "", now=None) -> Lease:
    """Hand the item back, with an optional reason; the rater is not offered it again."""
    now = now or timezone.now()
    with transaction.atomic():
        lease = Lease.objects.filter(token=token, rater=rater).first()
        if lease is None:
            raise LeaseNotFound("No such item is leased to you.")
        if lease.state == Lease.State.DONE:
            raise AlreadySubmitted("This item was already submitted.")
        if Lease.objects.filter(pk=lease.pk, state=Lease.State.ACTIVE).update(
            state=Lease.State.SKIPPED, ended_at=now, skip_reason=reason.strip()[:300]
        ):
            Item.objects.filter(pk=lease.item_id, claimed__gt=F("judged")).update(claimed=F("claimed") - 1)
        elif lease.state == Lease.State.EXPIRED:
            Lease.objects.filter(pk=lease.pk).update(state=Lease.State.SKIPPED, skip_reason=reason.strip()[:300])
        lease.refresh_from_db()
    return lease
