"""Pipeline runs stored in the database: what was run, with which config, how far it got.

Every stage run shares ``StageRun``: a status that moves pending -> running -> succeeded /
failed / cancelled, progress counters, timings, the error of a failed run, and a claim
(``claimed_by`` + ``heartbeat_at``) that a worker takes with one conditional UPDATE, so
running the same stage twice is harmless and a run whose worker died can be picked up again.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar, Self

from django.conf import settings
from django.db import models
from django.utils import timezone

from pipeline.arms import DEFAULT_ALGORITHM
from pipeline.kinds import KINDS
from pipeline.progress import Progress
from webapp.experiments.models import Experiment, PreferencePair


class Status(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)
# A running claim whose heartbeat is older than this belongs to a dead worker.
STALE_AFTER = timedelta(minutes=5)


class StageRun(models.Model):
    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    config = models.JSONField(default=dict, help_text="The stage's config dataclass, as saved.")
    model_spec = models.CharField(max_length=300)
    progress_done = models.PositiveIntegerField(
        default=0, help_text="Units of work a resume keeps: saved steps, stored labels or responses.")
    progress_total = models.PositiveIntegerField(default=0)
    phase = models.CharField(max_length=20, blank=True, help_text="What runs now: training, evaluating, exporting...")
    phase_done = models.PositiveIntegerField(default=0, help_text="Units of the phase finished (steps trained may run ahead of the saved ones).")
    phase_total = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    claimed_by = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    wall_seconds = models.FloatField(default=0.0, help_text="Time spent working, summed over attempts.")

    # Every concrete stage gets Django's default manager; declared here (the abstract base has
    # none) so that code written for any stage (``type(run).objects``) is checked.
    objects: ClassVar[models.Manager[Self]]

    class Meta:
        abstract = True
        ordering = ["-created_at"]

    @property
    def progress_fraction(self) -> float:
        return self.progress_done / self.progress_total if self.progress_total else 0.0

    @property
    def progress_text(self) -> str:
        """'training 7/40 steps, 5 saved', 'evaluating 120/711 pairs'; '' before the first report."""
        if not self.phase:
            return ""
        return Progress(self.progress_done, self.progress_total, self.phase, self.phase_done, self.phase_total).describe()

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    @classmethod
    def claimable(cls):
        """Runs a worker may take: pending, failed (a retry), or running with a stale heartbeat."""
        stale = timezone.now() - STALE_AFTER
        return models.Q(status__in=[Status.PENDING, Status.FAILED]) | models.Q(
            status=Status.RUNNING, heartbeat_at__lt=stale
        )


class LabelingRun(StageRun):
    """AI labels for the pairs of one split of an experiment, with one labeling config."""

    split = models.CharField(max_length=5, default="train")
    limit = models.PositiveIntegerField(null=True, blank=True, help_text="Label only the first N pairs (by id).")
    sweep = models.ForeignKey("LabelingSweep", null=True, blank=True, on_delete=models.CASCADE, related_name="runs")
    pair_source = models.CharField(
        max_length=200, blank=True, help_text="Label only the self-generated pairs of this source (empty: the imported pairs).")
    prompt_tokens = models.BigIntegerField(default=0)
    generated_tokens = models.BigIntegerField(default=0)
    price_per_1k_tokens = models.FloatField(default=0.0)
    price_per_human_label = models.FloatField(default=0.0)

    class Meta(StageRun.Meta):
        pass

    def __str__(self) -> str:
        return f"labeling run #{self.pk} on {self.experiment.slug}/{self.split}"

    @property
    def tokens_per_label(self) -> float:
        labelled = self.progress_done or 0
        return (self.prompt_tokens + self.generated_tokens) / labelled if labelled else 0.0

    @property
    def ai_cost_per_1k_labels(self) -> float:
        """Estimated price of 1,000 AI labels from the tokens this run actually used."""
        return self.tokens_per_label * self.price_per_1k_tokens

    @property
    def human_cost_per_1k_labels(self) -> float:
        return 1000 * self.price_per_human_label


class AILabel(models.Model):
    """The labeler's soft preference for one pair: P(candidate 1 is preferred)."""

    run = models.ForeignKey(LabelingRun, on_delete=models.CASCADE, related_name="labels")
    pair = models.ForeignKey(PreferencePair, on_delete=models.CASCADE, related_name="ai_labels")
    p_order1 = models.FloatField(help_text="P(candidate 1) with the candidates in stored order.")
    p_order2 = models.FloatField(null=True, blank=True, help_text="P(candidate 1) from the swapped order, mapped back.")
    p = models.FloatField(help_text="P(candidate 1), averaged over the orders scored.")
    label_mass = models.FloatField(help_text="Share of next-token probability on the two answer tokens.")
    rationales = models.JSONField(default=list, blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    generated_tokens = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run_id", "pair_id"]
        constraints = [models.UniqueConstraint(fields=["run", "pair"], name="one_ai_label_per_pair_and_run")]

    def __str__(self) -> str:
        return f"AI label of pair #{self.pair_id} (run #{self.run_id}): p={self.p:.3f}"

    @property
    def ai_choice(self) -> int | None:
        """1 or 2; None for an exact tie, which never counts as agreeing with a human."""
        if self.p > 0.5:
            return 1
        if self.p < 0.5:
            return 2
        return None


class LabelingSweep(models.Model):
    """A comparison of labeling runs on the same pairs: prompt techniques (the paper's Table 2:
    several configs, one model) or labeler models (Table 3: several models, one config)."""

    class Kind(models.TextChoices):
        TECHNIQUES = "techniques", "Prompt techniques (Table 2)"
        MODELS = "models", "Labeler models (Table 3)"

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="labeling_sweeps")
    kind = models.CharField(max_length=12, choices=Kind.choices, default=Kind.TECHNIQUES)
    split = models.CharField(max_length=5, default="train")
    limit = models.PositiveIntegerField(null=True, blank=True)
    model_spec = models.CharField(max_length=300)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"labeling sweep #{self.pk} on {self.experiment.slug}"


