"""Experiments and the preference data they are built on.

An ``Experiment`` owns ``Prompt`` rows (split into train and test); each prompt owns one or
more ``PreferencePair`` rows: two candidate responses in a fixed, stored order, with the
human choice when the source has one.
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models


def content_hash(*parts: str) -> str:
    """SHA-256 over the parts, separated so that ("ab", "c") and ("a", "bc") differ."""
    digest = hashlib.sha256()
    for part in parts:
        encoded = part.encode("utf-8")
        digest.update(len(encoded).to_bytes(8, "big"))
        digest.update(encoded)
    return digest.hexdigest()


class Task(models.TextChoices):
    SUMMARIZATION = "summarization", "Summarization"
    HELPFUL = "helpful", "Helpful dialogue"
    HARMLESS = "harmless", "Harmless dialogue"


class Split(models.TextChoices):
    TRAIN = "train", "Train"
    TEST = "test", "Test"


class Experiment(models.Model):
    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=200)
    task = models.CharField(max_length=20, choices=Task.choices)
    description = models.TextField(blank=True)
    policy_model = models.CharField(
        max_length=300,
        default="smollm2-135m-instruct",
        help_text="Model spec of the SFT policy: a bundled name, a checkpoint directory or a hub id.",
    )
    labeler_model = models.CharField(
        max_length=300,
        default="smollm2-135m-instruct",
        help_text="Model spec of the AI labeler (an instruction-tuned LLM).",
    )
    reward_model = models.CharField(
        max_length=300,
        default="smollm2-135m-instruct",
        help_text="Model spec the reward models are initialised from.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="experiments"
    )

    class Meta:
        ordering = ["-created_at", "slug"]

    def __str__(self) -> str:
        return self.slug

    @property
    def candidate_noun(self) -> str:
        return "Summary" if self.task == Task.SUMMARIZATION else "Response"


class Prompt(models.Model):
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="prompts")
    split = models.CharField(max_length=5, choices=Split.choices, db_index=True)
    context = models.TextField(help_text="The input: a dialogue so far, or a post to summarize.")
    reference = models.TextField(blank=True, help_text="A reference output, where the source has one.")
    source = models.CharField(max_length=200, blank=True, help_text="File or dataset the prompt came from.")
    source_id = models.CharField(max_length=200, blank=True, help_text="Id or line number in the source.")
    content_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["experiment", "content_hash"], name="prompt_unique_per_experiment"),
        ]

    def __str__(self) -> str:
        first_line = self.context.strip().splitlines()[0] if self.context.strip() else ""
        return f"{self.experiment.slug}#{self.pk}: {first_line[:60]}"

    @staticmethod
    def hash_for(context: str) -> str:
        return content_hash(context)


# The source of pairs a pipeline's policy made from its own samples (iterative RLAIF): "self:" + who made them.
SELF_PAIR_PREFIX = "self:"


class ImportedPairs(models.Manager):
    """The default manager: imported pairs only. Self-generated pairs belong to the iteration that
    made them and reach only the stages that ask for them (``PreferencePair.with_self``), so every
    labeling, reward model, DPO run and report over "the experiment's pairs" is unchanged by them."""

    def get_queryset(self):
        return super().get_queryset().exclude(source__startswith=SELF_PAIR_PREFIX)


class PreferencePair(models.Model):
    """Two candidates in the order they are stored (and shown to labelers): 1 then 2.

    ``human_choice`` is 1 or 2 (the candidate the human preferred), or empty when the
    source has no human label. ``source_order_swapped`` records whether the stored order
    differs from the order in the source file (HH files always list the chosen reply
    first, so the importer shuffles them with a seeded RNG).
    """

    class Choice(models.IntegerChoices):
        FIRST = 1, "Candidate 1"
        SECOND = 2, "Candidate 2"

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="pairs")
    candidate_1 = models.TextField()
    candidate_2 = models.TextField()
    human_choice = models.PositiveSmallIntegerField(choices=Choice.choices, null=True, blank=True)
    human_confidence = models.FloatField(null=True, blank=True, help_text="The source's own confidence score, as given.")
    source = models.CharField(max_length=200, blank=True)
    source_line = models.PositiveIntegerField(null=True, blank=True)
    source_order_swapped = models.BooleanField(default=False)
    content_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ImportedPairs()
    with_self = models.Manager()  # imported and self-generated pairs

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["prompt", "content_hash"], name="pair_unique_per_prompt"),
            models.CheckConstraint(
                condition=models.Q(human_choice__isnull=True) | models.Q(human_choice__in=[1, 2]),
                name="pair_human_choice_is_1_or_2",
            ),
        ]

    def __str__(self) -> str:
        return f"pair #{self.pk} of prompt #{self.prompt_id}"

    @staticmethod
    def hash_for(candidate_a: str, candidate_b: str) -> str:
        # Order-free: the same two candidates in either order are the same pair.
        first, second = sorted([candidate_a, candidate_b])
        return content_hash(first, second)

    @property
    def chosen(self) -> str | None:
        if self.human_choice is None:
            return None
        return self.candidate_1 if self.human_choice == 1 else self.candidate_2

    @property
    def rejected(self) -> str | None:
        if self.human_choice is None:
            return None
        return self.candidate_2 if self.human_choice == 1 else self.candidate_1


class PolicyResponse(models.Model):
    """One response to a prompt from a named source: a trained policy ("sft", "rlhf",
    "rlaif", ...), the human reference ("reference"), or an imported candidate.

    These are what raters rank. ``policy`` is the name staff see; raters never do.
    """

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="responses")
    policy = models.CharField(max_length=100, db_index=True)
    text = models.TextField()
    token_count = models.PositiveIntegerField(null=True, blank=True)
    # The length the reports use: tokens of the text under one named tokenizer (the experiment's
    # policy model's), stored at import, sampling and round creation so no page ever tokenizes
    # and no table mixes a sampler's token count with words.
    length_tokens = models.PositiveIntegerField(null=True, blank=True, help_text="Tokens of the text under length_tokenizer.")
    length_tokenizer = models.CharField(max_length=300, blank=True, help_text="Model spec whose tokenizer counted length_tokens.")
    generation = models.JSONField(default=dict, blank=True, help_text="How it was made: checkpoint, seed, temperature.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["prompt_id", "policy"]
        constraints = [
            models.UniqueConstraint(fields=["prompt", "policy"], name="one_response_per_policy_and_prompt"),
        ]

    def __str__(self) -> str:
        return f"{self.policy} on prompt #{self.prompt_id}"
