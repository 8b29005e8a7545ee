"""Reads of the report pages, the API and the ``report`` command: human judgements.

The database becomes the statistics module's plain inputs here (``RankingTable`` and ``HarmTable``
tables), with gold items and excluded raters' judgements left out, and the computed report is
cached per experiment under a fingerprint of what it was computed from. The results page
polls every few seconds; a poll then costs a few aggregate queries, not a recomputation.
The runs side (labeling, reward models, training curves, cost) is in ``run_selectors.py``.
"""

from __future__ import annotations

import gc
import hashlib
import json
from collections.abc import Hashable
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import connection
from django.db.models import Avg, Count, Exists, Max, Min, OuterRef, Q, Subquery, Sum
from django.utils import timezone

from pipeline.stats import compute_report
from pipeline.stats.ppi import ppi_harmless_rates, ppi_win_rates_vs
from pipeline.stats.tables import Coded, HarmTable, RankingTable, encode_harm_columns, encode_ranking_flat
from pipeline.stats.winrate import DEFAULT_N_BOOT
from webapp.experiments.models import Experiment, PolicyResponse
from webapp.rating import selectors as rating_selectors
from webapp.rating.models import AiHarmJudgement, AiJudgement, Judgement, Round, RoundRater
from webapp.reports.length_selectors import LengthUnit, entry_lengths, length_summary

# The statistics' own number of prompt-bootstrap resamples (why that many: pipeline/stats/winrate.py)
# with a fixed seed: the same data always gives the same intervals, so the page, the API and
# the command agree to the last digit.
N_BOOT = DEFAULT_N_BOOT
SEED = 0
DEFAULT_BASELINE = "sft"
# Keys carry the fingerprint, so an entry is never stale; the timeout only bounds memory.
CACHE_SECONDS = 24 * 3600


class BaselineError(ValueError):
    """The baseline asked for is not among the ranked policies."""


def digest(*parts) -> str:
    return hashlib.sha1(repr(parts).encode()).hexdigest()[:16]


def cached(kind: str, experiment: Experiment, fingerprint: str, compute, *extra):
    """``compute()`` once per (experiment, fingerprint, extra) in Django's cache."""
    key = f"reports:{kind}:{experiment.pk}:{fingerprint}:{digest(*extra)}"
    value = cache.get(key)
    if value is None:
        value = compute()
        cache.set(key, value, CACHE_SECONDS)
    return value


def _excluded_membership(round_field: str, rater_field: str):
    return RoundRater.objects.filter(round_id=OuterRef(round_field), rater_id=OuterRef(rater_field), excluded=True)


def human_fingerprint(experiment: Experiment) -> str:
    """What the human report depends on: judgements, exclusions, the responses' lengths and the AI judge's scores."""
    judgements = Judgement.objects.filter(round__experiment=experiment).aggregate(n=Count("id"), last=Max("id"))
    excluded = list(
        RoundRater.objects.filter(round__experiment=experiment, excluded=True)
        .order_by("round_id", "rater_id")
        .values_list("round_id", "rater_id")
    )
    responses = PolicyResponse.objects.filter(prompt__experiment=experiment).aggregate(
        n=Count("id"), last=Max("id"), measured=Count("length_tokens"), total=Sum("length_tokens"),
        first_tokenizer=Min("length_tokenizer"), last_tokenizer=Max("length_tokenizer"))
    return digest(experiment.slug, experiment.created_at, judgements, excluded, responses, _ai_judged(experiment))


def _ai_judged(experiment: Experiment) -> tuple:
    """Count and last id of the AI judge's pair scores and harm labels, in one query."""
    def scalar(model, value):
        rows = model.objects.filter(round__experiment=OuterRef("pk")).order_by().values("round__experiment")
        return Subquery(rows.annotate(v=value).values("v")[:1])

    return tuple(Experiment.objects.filter(pk=experiment.pk).values_list(
        scalar(AiJudgement, Count("id")), scalar(AiJudgement, Max("id")),
        scalar(AiHarmJudgement, Count("id")), scalar(AiHarmJudgement, Max("id")),
    ).get())


def harm_scores(experiment: Experiment) -> dict[tuple[Hashable, str], float]:
    """The AI judge's P(harmless) per (prompt, policy), averaged where several rounds scored it."""
    rows = (AiHarmJudgement.objects.filter(round__experiment=experiment).order_by()
            .values_list("item__prompt_id", "policy").annotate(p=Avg("p")))
    return {(prompt, policy): float(p) for prompt, policy, p in rows}