class TrainingKind(models.TextChoices):
    REWARD = "reward", "Reward model"
    SFT = "sft", "Supervised fine-tuning"
    POLICY = "policy", "Policy (RL or DPO)"


class TrainingRun(StageRun):
    """One training stage: a reward model, an SFT model, or a policy for one arm.

    ``label_source`` says which preferences trained it: ``human``, ``ai:RUN_ID`` (the soft
    labels of a labeling run) or ``mixed:SHARE`` (that share of AI labels, the rest human).
    ``parent`` is the run it starts from (the SFT run of a policy); ``reward_run`` the
    reward model an RL policy optimises.
    """

    kind = models.CharField(max_length=10, choices=TrainingKind.choices)
    arm = models.CharField(max_length=40, blank=True, help_text="The paper's arm: sft, rlhf, rlaif, dpo-ai, ...")
    algorithm = models.CharField(max_length=20, blank=True, help_text="reinforce, rloo, grpo, dpo, bradley-terry, sft")
    label_source = models.CharField(max_length=40, blank=True)
    labeling_run = models.ForeignKey(LabelingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children")
    reward_run = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="policies")
    checkpoint_path = models.CharField(max_length=500, blank=True, help_text="Under ARTIFACT_ROOT.")
    step = models.PositiveIntegerField(default=0, help_text="Last step saved in a checkpoint.")

    class Meta(StageRun.Meta):
        pass

    def __str__(self) -> str:
        name = self.arm or self.kind
        return f"{name} training run #{self.pk} on {self.experiment.slug}"


class TrainingMetric(models.Model):
    """The metrics one training step logged, e.g. {"loss/train": 0.61, "rl/kl": 0.02}."""

    run = models.ForeignKey(TrainingRun, on_delete=models.CASCADE, related_name="metric_points")
    step = models.PositiveIntegerField()
    values = models.JSONField()

    class Meta:
        ordering = ["run_id", "step"]
        constraints = [models.UniqueConstraint(fields=["run", "step"], name="one_metric_row_per_step")]


class SamplingRun(StageRun):
    """One response per test prompt from one policy, stored as PolicyResponse rows."""

    policy = models.CharField(max_length=100, help_text="The name raters' results are reported under.")
    training_run = models.ForeignKey(TrainingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="samplings")
    split = models.CharField(max_length=5, default="test")

    class Meta(StageRun.Meta):
        pass

    def __str__(self) -> str:
        return f"samples of {self.policy} (run #{self.pk}) on {self.experiment.slug}"


# -- the pipeline of an experiment ---------------------------------------------------------------


class PipelineSize(models.TextChoices):
    DEMO = "demo", "Demo (minutes on a CPU)"
    FULL = "full", "Full (every pair, real step counts; meant for GPUs)"


class PipelineStatus(models.TextChoices):
    """The same values as ``Status``, labelled for people watching a whole run."""

    PENDING = "pending", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Finished"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


# Built from the one table of stage kinds (pipeline.kinds): StageKind.POLICY == "policy", StageKind.REWARD_CURVE == "reward-curve".
StageKind = models.TextChoices("StageKind", [(kind.name.upper().replace("-", "_"), (kind.name, kind.label)) for kind in KINDS])  # type: ignore[call-overload]  # the stubs lack the functional API with (value, label) pairs


