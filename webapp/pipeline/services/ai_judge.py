"""The AI judge of an evaluation round: the experiment's labeler (or any judge model) scores
every pair of responses of every item, in both orders, as a soft preference.

The report combines these scores with the human judgements into prediction-powered estimates
(``pipeline.stats.ppi``): the judge covers every item, the humans the ones they rated. Gold
items are left out (they test raters, not policies). Scores are saved per chunk of pairs in one
transaction and a pair already scored is not scored again, so a killed run resumes where its
last chunk ended and a second run on a round adds only what is missing (new items, new policies).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

from django.db import transaction

from pipeline.configs import LabelingConfig
from pipeline.labeling.engine import Labeler, Sample
from pipeline.progress import Progress, ProgressFn
from webapp.pipeline.services.labeling import load_labeler
from webapp.rating.models import AiJudgement, Item, Round


class NothingToJudge(ValueError):
    """The round has no item with two or more responses to compare."""


@dataclass(frozen=True)
class _Pair:
    item: Item
    context: str
    policy_a: str
    policy_b: str
    text_a: str
    text_b: str


def _todo(round: Round, limit: int | None) -> tuple[list[_Pair], int]:
    """(pairs not yet scored, pairs in all) of the round's first ``limit`` non-gold items."""
    items = round.items.filter(is_gold=False).select_related("prompt").prefetch_related("entries").order_by("id")
    items = items[:limit] if limit else items
    done = set(AiJudgement.objects.filter(round=round).values_list("item_id", "policy_a", "policy_b"))
    pairs, total = [], 0
    for item in items:
        texts = {entry.policy: entry.text for entry in item.entries.all()}
        for a, b in combinations(sorted(texts), 2):
            total += 1
            if (item.pk, a, b) not in done:
                pairs.append(_Pair(item, item.prompt.context, a, b, texts[a], texts[b]))
    return pairs, total


def round_ai_judge(*, round: Round, model_spec: str | None = None, limit: int | None = None,
                   chunk_size: int = 32, precision: str = "exact", on_progress: ProgressFn | None = None) -> int:
    """Score every not yet scored pair of the round's items (the first ``limit`` items); returns
    how many pairs were scored now. The judge is the experiment's labeler model unless
    ``model_spec`` names another; its prompt is the experiment's task's, both orders always."""
    spec = model_spec or round.experiment.labeler_model
    todo, total = _todo(round, limit)
    if total == 0:
        raise NothingToJudge(f"round #{round.pk} ({round.name}) has no item with two responses to compare")
    done = total - len(todo)
    if on_progress:
        on_progress(Progress.durable(done, total, "labeling"))
    if not todo:
        return 0
    config = LabelingConfig(task=round.experiment.task, swap=True, precision=precision)
    judge = Labeler(load_labeler(spec, config.precision), config)
    for start in range(0, len(todo), chunk_size):
        chunk = todo[start:start + chunk_size]
        labels = judge.label([Sample(p.context, p.text_a, p.text_b) for p in chunk])
        with transaction.atomic():
            # ignore_conflicts: a chunk also saved by a run that was presumed dead is not doubled.
            AiJudgement.objects.bulk_create([
                AiJudgement(round=round, item=p.item, policy_a=p.policy_a, policy_b=p.policy_b, p=label.p,
                            p_order1=label.p_order1, p_order2=label.p_order2, label_mass=label.label_mass, judge_spec=spec)
                for p, label in zip(chunk, labels)
            ], ignore_conflicts=True)
        done += len(chunk)
        if on_progress:
            on_progress(Progress.durable(done, total, "labeling"))
    return len(todo)
