"""Rounds: the responses to rate, a round and its items (gold items among them), opening and closing
it, and leaving a rater's judgements out of it (quality control).

Every function is keyword-only and runs in one transaction.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Field
from django.utils import timezone

from webapp.experiments.models import Experiment, PolicyResponse, Prompt, Split, Task
from webapp.experiments.services import response_lengths_fill
from webapp.rating import gold
from webapp.rating.models import Entry, Item, Mode, Round, RoundRater
from webapp.rating.services.errors import RatingError

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
        elif pair.chosen is not None and pair.rejected is not None:  # both set exactly when human_choice is
            texts = {"human-chosen": pair.chosen, "human-rejected": pair.rejected}
        else:
            texts = {}
        for policy, text in texts.items():
            wanted.append(PolicyResponse(prompt=prompt, policy=policy, text=text, generation={"source": f"preference pair #{pair.pk}"}))
    with transaction.atomic():
        existing = set(PolicyResponse.objects.filter(prompt__experiment=experiment).values_list("prompt_id", "policy"))
        new = [r for r in wanted if (r.prompt_id, r.policy) not in existing]
        PolicyResponse.objects.bulk_create(new, batch_size=500)
        response_lengths_fill(experiment=experiment)
    created: dict[str, int] = {}
    for response in new:
        created[response.policy] = created.get(response.policy, 0) + 1
    return created


# -- the human reference as one more policy ------------------------------------------------

REFERENCE = "reference"


def reference_by_default(experiment: Experiment) -> bool:
    """Whether a round includes the prompts' references unless told otherwise: for summarization
    (the paper compares its policies with the human-written reference summaries)."""
    return experiment.task == Task.SUMMARIZATION


def reference_responses_create(*, prompts) -> int:
    """A "reference" response for each of ``prompts`` with a reference (not blank) that has none yet;
    returns how many were made. A prompt without a reference gets none, never an empty one."""
    have = set(PolicyResponse.objects.filter(prompt__in=prompts, policy=REFERENCE).values_list("prompt_id", flat=True))
    new = [
        PolicyResponse(prompt_id=pk, policy=REFERENCE, text=text, generation={"source": "prompt reference"})
        for pk, text in prompts.exclude(reference="").values_list("id", "reference")
        if pk not in have and text.strip()
    ]
    PolicyResponse.objects.bulk_create(new, batch_size=500)
    return len(new)


def _has_references(prompts) -> bool:
    return any(text.strip() for text in prompts.exclude(reference="").values_list("reference", flat=True).iterator())


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

    A round ``with_reference`` takes the prompts' references in as the policy "reference"
    (made from ``Prompt.reference`` where missing): optional per prompt, so a prompt without a
    reference keeps its item with the other responses only (when they are still enough to rank).
    """
    wanted = set(round.policies) | ({REFERENCE} if round.with_reference else set())
    required = wanted - {REFERENCE} if round.with_reference else wanted
    least = 2 if round.ranks else 1
    if len(wanted) < least:
        raise RatingError("Choose at least two policies to rank (one is enough for harmless-only rounds).")
    rng = random.Random(round.pk if seed is None else seed)
    chosen = round.prompts.all() if round.prompts.exists() else Prompt.objects.filter(experiment=round.experiment, split=Split.TEST)

    with transaction.atomic():
        if round.with_reference:
            reference_responses_create(prompts=chosen)
        # Every response a round shows has its length stored before raters see it.
        response_lengths_fill(experiment=round.experiment)
        responses: dict[int, dict[str, PolicyResponse]] = {}
        for response in PolicyResponse.objects.filter(prompt__in=chosen, policy__in=wanted):
            if response.policy == REFERENCE and round.with_reference and not response.text.strip():
                continue  # an empty reference is no reference: raters never see a blank response
            responses.setdefault(response.prompt_id, {})[response.policy] = response
        eligible = sorted(
            pid for pid, by_policy in responses.items() if required <= set(by_policy) and len(by_policy) >= least
        )
        skipped = chosen.count() - len(eligible)
        have = set(Item.objects.filter(round=round).values_list("prompt_id", "is_gold"))
        regular = [pid for pid in eligible if (pid, False) not in have]
        n_regular = len(eligible)
        n_gold_wanted = round_gold_count(n_regular, round.gold_share) if round.ranks else 0
        n_gold_have = sum(1 for _, is_gold in have if is_gold)
        gold_pool = [pid for pid in eligible if (pid, True) not in have]
        gold_new = rng.sample(gold_pool, min(len(gold_pool), max(0, n_gold_wanted - n_gold_have)))
        # Made in one shuffled order, so that gold items' ids (which raters see in the address)
        # are interleaved with the real ones rather than the round's highest.
        made = [(pid, False) for pid in regular] + [(pid, True) for pid in gold_new]
        rng.shuffle(made)
        for pid, is_gold in made:
            _item_build(round=round, prompt_id=pid, responses=responses[pid], gold_rng=rng if is_gold else None)
    return ItemsCreated(regular=len(regular), gold=len(gold_new), skipped_prompts=skipped)


