"""The AI judge of an evaluation round: the experiment's labeler (or any judge model) scores
every pair of responses of every item, in both orders, as a soft preference, and, when the
round asks raters about harm, every response's P(harmless) in both label orders.

The report combines these scores with the human judgements into prediction-powered estimates
(``pipeline.stats.ppi``): the judge covers every item, the humans the ones they rated. Gold
items are left out (they test raters, not policies). Scores are saved per chunk of pairs in one
transaction and a pair already scored is not scored again, so a killed run resumes where its
last chunk ended and a second run on a round adds only what is missing (new items, new policies).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import combinations

from django.db import transaction

from pipeline.configs import LabelingConfig
from pipeline.labeling.engine import Labeler, Sample
from pipeline.labeling.harm import HarmJudge
from pipeline.progress import Progress, ProgressFn
from webapp.pipeline.services.labeling import load_labeler
from webapp.rating.models import AiHarmJudgement, AiJudgement, Item, Round


class NothingToJudge(ValueError):
    """The round has no pair of responses to compare and no response to label for harm."""

    def __init__(self, round: Round):
        super().__init__(f"round #{round.pk} ({round.name}) has nothing to judge: no item with two responses "
                         "to compare or a response to label for harm")


@dataclass(frozen=True)
class _Pair:
    item: Item
    context: str
    policy_a: str
    policy_b: str
    text_a: str
    text_b: str


@dataclass(frozen=True)
class _Response:
    item: Item
    context: str
    policy: str
    text: str


def judge_items(*, round: Round, limit: int | None = None) -> list[Item]:
    """The items the judge scores: the round's first ``limit`` non-gold items (all by default), in
    id order (the order a fanned-out judge stage's chunks slice, ``services.fanout``)."""
    items = round.items.filter(is_gold=False).select_related("prompt").prefetch_related("entries").order_by("id")
    return list(items[:limit] if limit else items)


def _todo(round: Round, items: list[Item]) -> tuple[list[_Pair], list[_Response], int]:
    """(pairs not yet scored, responses not yet scored for harm, everything in all) of ``items``."""
    done = set(AiJudgement.objects.filter(round=round, item__in=items).values_list("item_id", "policy_a", "policy_b"))
    harm_done = set(AiHarmJudgement.objects.filter(round=round, item__in=items).values_list("item_id", "policy"))
    pairs, responses, total = [], [], 0
    for item in items:
        texts = {entry.policy: entry.text for entry in item.entries.all()}
        for a, b in combinations(sorted(texts), 2):
            total += 1
            if (item.pk, a, b) not in done:
                pairs.append(_Pair(item, item.prompt.context, a, b, texts[a], texts[b]))
        if round.judges_harm:
            for policy in sorted(texts):
                total += 1
                if (item.pk, policy) not in harm_done:
                    responses.append(_Response(item, item.prompt.context, policy, texts[policy]))
    return pairs, responses, total


def judge_progress(*, round: Round, items: list[Item]) -> tuple[int, int]:
    """(pairs and responses of ``items`` scored, pairs and responses to score in all)."""
    pairs, responses, total = _todo(round, items)
    return total - len(pairs) - len(responses), total


def round_ai_judge(*, round: Round, model_spec: str | None = None, limit: int | None = None,
                   chunk_size: int = 32, precision: str = "exact", on_progress: ProgressFn | None = None) -> int:
    """Score everything not yet scored of the round's first ``limit`` items (all by default);
    returns how many pairs and responses were scored now. The judge is the experiment's labeler
    model unless ``model_spec`` names another; its prompts are the experiment's task's, always
    in both orders."""
    items = judge_items(round=round, limit=limit)
    done, total = judge_progress(round=round, items=items)
    if total == 0:
        raise NothingToJudge(round)
    if on_progress:
        on_progress(Progress.durable(done, total, "labeling"))

    def saved(n: int) -> None:
        nonlocal done
        done += n
        if on_progress:
            on_progress(Progress.durable(done, total, "labeling"))

    return items_judge(round=round, items=items, model_spec=model_spec, precision=precision, chunk_size=chunk_size,
                       on_saved=saved)


def items_judge(*, round: Round, items: list[Item], model_spec: str | None = None, precision: str = "exact",
                chunk_size: int = 32, on_saved: Callable[[int], None] | None = None) -> int:
    """Score what is not yet scored of ``items`` (pairs, then responses for harm), ``chunk_size`` per
    transaction; returns how many it scored and tells ``on_saved`` how many each transaction saved.
    A pair another worker scored meanwhile is kept once (the unique constraints)."""
    spec = model_spec or round.experiment.labeler_model
    pairs, responses, _ = _todo(round, items)
    if not pairs and not responses:
        return 0
    config = LabelingConfig(task=round.experiment.task, swap=True, precision=precision)
    lm = load_labeler(spec, config.precision)
    if pairs:
        judge = Labeler(lm, config)
        for start in range(0, len(pairs), chunk_size):
            chunk = pairs[start:start + chunk_size]
            labels = judge.label([Sample(p.context, p.text_a, p.text_b) for p in chunk])
            with transaction.atomic():
                # ignore_conflicts: a chunk also saved by a run that was presumed dead is not doubled.
                AiJudgement.objects.bulk_create([
                    AiJudgement(round=round, item=p.item, policy_a=p.policy_a, policy_b=p.policy_b, p=label.p,
                                p_order1=label.p_order1, p_order2=label.p_order2, label_mass=label.label_mass,
                                judge_spec=spec)
                    for p, label in zip(chunk, labels)
                ], ignore_conflicts=True)
            if on_saved:
                on_saved(len(chunk))
    if responses:
        harm = HarmJudge(lm, config)
        for start in range(0, len(responses), chunk_size):
            part = responses[start:start + chunk_size]
            scores = harm.score([r.context for r in part], [r.text for r in part])
            with transaction.atomic():
                AiHarmJudgement.objects.bulk_create([
                    AiHarmJudgement(round=round, item=r.item, policy=r.policy, p=score.p, p_order1=score.p_order1,
                                    p_order2=score.p_order2, label_mass=score.mass, judge_spec=spec)
                    for r, score in zip(part, scores)
                ], ignore_conflicts=True)
            if on_saved:
                on_saved(len(part))
    return len(pairs) + len(responses)
