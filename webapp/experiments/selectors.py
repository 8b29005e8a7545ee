"""Reads for pages and the admin."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from webapp.experiments.models import Experiment, PreferencePair, Prompt


def split_has_human_labels(experiment: Experiment, split: str) -> bool:
    """Whether any of the split's pairs has a human choice (1 or 2): what the labeler comparisons
    and the reward-model curve measure against."""
    return PreferencePair.objects.filter(prompt__experiment=experiment, prompt__split=split, human_choice__in=[1, 2]).exists()


def experiments_with_counts(queryset: QuerySet | None = None) -> QuerySet:
    """Experiments annotated with prompt counts per split, pair counts and labelled-pair counts."""
    queryset = Experiment.objects.all() if queryset is None else queryset
    # Subqueries keep the two joins (prompts, pairs) from multiplying each other's counts.

    def prompt_count(**filters):
        return Coalesce(
            Subquery(
                Prompt.objects.filter(experiment=OuterRef("pk"), **filters)
                .values("experiment")
                .annotate(c=Count("id"))
                .values("c"),
                output_field=IntegerField(),
            ),
            0,
        )

    def pair_count(**filters):
        return Coalesce(
            Subquery(
                PreferencePair.objects.filter(prompt__experiment=OuterRef("pk"), **filters)
                .values("prompt__experiment")
                .annotate(c=Count("id"))
                .values("c"),
                output_field=IntegerField(),
            ),
            0,
        )

    return queryset.annotate(
        n_train=prompt_count(split="train"),
        n_test=prompt_count(split="test"),
        n_pairs=pair_count(),
        n_labelled=pair_count(human_choice__isnull=False),
    )


@dataclass(frozen=True)
class SplitCounts:
    split: str
    prompts: int
    pairs: int
    labelled: int
    chosen_first: int
    with_reference: int


@dataclass(frozen=True)
class ExperimentSummary:
    splits: list[SplitCounts]
    sample_pairs: list[PreferencePair]
    sources: list[dict]

    @property
    def total_pairs(self) -> int:
        return sum(s.pairs for s in self.splits)


def experiment_summary(experiment: Experiment, sample_size: int = 5) -> ExperimentSummary:
    pairs = PreferencePair.objects.filter(prompt__experiment=experiment)
    splits = []
    for split in ("train", "test"):
        prompts = Prompt.objects.filter(experiment=experiment, split=split)
        split_pairs = pairs.filter(prompt__split=split)
        counts = split_pairs.aggregate(
            n=Count("id"),
            labelled=Count("id", filter=Q(human_choice__isnull=False)),
            first=Count("id", filter=Q(human_choice=1)),
        )
        splits.append(
            SplitCounts(
                split=split,
                prompts=prompts.count(),
                pairs=counts["n"],
                labelled=counts["labelled"],
                chosen_first=counts["first"],
                with_reference=prompts.exclude(reference="").count(),
            )
        )
    sources = [dict(row) for row in pairs.values("source").annotate(n=Count("id")).order_by("-n")[:10]]
    sample = list(pairs.select_related("prompt").order_by("id")[:sample_size])
    return ExperimentSummary(splits=splits, sample_pairs=sample, sources=sources)