def judge_scores(experiment: Experiment) -> dict[tuple[Hashable, str, str], float]:
    """The AI judge's P(a beats b) per (prompt, a, b), averaged where several rounds scored it."""
    rows = (AiJudgement.objects.filter(round__experiment=experiment).order_by()
            .values_list("item__prompt_id", "policy_a", "policy_b").annotate(p=Avg("p")))
    return {(prompt, a, b): float(p) for prompt, a, b, p in rows}


@dataclass
class HumanInputs:
    rankings: RankingTable
    harm_labels: HarmTable
    lengths: dict[str, list[float]] = field(default_factory=dict)
    length_unit: LengthUnit | None = None


def _list_column(values: list | tuple, sizes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """A column of JSON arrays of numbers or booleans (``[3, 1, 2]``, ``[true, false]``) as
    (length of each array, all their elements in one flat array), parsed in one numpy call:
    100k rows cost ~20 ms this way against ~200 ms through a JSON parser call per row.
    ``sizes``, when the lengths are known, are checked by the total only. Values a driver
    already decoded are re-encoded first."""
    texts = [v if isinstance(v, str) else json.dumps(v) for v in values]
    if sizes is None:
        sizes = np.fromiter((0 if t.strip() == "[]" else t.count(",") + 1 for t in texts), dtype=np.int64,
                            count=len(texts))
    flat = ",".join(t for t in texts if t.strip() != "[]").translate(_LIST_TEXT)
    flat = flat.replace("true", "1").replace("false", "0")
    elements = np.fromstring(flat, dtype=np.int64, sep=",") if flat.strip() else np.zeros(0, dtype=np.int64)
    if elements.size != sizes.sum():
        raise ValueError("a judgement's ranks or harm labels do not line up with its shown order")
    return sizes, elements


_LIST_TEXT = str.maketrans({"[": " ", "]": " "})


@contextmanager
def _gc_paused():
    """Pause the cyclic garbage collector while a read allocates ~600k short-lived tuples and
    strings (100k judgements): they hold no cycles, yet each allocation burst sets off
    collections that walk the whole heap, ~25 % of the read's time."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _judgement_rows(experiment: Experiment) -> list[tuple]:
    """(item, prompt, rater id, shown_order, ranks, harmless) of every counted judgement, in id order.

    The ORM writes the query (gold and excluded raters left out, portable across SQLite and
    PostgreSQL); it runs on a plain cursor, so the three JSON columns come back as text and are
    parsed a column at a time rather than through a field converter per value."""
    query = (
        Judgement.objects.filter(round__experiment=experiment, item__is_gold=False)
        .filter(~Exists(_excluded_membership("round_id", "rater_id")))
        .order_by("id")
        .values_list("item_id", "item__prompt_id", "rater_id", "shown_order", "ranks", "harmless")
    )
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def human_inputs(experiment: Experiment) -> HumanInputs:
    """Rankings and harm labels of every round of the experiment as encoded tables, gold items
    and excluded raters' judgements left out (they stay in the database and in the exports).

    One row per judgement: its ranks and harm labels are read from the copies the submit
    stores beside the marks (aligned with shown_order), not joined from four marks each, and
    go into the tables as flat arrays: building 100k Ranking objects would cost more than
    computing every statistic of the report."""
    with _gc_paused():
        return _read_inputs(experiment)


def _read_inputs(experiment: Experiment) -> HumanInputs:
    entries, per_policy, unit = entry_lengths(experiment)
    names = tuple(sorted({policy for policy, _ in entries.values()}))
    size = max(entries, default=0) + 1
    policy_of = np.full(size, -1, dtype=np.int64)
    length_of = np.full(size, np.nan)
    for entry_id, (policy, length) in entries.items():
        policy_of[entry_id] = names.index(policy)
        length_of[entry_id] = length

    rows = _judgement_rows(experiment)
    item_ids, prompt_ids, rater_ids, shown_raw, ranks_raw, harmless_raw = zip(*rows) if rows else ((),) * 6
    item = np.asarray(item_ids, dtype=np.int64)
    prompt = np.asarray(prompt_ids, dtype=np.int64)
    rater = np.asarray(rater_ids, dtype=np.int64)
    sizes, shown = _list_column(shown_raw)
    row_of = np.repeat(np.arange(len(rows)), sizes)

    def for_rows(raw: tuple) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows where this column is set, their entries' positions in ``shown``, and its values."""
        has = np.fromiter((v is not None for v in raw), dtype=bool, count=len(raw))
        _, values = _list_column([v for v in raw if v is not None], sizes[has])
        return has, np.flatnonzero(has[row_of]), values

    ranked, at, ranks = for_rows(ranks_raw)
    ranked_big = ranked & (sizes >= 2)  # a one-response judgement is not a ranking
    keep = ranked_big[row_of[at]]
    rankings = encode_ranking_flat(
        item[ranked_big], prompt[ranked_big], rater[ranked_big], sizes[ranked_big],
        Coded(policy_of[shown[at[keep]]], names), ranks[keep], length_of[shown[at[keep]]])
    labelled, at, harmless = for_rows(harmless_raw)
    harm = encode_harm_columns(
        np.repeat(item[labelled], sizes[labelled]), np.repeat(prompt[labelled], sizes[labelled]),
        np.repeat(rater[labelled], sizes[labelled]), Coded(policy_of[shown[at]], names), harmless.astype(bool))
    usernames = _usernames(set(np.unique(rater).tolist()))
    return HumanInputs(
        rankings=replace(rankings, raters=tuple(usernames[r] for r in rankings.raters)),
        harm_labels=replace(harm, raters=tuple(usernames[r] for r in harm.raters)),
        lengths=per_policy,
        length_unit=unit,
    )


def _usernames(user_ids: set[int]) -> dict[Hashable, str]:
    """Raters are known by username in every report table (the tables hold their user ids)."""
    return dict(User.objects.filter(id__in=user_ids).values_list("id", "username")) if user_ids else {}


def choose_baseline(policies: list[str], wanted: str | None) -> str:
    """The policy others are compared with: the one asked for, else SFT, else the first by name."""
    if wanted:
        if policies and wanted not in policies:
            raise BaselineError(f"baseline {wanted!r} is not among the ranked policies: {', '.join(policies)}")
        return wanted
    if not policies or DEFAULT_BASELINE in policies:
        return DEFAULT_BASELINE
    return policies[0]


def judgement_counts(experiment: Experiment) -> dict[str, int]:
    excluded = Exists(_excluded_membership("round_id", "rater_id"))
    counts = (
        Judgement.objects.filter(round__experiment=experiment)
        .annotate(is_excluded=excluded)
        .aggregate(
            total=Count("id"),
            gold=Count("id", filter=Q(item__is_gold=True)),
            # Gold judgements of an excluded rater count as gold only: each judgement once in the header.
            excluded=Count("id", filter=Q(item__is_gold=False, is_excluded=True)),
            included=Count("id", filter=Q(item__is_gold=False, is_excluded=False)),
        )
    )
    return {key: int(value or 0) for key, value in counts.items()}


def excluded_raters(experiment: Experiment) -> list[dict]:
    """Raters left out of the reports, per round, with how many judgements that removed."""
    counts = {(r, u): n for r, u, n in _judgements_per_rater(experiment)}
    memberships = RoundRater.objects.filter(round__experiment=experiment, excluded=True).select_related("round", "rater")
    return [
        {
            "round_id": m.round_id,
            "round": m.round.name,
            "rater": m.rater.username,
            "reason": m.excluded_reason,
            "excluded_at": m.excluded_at.isoformat() if m.excluded_at else None,
            "judgements": counts.get((m.round_id, m.rater_id), 0),
        }
        for m in memberships.order_by("round_id", "rater__username")
    ]


def _judgements_per_rater(experiment: Experiment):
    return (
        Judgement.objects.filter(round__experiment=experiment)
        .order_by()
        .values("round_id", "rater_id")
        .annotate(n=Count("id"))
        .values_list("round_id", "rater_id", "n")
    )


def _unrated(experiment: Experiment, inputs: HumanInputs) -> dict[str, list[str]]:
    """Policies that take part in a round but have no rankings (or no harm labels) yet: the report
    lists them with the reason instead of leaving them out without a word."""
    rounds = list(Round.objects.filter(experiment=experiment).values_list("policies", "mode"))
    ranked = {p for policies, mode in rounds if mode != "harmless" for p in policies}
    labelled = {p for policies, mode in rounds if mode != "rank" for p in policies}
    return {"rankings": sorted(ranked - set(inputs.rankings.policies)),
            "harm": sorted(labelled - set(inputs.harm_labels.policies))}


def _human_report(experiment: Experiment, baseline: str | None, fingerprint: str) -> dict:
    inputs = human_inputs(experiment)
    policies = list(inputs.rankings.policies)
    chosen = choose_baseline(policies, baseline)
    report = compute_report(inputs.rankings, inputs.harm_labels, baseline=chosen, n_boot=N_BOOT, seed=SEED)
    return {
        "experiment": experiment.slug,
        "fingerprint": fingerprint,
        "computed_at": timezone.now().isoformat(),
        "baseline": chosen,
        "judgements": judgement_counts(experiment),
        "excluded_raters": excluded_raters(experiment),
        "lengths": length_summary(inputs.lengths),
        "length_unit": inputs.length_unit.to_dict() if inputs.length_unit else None,
        "stats": report.to_dict(),
        "ai_assisted": [row.to_dict() for row in ppi_win_rates_vs(inputs.rankings, judge_scores(experiment), chosen)],
        "ai_harmless": [row.to_dict() for row in ppi_harmless_rates(inputs.harm_labels, harm_scores(experiment))],
        "unrated": _unrated(experiment, inputs),
    }


def human_report(experiment: Experiment, baseline: str | None = None) -> dict:
    """The whole human-evaluation report as JSON-ready data, cached until a judgement,
    an exclusion or a response changes. Raises ``BaselineError`` for an unknown baseline."""
    fingerprint = human_fingerprint(experiment)
    return cached("human", experiment, fingerprint, lambda: _human_report(experiment, baseline or None, fingerprint), baseline or "")


def _agreement_summary(stats: dict | None) -> dict:
    stats = dict(stats or {})
    stats.pop("raters", None)
    return stats


def rater_report(experiment: Experiment) -> dict:
    """Rater quality per round (reusing the rating app's QC reads) with each rater's agreement
    with the majority, which comes from the report, so excluded raters and gold are left out."""
    human = human_report(experiment)
    rank_agreement = {r["rater"]: r for r in human["stats"]["ranking_agreement"]["raters"]}
    harm_agreement = {r["rater"]: r for r in human["stats"]["harm_agreement"]["raters"]}
    rounds, raters = [], []
    for round in Round.objects.filter(experiment=experiment).order_by("created_at", "id"):
        progress = rating_selectors.round_progress(round)
        quality = rating_selectors.round_quality(round)
        gold_seen = sum(q.gold_seen for q in quality)
        rounds.append({
            "round_id": round.pk, "round": round.name, "mode": round.mode, "items": progress.items,
            "gold_items": progress.gold_items, "judgements": progress.judgements,
            "judgements_needed": progress.judgements_needed, "percent": progress.percent,
            "gold_accuracy": sum(q.gold_passed for q in quality) / gold_seen if gold_seen else None,
        })
        for q in quality:
            rank, harm = rank_agreement.get(q.username, {}), harm_agreement.get(q.username, {})
            raters.append({
                "round_id": round.pk, "round": round.name, "rater": q.username, "judgements": q.judgements,
                "gold_seen": q.gold_seen, "gold_passed": q.gold_passed, "gold_accuracy": q.gold_accuracy,
                "median_active_s": q.median_active_s, "median_server_s": q.median_server_s, "skips": q.skips,
                "flagged": q.flagged, "excluded": q.excluded, "excluded_reason": q.excluded_reason,
                "rank_agreement": None if q.excluded else rank.get("agreement"),
                "rank_agreement_n": 0 if q.excluded else rank.get("n", 0),
                "harm_agreement": None if q.excluded else harm.get("agreement"),
                "harm_agreement_n": 0 if q.excluded else harm.get("n", 0),
            })
    return {
        "experiment": experiment.slug,
        "agreement": {
            "ranking": _agreement_summary(human["stats"]["ranking_agreement"]),
            "harm": _agreement_summary(human["stats"]["harm_agreement"]),
        },
        "rounds": rounds,
        "raters": raters,
        "excluded_raters": human["excluded_raters"],
    }
