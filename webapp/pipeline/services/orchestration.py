"""Pipeline runs: start one, move it forward, cancel or retry a stage, recover after a crash.

The graph comes from ``pipeline.plan``; each node becomes a ``PipelineStage`` row. Nothing
here trains anything: ``advance`` sends every stage whose dependencies succeeded to a Celery
queue (once, guarded by a conditional UPDATE of ``enqueued_at``; ``dispatch`` sends it to the
queue stored on the stage), and the stage's task (``webapp.pipeline.tasks`` ->
``webapp.pipeline.services.stages``) claims and executes it, then calls ``advance`` again.
The run's own status is always recomputed from its stages. What a stage loads and counts
comes with its plan (``pipeline.kinds``, ``pipeline.plan``); nothing here asks its kind.

Every message may be delivered twice or lost with a killed worker: a stage is only worked
on by whoever holds its claim, and ``pipeline_recover`` (at every worker start, and every
minute under celery beat) sends again what is ready but idle or held by a dead worker.
"""

from __future__ import annotations

import hashlib
import json
from functools import partial

from django.db import transaction
from django.utils import timezone

from pipeline import plan as planning
from pipeline.arms import DEFAULT_ALGORITHM
from pipeline.curve_settings import CurveSettingError
from webapp.experiments.models import Experiment, PreferencePair, Prompt
from webapp.pipeline import dispatch, runs
from webapp.pipeline.models import (
    STALE_AFTER,
    PipelineRun,
    PipelineStage,
    PipelineStatus,
    StageChunk,
    StageKind,
    Status,
)
from webapp.pipeline.services import labeling, reward_curves

LOG_LINES = 40


class PipelineError(Exception):
    """A pipeline that cannot be started or changed as asked; the message is fit to show.
    ``setting`` names the setting at fault where it is one ("curve_sizes", "curve_labels",
    "reward_curve"): the run form's field of that name shows the message, a command prefixes its
    option (``--curve-sizes``)."""

    def __init__(self, message: str, setting: str = ""):
        super().__init__(message)
        self.setting = setting


# -- starting ------------------------------------------------------------------------------------


