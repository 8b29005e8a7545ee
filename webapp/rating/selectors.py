"""Reads for the rating pages, the admin and the API.

What reaches a rater's page is built here as plain values (aliases and texts), never model
rows that carry policy names, so a template cannot leak them by accident.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from django.contrib.auth.models import User
from django.db.models import Count, Q

from webapp.rating.models import Entry, Item, Judgement, Lease, Mark, Round, RoundRater, alias_for
from webapp.rating.queue import queue_left


def open_rounds() -> list[Round]:
    return list(Round.objects.filter(is_open=True).select_related("experiment").order_by("created_at", "id"))


@dataclass(frozen=True)
class RaterProgress:
    done: int
    assigned: int
    left: int

    @property
    def total(self) -> int:
        return self.done + self.assigned + self.left

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 100


def rater_progress(*, round: Round, rater: User, holding: bool | None = None) -> RaterProgress:
    """Done: judged by this rater; assigned: leased to them now; left: what the queue could still give them.

    ``holding`` says whether the rater holds a lease, when the caller knows it already.
    """
    done = Judgement.objects.filter(round=round, rater=rater).count()
    if holding is None:
        holding = Lease.objects.filter(round=round, rater=rater, state=Lease.State.ACTIVE).exists()
    assigned = int(holding)
    left = queue_left(rater=rater, round=round) if round.is_open else 0
    return RaterProgress(done=done, assigned=assigned, left=left)


@dataclass(frozen=True)
class ShownResponse:
    alias: str
    text: str
    chosen_rank: int | None = None
    chosen_harm: str = ""


@dataclass(frozen=True)
class ItemView:
    token: str
    item_id: int
    context: str
    responses: list[ShownResponse]
    noun: str

    @property
    def ranks(self) -> list[int]:
        return list(range(1, len(self.responses) + 1))


def item_view(lease: Lease, entered: dict | None = None, *, noun: str = "Response") -> ItemView:
    """The leased item as the rater sees it; ``entered`` brings back choices made before a refusal."""
    entered = entered or {}
    ranks, harm = entered.get("ranks", {}), entered.get("harm", {})
    rows = Entry.objects.filter(item_id=lease.item_id).values_list("id", "text", "item__prompt__context")
    texts = {entry_id: text for entry_id, text, _ in rows}
    return ItemView(
        token=lease.token,
        item_id=lease.item_id,
        context=rows[0][2] if rows else "",
        responses=[
            ShownResponse(alias=a, text=texts[entry_id], chosen_rank=ranks.get(a), chosen_harm=harm.get(a, ""))
            for a, entry_id in ((alias_for(i), e) for i, e in enumerate(lease.shown_order))
        ],
        noun=noun,
    )


def active_lease(*, round: Round, rater: User) -> Lease | None:
    return Lease.objects.filter(round=round, rater=rater, state=Lease.State.ACTIVE).first()


# -- staff ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoundProgress:
    items: int
    gold_items: int
    judgements_needed: int
    judgements: int
    active_leases: int
    complete_items: int
    skips: int

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.judgements / self.judgements_needed)) if self.judgements_needed else 0


def round_progress(round: Round) -> RoundProgress:
    """Counts for staff; gold items count towards what is needed, as raters do them like any other."""
    counts = Item.objects.filter(round=round).aggregate(
        items=Count("id"),
        gold=Count("id", filter=Q(is_gold=True)),
        complete=Count("id", filter=Q(judged__gte=round.overlap)),
    )
    leases = Lease.objects.filter(round=round).aggregate(
        active=Count("id", filter=Q(state=Lease.State.ACTIVE)), skipped=Count("id", filter=Q(state=Lease.State.SKIPPED))
    )
    return RoundProgress(
        items=counts["items"],
        gold_items=counts["gold"],
        judgements_needed=counts["items"] * round.overlap,
        judgements=Judgement.objects.filter(round=round).count(),
        active_leases=leases["active"],
        complete_items=counts["complete"],
        skips=leases["skipped"],
    )


@dataclass
class RaterQuality:
    rater_id: int
    username: str
    judgements: int
    gold_seen: int
    gold_passed: int
    median_active_s: float | None
    median_server_s: float | None
    skips: int
    excluded: bool
    excluded_reason: str
    flagged: bool = field(default=False)

    @property
    def gold_accuracy(self) -> float | None:
        return self.gold_passed / self.gold_seen if self.gold_seen else None


def _median_seconds(milliseconds: list[int]) -> float | None:
    return float(f"{statistics.median(milliseconds) / 1000:.1f}") if milliseconds else None


def round_quality(round: Round) -> list[RaterQuality]:
    """One row per rater of the round: gold accuracy, median time per item, skips, and the QC flag."""
    memberships = {m.rater_id: m for m in RoundRater.objects.filter(round=round)}
    raters = dict(User.objects.filter(rating_leases__round=round).distinct().values_list("id", "username"))
    times: dict[int, list[tuple[int | None, int]]] = {}
    gold: dict[int, list[bool]] = {}
    for rater_id, active_ms, server_ms, passed in Judgement.objects.filter(round=round).values_list(
        "rater_id", "active_ms", "server_ms", "gold_passed"
    ):
        times.setdefault(rater_id, []).append((active_ms, server_ms))
        if passed is not None:
            gold.setdefault(rater_id, []).append(passed)
    skips = dict(
        Lease.objects.filter(round=round, state=Lease.State.SKIPPED).values("rater_id").annotate(n=Count("id")).values_list("rater_id", "n")
    )
    rows = []
    for rater_id, username in sorted(raters.items(), key=lambda kv: kv[1]):
        membership = memberships.get(rater_id)
        rater_times = times.get(rater_id, [])
        active = [a for a, _ in rater_times if a is not None]
        row = RaterQuality(
            rater_id=rater_id,
            username=username,
            judgements=len(rater_times),
            gold_seen=len(gold.get(rater_id, [])),
            gold_passed=sum(gold.get(rater_id, [])),
            median_active_s=_median_seconds(active),
            median_server_s=_median_seconds([s for _, s in rater_times]),
            skips=skips.get(rater_id, 0),
            excluded=bool(membership and membership.excluded),
            excluded_reason=membership.excluded_reason if membership else "",
        )
        row.flagged = row.gold_accuracy is not None and row.gold_accuracy < round.min_gold_accuracy
        rows.append(row)
    return rows


def excluded_rater_ids(round: Round) -> set[int]:
    return set(RoundRater.objects.filter(round=round, excluded=True).values_list("rater_id", flat=True))


def judgement_records(round: Round, judgements=None):
    """Every judgement of the round as one flat dict: shown order, alias -> policy, ranks, harm, timings, gold, excluded."""
    excluded = excluded_rater_ids(round)
    judgements = Judgement.objects.filter(round=round) if judgements is None else judgements
    judgements = judgements.select_related("rater", "item").order_by("id")
    for chunk_start in range(0, judgements.count(), 500):
        chunk = list(judgements[chunk_start : chunk_start + 500])
        marks: dict[int, list[Mark]] = {}
        for mark in Mark.objects.filter(judgement__in=chunk).select_related("entry").order_by("judgement_id", "shown_position"):
            marks.setdefault(mark.judgement_id, []).append(mark)
        for judgement in chunk:
            shown = marks.get(judgement.pk, [])
            ranked = sorted((m for m in shown if m.rank is not None), key=lambda m: m.rank or 0)  # only ranked marks (1..N)
            yield {
                "judgement_id": judgement.pk,
                "round_id": round.pk,
                "item_id": judgement.item_id,
                "prompt_id": judgement.item.prompt_id,
                "rater": judgement.rater.username,
                "rater_id": judgement.rater_id,
                "excluded": judgement.rater_id in excluded,
                "is_gold": judgement.item.is_gold,
                "gold_passed": judgement.gold_passed,
                "shown_order": [m.alias for m in shown],
                "alias_policy": {m.alias: m.entry.policy for m in shown},
                "ranking": [m.alias for m in ranked],
                "ranking_policies": [m.entry.policy for m in ranked],
                "harmless": {m.alias: m.harmless for m in shown if m.harmless is not None},
                "leased_at": judgement.leased_at.isoformat(),
                "submitted_at": judgement.submitted_at.isoformat(),
                "server_ms": judgement.server_ms,
                "active_ms": judgement.active_ms,
            }
