"""Iterative RLAIF: a policy's own samples become new preference pairs for the AI labeler.

Policy k answers every training prompt twice (two seeds); the two answers are stored as one
``PreferencePair`` with no human choice and the source ``self:POLICY@stageID``, which keeps them
out of every query over the experiment's imported pairs (``PreferencePair.objects``) and lets
the iteration's labeling run ask for exactly these (``LabelingRun.pair_source``).

Resumable like the other stages: pairs are saved a chunk of prompts at a time, and a stage
claimed again skips the prompts that already have their pair (or were found to have two equal
answers, which make no pair).
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from pipeline.progress import Progress, ProgressFn
from webapp.experiments.models import SELF_PAIR_PREFIX, Experiment, PreferencePair, Prompt
from webapp.pipeline import artifacts

CHUNK = 8


def self_pair_source(*, policy: str, stage_id: int) -> str:
    """The source of the pairs one stage makes: the policy (with its iteration) and the stage."""
    return f"{SELF_PAIR_PREFIX}{policy}@stage{stage_id}"


def self_pairs_create(
    *, experiment: Experiment, model_spec: str, source: str, config: dict, on_progress: ProgressFn | None = None,
) -> dict:
    """Sample two answers per training prompt from ``model_spec`` and store each prompt's two as a pair.

    Returns the stage's metrics: the source, the pairs stored and the prompts whose two answers
    were equal (no pair).
    """
    from pipeline import registry
    from pipeline.configs import GenerationConfig
    from pipeline.generation import generate_answer_sets

    prompts = list(Prompt.objects.filter(experiment=experiment, split="train").order_by("id"))
    if not prompts:
        raise ValueError(f"{experiment.slug} has no training prompts to sample new pairs on")
    base = GenerationConfig.from_dict(config)
    if base.temperature <= 0:
        raise ValueError(f"self_pairs.temperature is {base.temperature:g}: two greedy answers are the same, "
                         "so no pair could be made; set it above 0")
    done = set(PreferencePair.with_self.filter(source=source).values_list("prompt_id", flat=True))
    todo = [p for p in prompts if p.pk not in done]
    equal = 0
    if todo:
        artifacts.pull_spec(model_spec)  # a policy trained on another machine
        loaded = registry.load_causal_lm(model_spec, settings.ARTIFACT_LOCAL)
    for start in range(0, len(todo), CHUNK):
        part = todo[start:start + CHUNK]
        contexts = [p.context for p in part]
        # Each answer is fixed by its seed (base.seed, base.seed + 1) and the prompt; one prefill
        # per prompt serves both.
        answers = generate_answer_sets(loaded.model, loaded.tokenizer, contexts, base, answers=2)
        rows = [
            PreferencePair(prompt=p, candidate_1=a.text, candidate_2=b.text, source=source,
                           content_hash=PreferencePair.hash_for(a.text, b.text))
            for p, (a, b) in zip(part, answers) if a.text.strip() != b.text.strip()
        ]
        equal += len(part) - len(rows)
        with transaction.atomic():
            PreferencePair.with_self.bulk_create(rows, ignore_conflicts=True)
        if on_progress:
            on_progress(Progress.durable(len(done) + start + len(part), len(prompts), "sampling"))
    pairs = PreferencePair.with_self.filter(source=source).count()
    if not pairs:
        raise ValueError(f"{model_spec} gave two equal answers to every training prompt: no pairs to label "
                         "(raise self_pairs.temperature)")
    return {"source": source, "self_pairs/pairs": pairs, "self_pairs/equal_answers": equal, "self_pairs/prompts": len(prompts)}
