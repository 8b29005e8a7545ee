"""The rating queue's one query: which items a rater may be given next.

The lease service claims from it and the progress selector counts it; both read it here, so
the item a rater is given and the number they are told is left can never disagree.
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import connection

from webapp.rating.models import Item, Judgement, Lease, Round

# The queue's two reads run on every page a rater sees, so they are written out in SQL: the
# ORM spent more time building them than the database spent answering them. Plain SQL that
# SQLite and PostgreSQL both run.
_QUEUE_WHERE = """
    FROM {item} i
    WHERE i.round_id = %s AND i.claimed < %s
      AND i.prompt_id NOT IN (
        SELECT ji.prompt_id FROM {judgement} j JOIN {item} ji ON ji.id = j.item_id
        WHERE j.round_id = %s AND j.rater_id = %s)
      AND NOT EXISTS (
        SELECT 1 FROM {lease} l JOIN {item} li ON li.id = l.item_id
        WHERE l.round_id = %s AND l.rater_id = %s AND li.prompt_id = i.prompt_id
          AND (l.state IN ('active', 'skipped') OR li.id <> i.id))
"""
# A prompt is held out as a whole: after a skip (or an expired lease) the rater is not given
# the other item on the same prompt, because the same context coming back with one response
# made worse would point at the gold item. The item of an expired lease itself may come back.


def _queue_sql(select: str, tail: str = "") -> str:
    tables = {"item": Item._meta.db_table, "judgement": Judgement._meta.db_table, "lease": Lease._meta.db_table}
    return select + _QUEUE_WHERE.format(**tables) + tail


def _queue_params(rater: User, round: Round) -> list:
    return [round.pk, round.overlap, round.pk, rater.pk, round.pk, rater.pk]


def queue_next_ids(*, rater: User, round: Round, limit: int = 20) -> list[int]:
    """Items the rater may be given next: not judged, skipped or held by them (nor their prompt),
    with a free slot; least judged first. Among equals, a per-rater stable shuffle, so
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
