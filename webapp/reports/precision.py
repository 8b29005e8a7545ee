"""Stop rating when precise enough: a round's target half-width against the report's intervals.

A round may carry ``target_half_width``. The report (which pools the experiment's judgements)
then says, for every interval shown first (each win rate vs the baseline, each harmless rate),
how wide it is, how many more human ratings the data so far suggests it needs, with and without
the AI judge (``pipeline.stats.precision``), and the round closes itself after the judgement
that brings every interval within the target. It closes on precision, never on significance.
The check lives here, above the rating app, and runs when a judgement is saved (``apps.ready``).
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from pipeline.stats.precision import precision_target
from webapp.experiments.models import Experiment
from webapp.rating.models import Round
from webapp.rating.services.rounds import round_open
from webapp.reports import selectors


def precision_rows(payload: dict, target: float) -> list[dict]:
    """One target row per interval shown first in the report ``payload`` (``selectors.human_report``)."""
    stats = payload["stats"]
    judged_wins = {row["policy"]: row["rate"] for row in payload.get("ai_assisted") or []}
    judged_harm = {row["policy"]: row["rate"] for row in payload.get("ai_harmless") or []}
    rows = []
    for row in stats["vs_baseline"]:
        rows.append(_row(f"{row['a']} vs {row['b']}", row.get("crossed"), row["n"], target, judged_wins.get(row["a"])))
    for row in stats["harmless"]:
        rows.append(_row(f"harmless: {row['policy']}", row.get("crossed"), row["n"], target, judged_harm.get(row["policy"])))
    return rows


def _row(name: str, crossed: dict | None, ratings: int, target: float, judged: dict | None) -> dict:
    interval = (crossed or {}).get("interval") or {}
    judge = (judged or {}).get("interval") or {}
    prompts = int((crossed or {}).get("n_prompts") or 0)
    return precision_target(name, low=interval.get("low"), high=interval.get("high"), ratings=ratings, prompts=prompts,
                            target=target, judge_low=judge.get("low"), judge_high=judge.get("high")).to_dict()


def experiment_target(experiment: Experiment) -> Round | None:
    """The experiment's round with a precision target (the open one first, then the newest)."""
    return (Round.objects.filter(experiment=experiment, target_half_width__isnull=False)
            .order_by("-is_open", "-created_at", "-id").first())


# A round without a target: nothing to measure against.
NO_TARGET: dict[str, object] = {"target": None, "rows": [], "met": False, "more_ratings": None, "more_with_judge": None}


def round_precision(round: Round) -> dict:
    """The round's target, each interval's row and whether all are met (needs at least one row)."""
    if round.target_half_width is None:
        return dict(NO_TARGET)
    rows = precision_rows(selectors.human_report(round.experiment), round.target_half_width)
    return {
        "target": round.target_half_width,
        "rows": rows,
        "met": bool(rows) and all(r["met"] for r in rows),
        "more_ratings": _most(r["more_ratings"] for r in rows),
        "more_with_judge": _most(r["more_with_judge"] for r in rows),
    }


def _most(values) -> int | None:
    """The ratings still needed for every target: the largest need, unknown if any is."""
    values = list(values)
    return None if not values or any(v is None for v in values) else max(values)


def experiment_precision(experiment: Experiment) -> dict:
    """The report's precision block: the experiment's round with a target and where each interval
    stands (``round``: None and a ``reason`` when no round has a target)."""
    round = experiment_target(experiment)
    if round is None:
        return {"round": None, "round_name": None, "is_open": None, "precision_met_at": None,
                "reason": "No round has a target half-width (make_round --target-half-width, or the round's admin page).",
                **NO_TARGET}
    return {"round": round.pk, "round_name": round.name, "is_open": round.is_open,
            "precision_met_at": round.precision_met_at.isoformat() if round.precision_met_at else None, "reason": "",
            **round_precision(round)}


def round_close_if_precise(*, round_id: int) -> bool:
    """Close the open round ``round_id`` when every interval is within its target; True if it closed."""
    round = Round.objects.filter(pk=round_id, is_open=True, target_half_width__isnull=False).select_related("experiment").first()
    if round is None or not round_precision(round)["met"]:
        return False
    with transaction.atomic():
        closed = Round.objects.filter(pk=round.pk, is_open=True).update(precision_met_at=timezone.now())
        if closed:
            round_open(round=round, is_open=False)
    return bool(closed)


def judgement_saved(sender, instance, created: bool, **kwargs) -> None:
    """post_save of a judgement: after its transaction commits, check the round's target."""
    if created and instance.round.target_half_width is not None:
        round_id = instance.round_id
        transaction.on_commit(lambda: round_close_if_precise(round_id=round_id))