class PipelineRun(models.Model):
    """One start of an experiment's whole pipeline: its arms, its size and how it went.

    The work is in its ``stages``; this row only sums them up (status, wall time), so a
    stage that finishes or fails is the single source of truth and the run is recomputed.
    """

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="pipeline_runs")
    arms = models.JSONField(default=list, help_text="The paper's arms compared: sft, rlhf, rlaif, ...")
    size = models.CharField(max_length=10, choices=PipelineSize.choices, default=PipelineSize.DEMO)
    algorithm = models.CharField(
        max_length=20, default=DEFAULT_ALGORITHM, help_text="The RL algorithm of its RL arms (pipeline.arms.ALGORITHMS); DPO arms use DPO."
    )
    mixed_share = models.FloatField(default=0.5, help_text="The share of human labels the mixed arm's reward model trains on.")
    iterations = models.PositiveSmallIntegerField(
        default=1, help_text="Iterative RLAIF: rounds of policy -> own pairs -> AI labels -> reward model -> policy (1 = once).")
    iteration_labels = models.CharField(
        max_length=10, default="all", help_text="The AI labels each iteration's reward model trains on: all so far, or the newest.")
    overrides = models.JSONField(default=dict, blank=True, help_text="Per-kind config overrides given at the start.")
    ai_judge = models.BooleanField(
        default=False, help_text="After the evaluation round, the AI judge scores its items (AI-assisted estimates in the report)."
    )
    status = models.CharField(max_length=10, choices=PipelineStatus.choices, default=PipelineStatus.PENDING, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    wall_seconds = models.FloatField(default=0.0, help_text="From the start to the last stage's end.")

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"pipeline run #{self.pk} of {self.experiment.slug}"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED


class PipelineStage(StageRun):
    """One node of a pipeline run's graph, claimed and worked on like any stage run.

    It points at the run it created (a labeling, training or sampling run, or a round), so
    the work itself stays resumable by the existing services; ``fingerprint`` hashes every
    input (data, configs, upstream fingerprints) so a later pipeline run reuses an equal,
    finished stage instead of running it again (``reused_from``).
    """

    pipeline = models.ForeignKey(PipelineRun, on_delete=models.CASCADE, related_name="stages")
    name = models.CharField(max_length=80)
    kind = models.CharField(max_length=20, choices=StageKind.choices)
    queue = models.CharField(max_length=20, default="default")
    position = models.PositiveIntegerField(default=0)
    depends_on = models.JSONField(default=list, help_text="Names of the stages that must succeed first.")
    fingerprint = models.CharField(max_length=64, db_index=True)
    reused_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    enqueued_at = models.DateTimeField(null=True, blank=True)
    eta_seconds = models.FloatField(null=True, blank=True)
    log = models.TextField(blank=True, help_text="The last lines of the stage's log.")
    labeling_run = models.ForeignKey(LabelingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    training_run = models.ForeignKey(TrainingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    sampling_run = models.ForeignKey(SamplingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    round = models.ForeignKey("rating.Round", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["pipeline_id", "position"]
        constraints = [models.UniqueConstraint(fields=["pipeline", "name"], name="one_stage_per_name_and_pipeline")]

    def __str__(self) -> str:
        return f"stage {self.name} of pipeline run #{self.pipeline_id}"

    @classmethod
    def claimable(cls):
        """Pending, or running under a stale heartbeat. Not failed: a failed stage runs again only
        when staff retry it, never because a duplicate message arrived."""
        stale = timezone.now() - STALE_AFTER
        return models.Q(status=Status.PENDING) | models.Q(status=Status.RUNNING, heartbeat_at__lt=stale)

    @property
    def target(self) -> StageRun | None:
        """The labeling, training or sampling run this stage works through, if any."""
        return self.labeling_run or self.training_run or self.sampling_run


class StageChunk(models.Model):
    """One slice ``[start, stop)`` of a fanned-out stage's items in id order (a labeling stage's
    pairs, a sampling stage's prompts, the AI judge's round items): any idle worker claims the
    next claimable chunk with one conditional UPDATE, so several workers share one stage. The
    slices are fixed when the stage first runs, so every item is done in the same batch whatever
    the number of workers."""

    stage = models.ForeignKey(PipelineStage, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    start = models.PositiveIntegerField()
    stop = models.PositiveIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    worker = models.CharField(max_length=200, blank=True, help_text="host:pid:start of the last claim.")
    claimed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["stage_id", "index"]
        constraints = [models.UniqueConstraint(fields=["stage", "index"], name="one_chunk_per_index_and_stage")]

    def __str__(self) -> str:
        return f"chunk {self.index} (items {self.start}-{self.stop - 1}) of stage #{self.stage_id}"