def pipeline_run_create(
    *, experiment: Experiment, arms=None, size: str = "demo", user=None, overrides: dict | None = None,
    enqueue: bool = True, ai_judge: bool = False, labeling_sweep: int | None = None, mixed_share: float = 0.5,
    algorithm: str = DEFAULT_ALGORITHM, iterations: int = 1, iteration_labels: str = "all", reward_curve: bool = False,
) -> PipelineRun:
    """Plan the experiment's stages, reuse the ones whose inputs did not change, queue the rest.

    ``enqueue=False`` leaves the ready stages for a caller that executes them itself
    (``run_experiment --in-process``). ``labeling_sweep``: label with that sweep's best cell
    (labeling settings in ``overrides`` still win). ``mixed_share``: the share of human labels
    the ``mixed`` arm's reward model trains on (the rest AI). ``algorithm``: the RL algorithm of
    every RL arm (``pipeline.arms.ALGORITHMS``), recorded on the run and on each policy's TrainingRun.
    ``iterations``: rounds of iterative RLAIF for the rlaif arms (1 = once), each iteration's reward
    model on ``iteration_labels`` ("all" AI labels so far, or the "newest"); both stored on the run.
    ``reward_curve``: the paper's Figure 5 too (sizes and label sources in ``overrides["curve"]``).
    """
    if not 0.0 <= mixed_share <= 1.0:
        raise PipelineError(f"mixed share must be between 0 and 1 (the share of human labels), got {mixed_share:g}")
    prompts = Prompt.objects.filter(experiment=experiment)
    try:
        overrides = labeling.overrides_with_sweep_cell(experiment=experiment, overrides=overrides, sweep_id=labeling_sweep)
    except labeling.NoBestCell as exc:
        raise PipelineError(f"labeling settings from sweep #{labeling_sweep}: {exc}") from None
    try:
        arms = planning.check_arms(arms or planning.DEFAULT_ARMS)
        specs = planning.plan_pipeline(
            arms=arms, size=size, overrides=overrides,
            has_references=prompts.filter(split="train").exclude(reference="").exists(),
            train_pairs=PreferencePair.objects.filter(prompt__in=prompts.filter(split="train")).count(),
            test_prompts=prompts.filter(split="test").count(), ai_judge=ai_judge,
            same_labeler=experiment.labeler_model == experiment.policy_model, mixed_share=mixed_share, algorithm=algorithm,
            iterations=iterations, iteration_labels=iteration_labels,
            train_prompts=prompts.filter(split="train").count(), reward_curve=reward_curve,
        )
    except CurveSettingError as exc:
        raise PipelineError(str(exc), setting=f"curve_{exc.setting}") from None
    except ValueError as exc:
        raise PipelineError(str(exc)) from None
    _check_data(experiment, specs)
    data = _data_fingerprint(experiment)
    with transaction.atomic():
        run = PipelineRun.objects.create(
            experiment=experiment, arms=arms, size=size, overrides=overrides or {}, created_by=user, ai_judge=ai_judge,
            algorithm=algorithm, mixed_share=mixed_share, iterations=iterations, iteration_labels=iteration_labels,
        )
        fingerprints: dict[str, str] = {}
        for position, spec in enumerate(specs):
            model_spec = _model_spec(experiment, spec.loads)
            models = model_spec + (f" scored by {_model_spec(experiment, [spec.scored_by])}" if spec.scored_by else "")
            upstream = [fingerprints[d] for d in spec.depends_on if d != "prepare-models"]
            fingerprints[spec.name] = _fingerprint(spec, models, data, upstream)
            stage = PipelineStage.objects.create(
                pipeline=run, experiment=experiment, name=spec.name, kind=spec.kind, queue=spec.queue,
                position=position, depends_on=spec.depends_on, config=spec.config, model_spec=model_spec,
                fingerprint=fingerprints[spec.name], progress_total=spec.expected_total,
            )
            if stage_reuse(stage=stage):
                stage.refresh_from_db()
        pipeline_status_refresh(pipeline_id=run.pk)
        transaction.on_commit(partial(pipeline_advance, pipeline_id=run.pk, enqueue=enqueue))
    return run


def _check_data(experiment: Experiment, specs: list[planning.StageSpec]) -> None:
    kinds = {s.kind for s in specs}
    if not Prompt.objects.filter(experiment=experiment, split="test").exists():
        raise PipelineError(f"{experiment.slug} has no test prompts to sample the policies on: import a test split first")
    train_pairs = PreferencePair.objects.filter(prompt__experiment=experiment, prompt__split="train")
    if StageKind.REWARD_CURVE in kinds and (problem := reward_curves.reward_curve_data_problem(experiment)):
        raise PipelineError(problem, setting="reward_curve")
    if kinds & {"labeling", "reward", "reward-curve"} or any(s.kind == "policy" and s.config["algorithm"] == "dpo" for s in specs):
        if not train_pairs.exists():
            raise PipelineError(f"{experiment.slug} has no training pairs: import a train split first")
    if any(s.kind == "policy" and s.config["algorithm"] != "dpo" for s in specs):
        if not Prompt.objects.filter(experiment=experiment, split="train").exists():
            raise PipelineError(f"{experiment.slug} has no training prompts for RL")


def _model_spec(experiment: Experiment, roles) -> str:
    """The experiment's models for the roles the plan says a stage loads, each once."""
    specs = {"policy": experiment.policy_model, "labeler": experiment.labeler_model, "reward": experiment.reward_model}
    return ", ".join(dict.fromkeys(specs[role] for role in roles))


