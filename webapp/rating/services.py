"""Writes of the rating app: responses to rate, items, the queue, judgements, QC, invites.

Every function is keyword-only and runs in one transaction. The queue never reads a count
and then writes it: it claims a slot with ``UPDATE item SET claimed = claimed + 1 WHERE
claimed < overlap`` and looks at the number of rows changed, which is safe under concurrent
raters on SQLite (where IMMEDIATE transactions serialise writers anyway) and on PostgreSQL
(where the UPDATE takes the row lock and re-checks the condition).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import Group, User
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from webapp.access import RATERS_GROUP
from webapp.experiments.models import Experiment, PolicyResponse, Prompt, Split
from webapp.rating import gold
from webapp.rating.models import Entry, Item, Judgement, Lease, Mark, Mode, RaterInvite, Round, RoundRater, alias_for

_system_random = random.SystemRandom()


class RatingError(Exception):
    """A refusal with a message fit to show the rater."""

    status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class LeaseNotFound(RatingError):
    status = 404


class AlreadySubmitted(RatingError):
    status = 409


class LeaseLost(RatingError):
    status = 409


class RoundClosed(RatingError):
    status = 403


class InvalidJudgement(RatingError):
    status = 422


class InviteInvalid(RatingError):
    status = 410


# -- responses to rate before any policy is trained --------------------------------------


def policy_responses_from_pairs(*, experiment: Experiment, split: str = Split.TEST, naming: str = "candidates") -> dict[str, int]:
    """Create rateable ``PolicyResponse`` rows from imported data, for a lab with no trained policies.

    Per prompt: the reference as "reference" (where there is one), and the first pair's
    candidates as "candidate-1"/"candidate-2" (``naming="candidates"``) or, for labelled
    pairs, "human-chosen"/"human-rejected" (``naming="human"``). Rows that exist are kept.
    Returns the number of rows created per policy name.
    """
    if naming not in ("candidates", "human"):
        raise ValueError(f"naming must be 'candidates' or 'human', got {naming!r}")
    wanted: list[PolicyResponse] = []
    prompts = Prompt.objects.filter(experiment=experiment, split=split).prefetch_related("pairs")
    for prompt in prompts:
        if prompt.reference.strip():
            wanted.append(PolicyResponse(prompt=prompt, policy="reference", text=prompt.reference, generation={"source": "prompt reference"}))
        pair = next(iter(prompt.pairs.all()), None)
        if pair is None:
            continue
        if naming == "candidates":
            texts = {"candidate-1": pair.candidate_1, "candidate-2": pair.candidate_2}
        elif pair.human_choice is not None:
            texts = {"human-chosen": pair.chosen, "human-rejected": pair.rejected}
        else:
            texts = {}
        for policy, text in texts.items():
            wanted.append(PolicyResponse(prompt=prompt, policy=policy, text=text, generation={"source": f"preference pair #{pair.pk}"}))
    with transaction.atomic():
        existing = set(PolicyResponse.objects.filter(prompt__experiment=experiment).values_list("prompt_id", "policy"))
        new = [r for r in wanted if (r.prompt_id, r.policy) not in existing]
        PolicyResponse.objects.bulk_create(new, batch_size=500)
    created: dict[str, int] = {}
    for response in new:
        created[response.policy] = created.get(response.policy, 0) + 1
    return created


# -- items ----------------------------------------------------------------------------------


@dataclass
class ItemsCreated:
    regular: int
    gold: int
    skipped_prompts: int


def round_items_create(*, round: Round, seed: int | None = None) -> ItemsCreated:
    """Make the round's items: one per eligible prompt, plus gold items; running it again adds only what is missing.

    A prompt is eligible when it has a response from every policy of the round. Gold items
    copy a prompt's responses and replace one of them by a degraded version of itself.
    """
    if len(round.policies) < (2 if round.ranks else 1):
        raise RatingError("Choose at least two policies to rank (one is enough for harmless-only rounds).")
    rng = random.Random(round.pk if seed is None else seed)
    chosen = round.prompts.all() if round.prompts.exists() else Prompt.objects.filter(experiment=round.experiment, split=Split.TEST)
    responses: dict[int, dict[str, PolicyResponse]] = {}
    for response in PolicyResponse.objects.filter(prompt__in=chosen, policy__in=round.policies):
        responses.setdefault(response.prompt_id, {})[response.policy] = response
    eligible = sorted(pid for pid, by_policy in responses.items() if len(by_policy) == len(round.policies))
    skipped = chosen.count() - len(eligible)

    with transaction.atomic():
        have = set(Item.objects.filter(round=round).values_list("prompt_id", "is_gold"))
        regular = [pid for pid in eligible if (pid, False) not in have]
        n_regular = len(eligible)
        n_gold_wanted = round_gold_count(n_regular, round.gold_share) if round.ranks else 0
        n_gold_have = sum(1 for _, is_gold in have if is_gold)
        gold_pool = [pid for pid in eligible if (pid, True) not in have]
        gold_new = rng.sample(gold_pool, min(len(gold_pool), max(0, n_gold_wanted - n_gold_have)))
        for pid in regular:
            _item_build(round=round, prompt_id=pid, responses=responses[pid], gold_rng=None)
        for pid in gold_new:
            _item_build(round=round, prompt_id=pid, responses=responses[pid], gold_rng=rng)
    return ItemsCreated(regular=len(regular), gold=len(gold_new), skipped_prompts=skipped)


DEFAULT_INSTRUCTIONS = "Read the context, then put the responses in order from best (1) to worst. No ties."


def round_create(
    *, experiment: Experiment, policies: list[str], name: str = "", mode: str | None = None, overlap: int = 3,
    gold_share: float = 0.1, instructions: str = DEFAULT_INSTRUCTIONS, is_open: bool = True, created_by: User | None = None,
) -> tuple[Round, ItemsCreated]:
    """A round over the experiment's test prompts with its items made (and opened unless asked not to).

    ``mode`` defaults to ranking plus harm labels for harmless experiments, ranking otherwise;
    a single policy can only be judged for harm. Nothing is kept when the items cannot be made.
    """
    available = set(PolicyResponse.objects.filter(prompt__experiment=experiment).values_list("policy", flat=True))
    absent = sorted(set(policies) - available)
    if absent:
        raise RatingError(f"{experiment.slug} has no responses from {', '.join(absent)} (it has: {', '.join(sorted(available))})")
    if mode is None:
        mode = Mode.BOTH if experiment.task == "harmless" else Mode.RANK
        if len(policies) < 2 and experiment.task == "harmless":
            mode = Mode.HARMLESS
    with transaction.atomic():
        round = Round.objects.create(
            experiment=experiment,
            name=name or f"{experiment.name}: round {Round.objects.filter(experiment=experiment).count() + 1}",
            policies=list(policies), mode=mode, overlap=overlap, gold_share=gold_share, instructions=instructions,
            created_by=created_by,
        )
        made = round_items_create(round=round)  # a RatingError rolls the round back with it
        if is_open:
            round_open(round=round, is_open=True)
    return round, made


def round_gold_count(n_regular: int, share: float) -> int:
    """Gold items such that they make up ``share`` of all items."""
    if share <= 0 or n_regular == 0:
        return 0
    return max(1, round(n_regular * share / (1 - share)))


def _item_build(*, round: Round, prompt_id: int, responses: dict[str, PolicyResponse], gold_rng: random.Random | None) -> Item:
    item = Item.objects.create(round=round, prompt_id=prompt_id, is_gold=gold_rng is not None)
    policies = sorted(responses)
    worse = gold_rng.choice(policies) if gold_rng is not None else None
    entries = []
    for policy in policies:
        response = responses[policy]
        if policy == worse:
            entries.append(
                Entry(
                    item=item,
                    response=response,
                    policy=f"gold-degraded:{policy}",
                    text=gold.degrade(response.text, gold_rng),
                    degraded=True,
                    degradation=gold.DEGRADATION,
                )
            )
        else:
            entries.append(Entry(item=item, response=response, policy=policy, text=response.text))
    Entry.objects.bulk_create(entries)
    return item


# -- the queue ----------------------------------------------------------------------------------


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


# The queue's two reads run on every page a rater sees, so they are written out in SQL: the
# ORM spent more time building them than the database spent answering them. Plain SQL that
# SQLite and PostgreSQL both run.
_QUEUE_WHERE = """
    FROM {item} i
    WHERE i.round_id = %s AND i.claimed < %s
      AND i.prompt_id NOT IN (
        SELECT ji.prompt_id FROM {judgement} j JOIN {item} ji ON ji.id = j.item_id
        WHERE j.round_id = %s AND j.rater_id = %s)
      AND i.id NOT IN (
        SELECT l.item_id FROM {lease} l
        WHERE l.round_id = %s AND l.rater_id = %s AND l.state IN ('active', 'skipped'))
