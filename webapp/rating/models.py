"""Human evaluation: rounds of items that raters rank (and judge harmless or harmful), blind.

A ``Round`` picks an experiment, the response sources (policies) that take part and the test
prompts; ``Item`` rows are made from it, one per prompt plus unannounced gold items, each
with a frozen copy of the texts to judge (``Entry``). A rater gets an item through a
``Lease``; submitting the lease's token stores one ``Judgement`` with one ``Mark`` per entry.

The queue's slot counting lives on ``Item.claimed`` (active leases + judgements) and is
only ever changed by conditional UPDATEs, so it holds on SQLite and PostgreSQL alike
without SELECT ... FOR UPDATE.
"""

from __future__ import annotations

import secrets
import string

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from webapp.experiments.models import PolicyResponse, Prompt

ALIASES = string.ascii_uppercase


def alias_for(position: int) -> str:
    """The neutral label raters see for the response shown at ``position`` (0-based)."""
    return ALIASES[position]


def new_token() -> str:
    return secrets.token_urlsafe(24)


class Mode(models.TextChoices):
    RANK = "rank", "Rank the responses"
    HARMLESS = "harmless", "Judge each response harmless or harmful"
    BOTH = "both", "Rank and judge harmlessness"


class Round(models.Model):
    experiment = models.ForeignKey("experiments.Experiment", on_delete=models.CASCADE, related_name="rounds")
    name = models.CharField(max_length=200)
    policies = models.JSONField(
        default=list, help_text="Names of the response sources that take part, e.g. sft, rlhf, rlaif, reference."
    )
    prompts = models.ManyToManyField(
        Prompt,
        blank=True,
        related_name="+",
        help_text="Leave empty for every test prompt that has a response from each chosen policy.",
    )
    with_reference = models.BooleanField(
        default=False,
        help_text=(
            "The test prompts' reference responses take part as one more policy, “reference”, blinded like the "
            "others; a prompt without one is shown with the other responses only. On by default for summarization."
        ),
    )
    mode = models.CharField(max_length=10, choices=Mode.choices, default=Mode.RANK)
    overlap = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1), MaxValueValidator(50)], help_text="Raters per item."
    )
    gold_share = models.FloatField(
        default=0.1,
        validators=[MinValueValidator(0.0), MaxValueValidator(0.5)],
        help_text="Share of all items that are gold (a response made clearly worse). Needs ranking.",
    )
    instructions = models.TextField(blank=True, help_text="Shown to raters above every item.")
    is_open = models.BooleanField(default=False, help_text="Raters can only rate open rounds.")
    lease_minutes = models.PositiveSmallIntegerField(
        default=20, validators=[MinValueValidator(1)], help_text="How long an item stays reserved for its rater."
    )
    min_gold_accuracy = models.FloatField(
        default=0.7,
        validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Raters whose gold accuracy is below this are flagged.",
    )
    target_half_width = models.FloatField(
        null=True, blank=True, validators=[MinValueValidator(0.005), MaxValueValidator(0.5)],
        help_text="Stop when precise enough: the round closes itself once every interval the report shows first "
                  "(win rates vs the baseline, harmless rates) is at most this wide on each side, e.g. 0.05 for "
                  "±5 points. It stops on precision, never on significance. Empty: no target.",
    )
    precision_met_at = models.DateTimeField(null=True, blank=True, help_text="When the round closed itself on its target.")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.experiment.slug})"

    @property
    def ranks(self) -> bool:
        return self.mode in (Mode.RANK, Mode.BOTH)

    @property
    def judges_harm(self) -> bool:
        return self.mode in (Mode.HARMLESS, Mode.BOTH)


class Item(models.Model):
    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="items")
    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, related_name="+")
    is_gold = models.BooleanField(default=False)
    claimed = models.PositiveIntegerField(default=0, help_text="Active leases plus judgements.")
    judged = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["round", "prompt", "is_gold"], name="item_unique_per_round_prompt_kind"),
            models.CheckConstraint(condition=models.Q(claimed__gte=models.F("judged")), name="item_claimed_covers_judged"),
        ]
        indexes = [models.Index(fields=["round", "judged", "claimed"], name="item_queue_order")]

    def __str__(self) -> str:
        return f"item #{self.pk} of round #{self.round_id}"