DEFAULT_INSTRUCTIONS = "Read the context, then put the responses in order from best (1) to worst. No ties."


def round_create(
    *, experiment: Experiment, policies: list[str], name: str = "", mode: str | None = None, overlap: int = 3,
    gold_share: float = 0.1, instructions: str = DEFAULT_INSTRUCTIONS, is_open: bool = True, created_by: User | None = None,
    with_reference: bool | None = None, target_half_width: float | None = None,
) -> tuple[Round, ItemsCreated]:
    """A round over the experiment's test prompts with its items made (and opened unless asked not to).

    ``mode`` defaults to ranking plus harm labels for harmless experiments, ranking otherwise;
    a single policy can only be judged for harm. Nothing is kept when the items cannot be made.

    ``with_reference`` adds the test prompts' references as the policy "reference"; by default
    (None) it is on when "reference" is among ``policies``, and for summarization experiments
    whose test prompts have references. ``target_half_width``: close the round once every
    interval the report shows first is at most this wide on each side (``webapp.reports.precision``).
    """
    round_settings_check(overlap=overlap, gold_share=gold_share, target_half_width=target_half_width)
    with_reference, policies = round_reference_resolve(experiment=experiment, policies=policies, with_reference=with_reference)
    available = set(PolicyResponse.objects.filter(prompt__experiment=experiment).values_list("policy", flat=True))
    absent = sorted(set(policies) - available - ({REFERENCE} if with_reference else set()))
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
            created_by=created_by, with_reference=with_reference, target_half_width=target_half_width,
        )
        made = round_items_create(round=round)  # a RatingError rolls the round back with it
        if is_open:
            round_open(round=round, is_open=True)
    return round, made


def round_reference_resolve(*, experiment: Experiment, policies: list[str], with_reference: bool | None) -> tuple[bool, list[str]]:
    """Whether a round over ``experiment``'s test prompts includes the reference, and its policies
    with "reference" last when it does. None means: yes when "reference" is asked for by name, or
    for summarization when a test prompt has a reference; no otherwise. Asking for the reference
    with none to show, or naming it among the policies of a round without it, is refused."""
    named = REFERENCE in policies
    others = [p for p in policies if p != REFERENCE]
    test_prompts = Prompt.objects.filter(experiment=experiment, split=Split.TEST)
    if with_reference is None:
        with_reference = named or (reference_by_default(experiment) and _has_references(test_prompts))
    elif not with_reference and named:
        raise RatingError("“reference” is among the policies of a round without the reference: include it or leave it out.")
    elif with_reference and not _has_references(test_prompts):
        raise RatingError(f"{experiment.slug} has no test prompt with a reference response to include.")
    return with_reference, others + ([REFERENCE] if with_reference else [])


def round_settings_check(*, overlap, gold_share, target_half_width=None) -> None:
    """Refuse an overlap, gold share or target half-width outside the limits the round's fields
    declare (the admin form applies them; a command or a script calling ``round_create`` must too)."""
    problems = []
    checks = [("overlap", overlap), ("gold_share", gold_share)]
    if target_half_width is not None:
        checks.append(("target_half_width", target_half_width))
    for name, value in checks:
        field = Round._meta.get_field(name)
        assert isinstance(field, Field)  # overlap and gold_share are plain columns, not relations
        number_ok = isinstance(value, int) if name == "overlap" else isinstance(value, (int, float)) and math.isfinite(value)
        try:
            if not number_ok or isinstance(value, bool):
                raise ValidationError("not a number")
            field.run_validators(value)
        except ValidationError:
            low, high = (v.limit_value for v in field.validators if hasattr(v, "limit_value"))
            problems.append(f"{name.replace('_', ' ')} must be between {low} and {high}, got {value!r}")
    if problems:
        raise RatingError("; ".join(problems) + ".")


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
        if gold_rng is not None and policy == worse:
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


def round_open(*, round: Round, is_open: bool) -> Round:
    if is_open and not round.items.exists():
        raise RatingError("Create the round's items before opening it.")
    Round.objects.filter(pk=round.pk).update(is_open=is_open)
    round.is_open = is_open
    return round


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