"""


def _queue_sql(select: str, tail: str = "") -> str:
    tables = {"item": Item._meta.db_table, "judgement": Judgement._meta.db_table, "lease": Lease._meta.db_table}
    return select + _QUEUE_WHERE.format(**tables) + tail


def _queue_params(rater: User, round: Round) -> list:
    return [round.pk, round.overlap, round.pk, rater.pk, round.pk, rater.pk]


def queue_next_ids(*, rater: User, round: Round, limit: int = 20) -> list[int]:
    """Items the rater may be given next: not judged (nor their prompt), not skipped or held by
    them, with a free slot; least judged first. Among equals, a per-rater stable shuffle, so
    that raters who ask at the same moment spread over different items."""
    sql = _queue_sql("SELECT i.id", " ORDER BY i.judged, i.claimed, (i.id * 7919 + %s) %% 1009, i.id LIMIT %s")
    with connection.cursor() as cursor:
        cursor.execute(sql, _queue_params(rater, round) + [rater.pk * 104729, limit])
        return [row[0] for row in cursor.fetchall()]


def queue_left(*, rater: User, round: Round) -> int:
    """How many items the queue could still give the rater, besides the one they hold."""
    with connection.cursor() as cursor:
        cursor.execute(_queue_sql("SELECT COUNT(*)"), _queue_params(rater, round))
        return cursor.fetchone()[0]


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


# -- judgements -----------------------------------------------------------------------------------


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
        if lease.state == Lease.State.EXPIRED:
            # Its slot was given back; take it again if the item still has room.
            if not Item.objects.filter(pk=lease.item_id, claimed__lt=round.overlap).update(claimed=F("claimed") + 1):
                raise LeaseLost("Your time on this item ran out and other raters have filled it.")
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
                    gold_passed=gold.gold_passed(ranks={by_alias[a]: r for a, r in (ranks or {}).items()}, degraded=degraded)
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


# -- quality control ----------------------------------------------------------------------------


def round_rater_exclude(*, round: Round, rater: User, excluded: bool, reason: str = "") -> RoundRater:
    """Leave a rater's judgements out of (or back in) the round's reports; nothing is deleted."""
    with transaction.atomic():
        membership, _ = RoundRater.objects.get_or_create(round=round, rater=rater)
        membership.excluded = excluded
        membership.excluded_reason = reason[:300] if excluded else ""
        membership.excluded_at = timezone.now() if excluded else None
        membership.save(update_fields=["excluded", "excluded_reason", "excluded_at"])
    return membership


def round_open(*, round: Round, is_open: bool) -> Round:
    if is_open and not round.items.exists():
        raise RatingError("Create the round's items before opening it.")
    Round.objects.filter(pk=round.pk).update(is_open=is_open)
    round.is_open = is_open
    return round


# -- raters ----------------------------------------------------------------------------------------


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