class Entry(models.Model):
    """One text of an item, frozen when the item is made so that what raters saw never changes."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="entries")
    response = models.ForeignKey(PolicyResponse, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    policy = models.CharField(max_length=120)
    text = models.TextField()
    degraded = models.BooleanField(default=False, help_text="Gold: made clearly worse, should rank below the rest.")
    degradation = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "entries"

    def __str__(self) -> str:
        return f"{self.policy} in item #{self.item_id}"


class Lease(models.Model):
    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        DONE = "done", "Submitted"
        SKIPPED = "skipped", "Skipped"
        EXPIRED = "expired", "Expired"

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="leases")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="leases")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="rating_leases")
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    shown_order = models.JSONField(help_text="Entry ids in the order this rater sees them (A, B, C, ...).")
    state = models.CharField(max_length=10, choices=State.choices, default=State.ACTIVE)
    leased_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    skip_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-leased_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["round", "rater"], condition=models.Q(state="active"), name="one_active_lease_per_rater_and_round"
            ),
        ]
        indexes = [
            models.Index(fields=["round", "state", "expires_at"], name="lease_expiry"),
            models.Index(fields=["round", "rater", "state"], name="lease_by_rater"),
        ]

    def __str__(self) -> str:
        return f"lease of item #{self.item_id} to {self.rater_id} ({self.state})"


class Judgement(models.Model):
    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="judgements")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="judgements")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="rating_judgements")
    lease = models.OneToOneField(Lease, on_delete=models.PROTECT, related_name="judgement")
    shown_order = models.JSONField(help_text="Entry ids in the order shown; the alias is the position's letter.")
    leased_at = models.DateTimeField()
    submitted_at = models.DateTimeField()
    server_ms = models.PositiveIntegerField(help_text="From lease to submit, as the server saw it.")
    active_ms = models.PositiveIntegerField(null=True, blank=True, help_text="Time the page was visible, as measured in the browser.")
    gold_passed = models.BooleanField(null=True, blank=True)
    # Copies of the marks, aligned with shown_order, written in the same transaction: a report
    # reads one row per judgement instead of joining four marks each (100k judgements < 1 s).
    ranks = models.JSONField(null=True, blank=True, help_text="Rank of each shown entry (1 = best), aligned with shown_order.")
    harmless = models.JSONField(null=True, blank=True, help_text="Harmless (true) or harmful of each shown entry, aligned with shown_order.")

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["item", "rater"], name="one_judgement_per_rater_and_item"),
        ]
        indexes = [models.Index(fields=["round", "rater"], name="judgement_by_rater")]

    def __str__(self) -> str:
        return f"judgement #{self.pk} of item #{self.item_id}"


class Mark(models.Model):
    """What a rater said about one entry: its rank (1 = best) and/or harmless or harmful."""

    judgement = models.ForeignKey(Judgement, on_delete=models.CASCADE, related_name="marks")
    entry = models.ForeignKey(Entry, on_delete=models.CASCADE, related_name="marks")
    alias = models.CharField(max_length=2)
    shown_position = models.PositiveSmallIntegerField()
    rank = models.PositiveSmallIntegerField(null=True, blank=True)
    harmless = models.BooleanField(null=True, blank=True)

    class Meta:
        ordering = ["judgement_id", "shown_position"]
        constraints = [models.UniqueConstraint(fields=["judgement", "entry"], name="one_mark_per_entry")]

    def __str__(self) -> str:
        return f"{self.alias} in judgement #{self.judgement_id}"


class RoundRater(models.Model):
    """A rater's standing in a round, made when staff first exclude (or re-include) them: their
    judgements stay in the database and are marked excluded in reports and exports."""

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="memberships")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="rating_memberships")
    joined_at = models.DateTimeField(auto_now_add=True)
    excluded = models.BooleanField(default=False, help_text="Kept in the database, left out of reports.")
    excluded_reason = models.CharField(max_length=300, blank=True)
    excluded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["round_id", "rater_id"]
        constraints = [models.UniqueConstraint(fields=["round", "rater"], name="one_membership_per_rater_and_round")]

    def __str__(self) -> str:
        return f"{self.rater_id} in round #{self.round_id}"


class RaterInvite(models.Model):
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    note = models.CharField(max_length=200, blank=True, help_text="Who it is for; only staff see it.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    used_by = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="rater_invite"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"invite {self.token[:6]}… ({self.note or 'no note'})"


class AiJudgement(models.Model):
    """The AI judge's soft preference between two responses of one item (AI-assisted evaluation).

    ``p`` is P(``policy_a``'s response is better than ``policy_b``'s), the mean of the two orders
    the judge was shown (``p_order1``: a shown first; ``p_order2``: b shown first, mapped back),
    so the judge's position bias cancels. ``policy_a < policy_b`` by name: one row per pair.
    """

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="ai_judgements")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="ai_judgements")
    policy_a = models.CharField(max_length=120)
    policy_b = models.CharField(max_length=120)
    p = models.FloatField()
    p_order1 = models.FloatField()
    p_order2 = models.FloatField(null=True, blank=True)
    label_mass = models.FloatField()
    judge_spec = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["item", "policy_a", "policy_b"], name="one_ai_judgement_per_item_pair"),
            models.CheckConstraint(condition=models.Q(policy_a__lt=models.F("policy_b")), name="ai_judgement_pair_in_name_order"),
        ]

    def __str__(self) -> str:
        return f"AI: {self.policy_a} over {self.policy_b} p={self.p:.2f} (item #{self.item_id})"


class AiHarmJudgement(models.Model):
    """The AI judge's P(harmless) of one response of an item, both label orders averaged
    (``p_order1``: "1" meant harmless; ``p_order2``: "1" meant harmful, mapped back)."""

    round = models.ForeignKey(Round, on_delete=models.CASCADE, related_name="ai_harm_judgements")
    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="ai_harm_judgements")
    policy = models.CharField(max_length=120)
    p = models.FloatField()
    p_order1 = models.FloatField()
    p_order2 = models.FloatField()
    label_mass = models.FloatField()
    judge_spec = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["item", "policy"], name="one_ai_harm_judgement_per_response")]

    def __str__(self) -> str:
        return f"AI: {self.policy} harmless p={self.p:.2f} (item #{self.item_id})"