def _data_fingerprint(experiment: Experiment) -> str:
    """Every prompt, reference, pair and human choice of the experiment, in one hash."""
    digest = hashlib.sha256()
    prompts = Prompt.objects.filter(experiment=experiment).order_by("id")
    for row in prompts.values_list("split", "content_hash", "reference"):
        digest.update(json.dumps(row).encode())
    pairs = PreferencePair.objects.filter(prompt__experiment=experiment).order_by("id")
    for prompt_hash, pair_hash, candidate_1, human_choice in pairs.values_list(
        "prompt__content_hash", "content_hash", "candidate_1", "human_choice"
    ):
        # candidate_1 pins the stored order, which the labeler and the labels depend on
        digest.update(json.dumps([prompt_hash, pair_hash, hashlib.sha256(candidate_1.encode()).hexdigest(), human_choice]).encode())
    return digest.hexdigest()


def _fingerprint(spec: planning.StageSpec, model_spec: str, data: str, upstream: list[str]) -> str:
    payload = {"kind": spec.kind, "config": spec.config, "model": model_spec, "data": data, "upstream": sorted(upstream)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


# -- reuse of unchanged stages ---------------------------------------------------------------------


def stage_reuse(*, stage: PipelineStage) -> bool:
    """Point the stage at an equal stage that already succeeded (same fingerprint) and mark it done.

    Preparing models is never reused: it is a quick check once done, and the artifacts may
    have been removed since.
    """
    if stage.kind == StageKind.PREPARE:
        return False
    candidates = (
        PipelineStage.objects.filter(experiment=stage.experiment, fingerprint=stage.fingerprint, status=Status.SUCCEEDED)
        .exclude(pipeline=stage.pipeline_id)
        .select_related("labeling_run", "training_run", "sampling_run", "round")
        .order_by("-finished_at")
    )
    for old in candidates:
        if not _still_there(old):
            continue
        origin = old.reused_from_id or old.pk
        updated = PipelineStage.objects.filter(pk=stage.pk, status__in=[Status.PENDING, Status.RUNNING]).update(
            status=Status.SUCCEEDED, reused_from_id=origin, labeling_run=old.labeling_run, training_run=old.training_run,
            sampling_run=old.sampling_run, round=old.round, metrics=old.metrics, progress_done=old.progress_done,
            progress_total=old.progress_total, finished_at=timezone.now(), eta_seconds=None,
        )
        if updated:
            stage_log(stage=stage, line=f"inputs unchanged since pipeline run #{old.pipeline_id}: reused its result")
        return bool(updated)
    return False


def _still_there(old: PipelineStage) -> bool:
    if old.kind == StageKind.ROUND:
        return old.round is not None
    target = old.target
    if target is None or target.status != Status.SUCCEEDED:
        return False
    checkpoint = getattr(target, "checkpoint_path", "")
    if checkpoint and "://" not in checkpoint:
        from pathlib import Path

        return Path(checkpoint).exists()
    return True


# -- moving forward ----------------------------------------------------------------------------------


def stage_upstream(stage: PipelineStage, kind: str) -> PipelineStage | None:
    """The stage of ``kind`` that ``stage`` waits for (its labeling stage, its policy, its round, ...)."""
    return PipelineStage.objects.filter(pipeline_id=stage.pipeline_id, name__in=stage.depends_on, kind=kind).first()


def ready_stages(run: PipelineRun) -> list[PipelineStage]:
    """Pending stages whose dependencies all succeeded, in the order of the graph."""
    stages = list(run.stages.all())
    succeeded = {s.name for s in stages if s.status == Status.SUCCEEDED}
    return [s for s in stages if s.status == Status.PENDING and set(s.depends_on) <= succeeded]


def pipeline_advance(*, pipeline_id: int, enqueue: bool = True) -> list[int]:
    """Queue every ready stage not queued yet; recompute the run's status. Returns the stage ids queued."""
    run = PipelineRun.objects.get(pk=pipeline_id)
    queued = []
    if enqueue:
        for stage in ready_stages(run):
            # Only the caller whose UPDATE sets enqueued_at sends the message: two stages
            # finishing at once each call advance, and their common dependant is sent once.
            if PipelineStage.objects.filter(pk=stage.pk, status=Status.PENDING, enqueued_at=None).update(enqueued_at=timezone.now()):
                queued.append(stage.pk)
                transaction.on_commit(partial(dispatch.stage_send, stage_id=stage.pk, queue=stage.queue))
    pipeline_status_refresh(pipeline_id=pipeline_id)
    return queued


def pipeline_status_refresh(*, pipeline_id: int) -> PipelineRun:
    """The run's status from its stages: finished when all succeeded; failed or cancelled when a
    stage is and nothing else can move; running while any stage runs or waits in a queue."""
    with transaction.atomic():
        run = PipelineRun.objects.select_for_update().get(pk=pipeline_id)
        stages = list(run.stages.all())
        statuses = [s.status for s in stages]
        started = [s.started_at for s in stages if s.started_at and not s.reused_from_id]  # reused ones never ran here
        ended = [s.finished_at for s in stages if s.finished_at]
        movable = any(s == Status.RUNNING for s in statuses) or bool(ready_stages(run))
        if all(s == Status.SUCCEEDED for s in statuses):
            status = PipelineStatus.SUCCEEDED
        elif movable:
            status = PipelineStatus.RUNNING if started or Status.RUNNING in statuses else PipelineStatus.PENDING
        elif Status.FAILED in statuses:
            status = PipelineStatus.FAILED
        elif Status.CANCELLED in statuses:
            status = PipelineStatus.CANCELLED
        else:
            status = PipelineStatus.PENDING
        started_at = run.started_at or (min(started) if started else None)
        fields: dict[str, object] = {"status": status, "started_at": started_at}
        if status in (PipelineStatus.SUCCEEDED, PipelineStatus.FAILED, PipelineStatus.CANCELLED):
            finished_at = max(ended) if ended else timezone.now()
            fields["finished_at"] = finished_at
            fields["wall_seconds"] = max(0.0, (finished_at - (started_at or run.created_at)).total_seconds())
        else:
            fields["finished_at"] = None
        PipelineRun.objects.filter(pk=pipeline_id).update(**fields)
        for name, value in fields.items():
            setattr(run, name, value)
    return run


# -- staff actions ----------------------------------------------------------------------------------


def pipeline_stage_cancel(*, stage: PipelineStage, user=None) -> bool:
    """Cancel a waiting or running stage (and the run it works through); its worker stops at its next heartbeat."""
    cancelled = runs.run_cancel(model=PipelineStage, run_id=stage.pk)
    if not cancelled:
        return False
    PipelineStage.objects.filter(pk=stage.pk).update(eta_seconds=None)
    stage.refresh_from_db()
    target = stage.target
    if target is not None:
        runs.run_cancel(model=type(target), run_id=target.pk)
    stage_log(stage=stage, line=f"cancelled{f' by {user}' if user else ''}")
    pipeline_status_refresh(pipeline_id=stage.pipeline_id)
    return True


def pipeline_stage_retry(*, stage: PipelineStage, user=None, enqueue: bool = True) -> bool:
    """Send a failed or cancelled stage again; it resumes from what its run had saved."""
    with transaction.atomic():
        updated = PipelineStage.objects.filter(pk=stage.pk, status__in=[Status.FAILED, Status.CANCELLED]).update(
            status=Status.PENDING, error="", enqueued_at=None, finished_at=None, eta_seconds=None, claimed_by=""
        )
        if not updated:
            return False
        stage.refresh_from_db()
        target = stage.target
        if target is not None and target.status == Status.CANCELLED:
            # A cancelled run is not claimable; a retry makes it pending again, checkpoints and all.
            type(target).objects.filter(pk=target.pk, status=Status.CANCELLED).update(status=Status.PENDING, finished_at=None)
        stage_log(stage=stage, line=f"retry requested{f' by {user}' if user else ''}")
        transaction.on_commit(partial(pipeline_advance, pipeline_id=stage.pipeline_id, enqueue=enqueue))
    pipeline_status_refresh(pipeline_id=stage.pipeline_id)
    return True


def stage_release(*, stage_id: int, reason: str) -> None:
    """Put a stage that hit a transient error back to pending, for the task's retry to claim."""
    PipelineStage.objects.filter(pk=stage_id, status__in=[Status.RUNNING, Status.FAILED]).update(
        status=Status.PENDING, claimed_by="", finished_at=None, eta_seconds=None
    )
    stage = PipelineStage.objects.get(pk=stage_id)
    stage_log(stage=stage, line=f"transient error, retrying: {reason}")
    pipeline_status_refresh(pipeline_id=stage.pipeline_id)


# -- crash recovery ----------------------------------------------------------------------------------


def pipeline_recover(*, enqueue: bool = True) -> list[int]:
    """Send again every stage of an unfinished run that is ready but may have lost its message,
    or running under a claim that is dead (a process of this host that is gone) or stale.

    Sending a stage that is in fact still queued or running is harmless: the claim refuses it.
    """
    stale = timezone.now() - STALE_AFTER
    sent = []
    for run in PipelineRun.objects.filter(status__in=[PipelineStatus.PENDING, PipelineStatus.RUNNING]):
        stuck = [
            s for s in run.stages.filter(status=Status.RUNNING)
            if runs.claim_is_dead(s.claimed_by) or (s.heartbeat_at and s.heartbeat_at < stale)
        ]
        for stage in [*stuck, *ready_stages(run)]:  # interrupted work first: it resumes, and others wait on it
            PipelineStage.objects.filter(pk=stage.pk, enqueued_at=None).update(enqueued_at=timezone.now())
            if enqueue:
                transaction.on_commit(partial(dispatch.stage_send, stage_id=stage.pk, queue=stage.queue))
            sent.append(stage.pk)
        sent += _resend_stalled_chunks(run, enqueue=enqueue)
    return sent


def _resend_stalled_chunks(run: PipelineRun, *, enqueue: bool) -> list[int]:
    """A fanned-out stage whose chunk lost its worker, while the stage's own claim holder lives on
    (idle, its part done): only a chunk task takes that chunk over."""
    stale = timezone.now() - STALE_AFTER
    stalled = [s for s in run.stages.filter(status=Status.RUNNING)
               if any(chunk_abandoned(c, stale) for c in StageChunk.objects.filter(stage=s, status=Status.RUNNING))]
    for stage in stalled if enqueue else []:
        transaction.on_commit(partial(dispatch.chunk_send, stage_id=stage.pk, queue=stage.queue))
    return [s.pk for s in stalled]


def chunk_abandoned(chunk: StageChunk, stale) -> bool:
    """A running chunk whose worker died, or whose claim is older than ``stale``: any worker may take it
    (the rules a stage's own claim follows; ``services.fanout`` claims by them too)."""
    return runs.claim_is_dead(chunk.worker) or (chunk.claimed_at is not None and chunk.claimed_at < stale)


# -- the stage's log -----------------------------------------------------------------------------------


def stage_log(*, stage: PipelineStage, line: str) -> None:
    """Append a timestamped line to the stage's log tail (the last ``LOG_LINES`` lines are kept)."""
    current = PipelineStage.objects.filter(pk=stage.pk).values_list("log", flat=True).first() or ""
    stamped = f"{timezone.now():%H:%M:%S} {line}"
    tail = "\n".join([*current.splitlines(), stamped][-LOG_LINES:])
    PipelineStage.objects.filter(pk=stage.pk).update(log=tail)
    stage.log = tail


def tail_with(log: str, line: str) -> str:
    """The log tail with one more timestamped line, for writers that update it with other fields."""
    return "\n".join([*log.splitlines(), f"{timezone.now():%H:%M:%S} {line}"][-LOG_LINES:])

