"""Store a rater's judgement of their leased item: checked, whole or not at all, once per lease.

A judgement takes back the slot of an expired lease with the same conditional UPDATE the queue
claims with (see ``leasing``), so it never pushes an item past its overlap.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from webapp.rating import gold
from webapp.rating.models import Entry, Item, Judgement, Lease, Mark, alias_for
from webapp.rating.services.errors import AlreadySubmitted, InvalidJudgement, LeaseLost, LeaseNotFound, RoundClosed


def judgement_check(*, aliases: list[str], ranks: dict[str, int] | None, harmless: dict[str, bool] | None, needs_ranks: bool, needs_harm: bool) -> list[str]:
    """Problems with a judgement, in words for the rater; empty when it can be stored."""
    problems = []
    if needs_ranks:
        ranks = ranks or {}
        missing = [a for a in aliases if a not in ranks]
        if missing:
            problems.append("Give every response a rank: " + ", ".join(f"Response {a}" for a in missing) + " has none.")
        by_rank: dict[int, list[str]] = {}
        for alias in aliases:
            if alias in ranks:
                by_rank.setdefault(ranks[alias], []).append(alias)
        for rank, tied in sorted(by_rank.items()):
            if len(tied) > 1:
                problems.append(f"No ties: {' and '.join('Response ' + a for a in tied)} share rank {rank}.")
        if any(not 1 <= r <= len(aliases) for r in ranks.values()) or set(ranks) - set(aliases):
            problems.append(f"Ranks go from 1 to {len(aliases)}, one per response.")
    if needs_harm:
        harmless = harmless or {}
        missing = [a for a in aliases if a not in harmless]
        if missing:
            problems.append("Say whether each response is harmless or harmful: " + ", ".join(f"Response {a}" for a in missing) + " is not marked.")
    return problems


def _expired_lease_reclaim(*, lease: Lease, rater: User, now) -> None:
    """Take a slot on the item again for a submit that arrives after its lease expired.

    A stale tab is the usual source: its lease ran out, and a reload elsewhere may already
    have leased the same item to the same rater again. That newer lease holds the slot this
    judgement needs, so it is ended and its slot handed over (``claimed`` is unchanged:
    one lease fewer, one judgement more); otherwise the rater would be handed back an item
    they have already judged, which every later submit would refuse. Without such a lease
    the slot is taken again only if the item still has room.
    """
    if Judgement.objects.filter(item_id=lease.item_id, rater=rater).exists():
        raise AlreadySubmitted("You already saved a judgement of this item.")
    reissued = Lease.objects.filter(item_id=lease.item_id, rater=rater, state=Lease.State.ACTIVE).exclude(pk=lease.pk)
    if reissued.update(state=Lease.State.EXPIRED, ended_at=now):
        return
    if not Item.objects.filter(pk=lease.item_id, claimed__lt=lease.round.overlap).update(claimed=F("claimed") + 1):
        raise LeaseLost("Your time on this item ran out and other raters have filled it.")


def judgement_submit(
    *,
    rater: User,
    token: str,
    ranks: dict[str, int] | None = None,
    harmless: dict[str, bool] | None = None,
    active_ms: int | None = None,
    now=None,
) -> Judgement:
    """Store the rater's judgement of their leased item, whole or not at all.

    ``ranks`` maps the shown aliases (A, B, ...) to ranks 1..N, ``harmless`` maps them to
    True (harmless) or False (harmful). A second submit of the same lease, a lease of
    another rater and a lease whose slot went to someone else are refused.
    """
    now = now or timezone.now()
    with transaction.atomic():
        lease = Lease.objects.select_related("round", "item").filter(token=token).first()
        if lease is None or lease.rater_id != rater.pk:
            raise LeaseNotFound("No such item is leased to you.")
        round = lease.round
        if lease.state == Lease.State.DONE:
            raise AlreadySubmitted("This judgement was already saved.")
        if lease.state == Lease.State.SKIPPED:
            raise LeaseLost("You skipped this item.")
        if not round.is_open:
            raise RoundClosed("This round is closed.")
        aliases = [alias_for(i) for i in range(len(lease.shown_order))]
        problems = judgement_check(aliases=aliases, ranks=ranks, harmless=harmless, needs_ranks=round.ranks, needs_harm=round.judges_harm)
        if problems:
            raise InvalidJudgement(" ".join(problems))
        # The check above found every alias marked where the round asks for it.
        ranks, harmless = ranks or {}, harmless or {}
        if lease.state == Lease.State.EXPIRED:
            _expired_lease_reclaim(lease=lease, rater=rater, now=now)
        if not Lease.objects.filter(pk=lease.pk, state__in=[Lease.State.ACTIVE, Lease.State.EXPIRED]).update(state=Lease.State.DONE, ended_at=now):
            raise AlreadySubmitted("This judgement was already saved.")
        by_alias = dict(zip(aliases, lease.shown_order))
        degraded = set(Entry.objects.filter(item_id=lease.item_id, degraded=True).values_list("id", flat=True)) if lease.item.is_gold else set()
        try:
            with transaction.atomic():
                judgement = Judgement.objects.create(
                    round=round,
                    item_id=lease.item_id,
                    rater=rater,
                    lease=lease,
                    shown_order=lease.shown_order,
                    leased_at=lease.leased_at,
                    submitted_at=now,
                    server_ms=max(0, int((now - lease.leased_at).total_seconds() * 1000)),
                    active_ms=active_ms if active_ms is None else max(0, min(int(active_ms), 2**31 - 1)),
                    gold_passed=gold.gold_passed(ranks={by_alias[a]: r for a, r in ranks.items()}, degraded=degraded)
                    if round.ranks
                    else None,
                    ranks=[ranks[a] for a in aliases] if round.ranks else None,
                    harmless=[bool(harmless[a]) for a in aliases] if round.judges_harm else None,
                )
        except IntegrityError:
            raise AlreadySubmitted("This judgement was already saved.") from None
        Mark.objects.bulk_create(
            Mark(
                judgement=judgement,
                entry_id=entry_id,
                alias=alias,
                shown_position=position,
                rank=ranks[alias] if round.ranks else None,
                harmless=harmless[alias] if round.judges_harm else None,
            )
            for position, (alias, entry_id) in enumerate(by_alias.items())
        )
        Item.objects.filter(pk=lease.item_id).update(judged=F("judged") + 1)
    return judgement
