"""Fan-out: one stage shared by every idle worker, chunk by chunk.

Three kinds of stage fan out, each over its items in a fixed order: labeling (its pairs),
sampling (its test prompts) and the AI judge (its round's items). The worker that claims the
stage creates its run (the kind's executor in ``services.stages``) and then its chunk rows
(fixed slices of the items), sends chunk tasks to the stage's queue, and works on chunks
itself. Every worker that receives a chunk task does the same loop: claim the next claimable
chunk with one conditional UPDATE, do its items not stored yet, mark it done. A chunk is
claimable when pending, or running under a claim that is dead (a process of this host that is
gone) or stale (``STALE_AFTER``): the rules stages follow.

What differs between the kinds is one row of ``FAN_OUTS``: how many items the stage has, how
to do items ``[start, stop)``, how far it is, and its metrics at the end. Results are stored
once per item (each kind's unique constraint, and items already stored are skipped), and each
result depends on its item alone (labels and samples are seeded by their content), so they are
the same whatever the number of workers. The stage ends when its last chunk has, through one
conditional UPDATE (running -> succeeded): whoever wins it writes the metrics and moves the
pipeline on; ``pipeline_advance`` sends each next stage once however many callers there are.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from django.db import InterfaceError, OperationalError, transaction
from django.db.models import Count, F, Q
from django.db.models.functions import Now
from django.utils import timezone

from pipeline.configs import LabelingConfig
from pipeline.labeling.engine import Labeler
from pipeline.progress import PHASE_UNITS, Progress
from webapp.experiments.services import response_lengths_fill
from webapp.pipeline import dispatch, runs
from webapp.pipeline.models import STALE_AFTER, LabelingRun, PipelineStage, SamplingRun, StageChunk, StageKind, Status
from webapp.pipeline.services import ai_judge, labeling, orchestration, sampling

log = logging.getLogger(__name__)

# What a fanned-out executor returns: the stage is settled by whoever finishes its last chunk,
# not by the executor's caller (compared by identity).
FANNED_OUT: dict = {"fanned_out": True}
# Tries of one chunk before the stage fails with its error (a model that cannot load fails every time).
MAX_CHUNK_ATTEMPTS = 3


@dataclass(frozen=True)
class FanOut:
    """How one kind of stage fans out. Each function reads what it needs from the database as
    stored now (a model spec staff corrected meanwhile is the one loaded)."""

    phase: str  # the progress phase its chunks report (a key of PHASE_UNITS)
    items: str  # what its chunks slice, as the log and errors name them
    rate: str  # the metric of items per worker-second
    count: Callable[[PipelineStage], int]  # its items, in the order the chunks slice
    # Do items [start, stop) not stored yet; returns how many (in the phase's unit). The dict is
    # what one worker keeps between its chunks of the stage (a loaded policy).
    work: Callable[[PipelineStage, int, int, dict], int]
    progress: Callable[[PipelineStage], tuple[int, int]]  # (done, in all), in the phase's unit
    metrics: Callable[[PipelineStage], dict]  # its metrics, computed once by whoever ends it


def stage_fan_out(*, stage: PipelineStage, worker: str, chunk_size: int, report, send: bool) -> dict:
    """A fanned-out kind's executor once its run (if the kind has one) exists: chunks, their
    tasks, then chunks here too."""
    kind = FAN_OUTS[stage.kind]
    target = stage.target
    if target is not None:  # "running" while its chunks are
        runs.run_claim(model=type(target), run_id=target.pk, worker=worker, force=True)
    if not StageChunk.objects.filter(stage=stage).exists():
        total = kind.count(stage)
        StageChunk.objects.bulk_create(
            [StageChunk(stage=stage, index=i, start=start, stop=min(start + chunk_size, total))
             for i, start in enumerate(range(0, total, chunk_size))], ignore_conflicts=True)
    # A retry starts again the chunks that failed, and those this very process left claimed
    # (an earlier attempt in it that ended without letting go).
    StageChunk.objects.filter(stage=stage).filter(Q(status=Status.FAILED) | Q(status=Status.RUNNING, worker=worker)).update(
        status=Status.PENDING, attempts=0, error="")
    report(Progress.durable(*kind.progress(stage), kind.phase))
    if send:  # one helper fewer than the chunks left: this worker takes one itself
        for _ in range(StageChunk.objects.filter(stage=stage).exclude(status=Status.SUCCEEDED).count() - 1):
            transaction.on_commit(partial(dispatch.chunk_send, stage_id=stage.pk, queue=stage.queue))
    chunks_work(stage=stage, worker=worker, report=report)
    stage_finish_if_done(stage_id=stage.pk)
    return FANNED_OUT


def stage_chunks_run(*, stage_id: int, worker: str | None = None) -> int:
    """What a chunk task does: work on the stage's chunks while any is claimable; returns how many
    it finished. Moves the pipeline on when it finished the stage."""
    worker = worker or runs.worker_name()
    stage = PipelineStage.objects.filter(pk=stage_id).first()
    if stage is None or stage.status != Status.RUNNING or not StageChunk.objects.filter(stage=stage).exists():
        return 0  # a late or duplicate message: finished, cancelled, or not fanned out yet
    finished = chunks_work(stage=stage, worker=worker, report=None)
    if stage_finish_if_done(stage_id=stage_id):
        orchestration.pipeline_advance(pipeline_id=stage.pipeline_id)
    return finished


def chunks_work(*, stage: PipelineStage, worker: str, report) -> int:
    """Claim and work on chunks until none is claimable or the stage stops running. ``report`` is the
    claim holder's Reporter (raises RunCancelled on a cancel); other workers write progress directly."""
    kind = FAN_OUTS[stage.kind]
    kept: dict = {}
    finished = 0
    while PipelineStage.objects.filter(pk=stage.pk, status=Status.RUNNING).exists():
        chunk = chunk_claim(stage_id=stage.pk, worker=worker)
        if chunk is None:
            break
        started = time.perf_counter()
        try:
            done = kind.work(stage, chunk.start, chunk.stop, kept)
        except (OperationalError, InterfaceError):
            # The database is away (a locked SQLite file): the chunk goes back for anyone, and the
            # task's own retry (with backoff) comes back for more.
            StageChunk.objects.filter(pk=chunk.pk, status=Status.RUNNING, worker=worker).update(status=Status.PENDING)
            raise
        except Exception as exc:  # noqa: BLE001 - recorded on the chunk, and on the stage after the last try
            _chunk_failed(chunk, stage, worker, exc)
            continue
        if not StageChunk.objects.filter(pk=chunk.pk, status=Status.RUNNING, worker=worker).update(
                status=Status.SUCCEEDED, finished_at=timezone.now()):
            continue  # taken over meanwhile (we were presumed dead): its results are stored once anyway
        finished += 1
        progress = Progress.durable(*kind.progress(stage), kind.phase)
        note = (f"chunk {chunk.index}: {done} {PHASE_UNITS[kind.phase]} in {time.perf_counter() - started:.1f} s"
                f" on {short_worker(worker)}")
        if report is not None:
            report(progress, note=note)
        else:
            line = orchestration.tail_with(PipelineStage.objects.get(pk=stage.pk).log, f"{progress.describe()} · {note}")
            PipelineStage.objects.filter(pk=stage.pk, status=Status.RUNNING).update(
                heartbeat_at=Now(), log=line, **runs.progress_fields(progress))
    return finished


def chunk_claim(*, stage_id: int, worker: str) -> StageChunk | None:
    """The next claimable chunk (lowest index first), taken with one conditional UPDATE that
    finds it as it was read: of two workers reading the same chunk only one gets it."""
    stale = timezone.now() - STALE_AFTER
    for chunk in StageChunk.objects.filter(stage_id=stage_id, status__in=[Status.PENDING, Status.RUNNING]).order_by("index"):
        if chunk.status == Status.RUNNING and not orchestration.chunk_abandoned(chunk, stale):
            continue
        taken = StageChunk.objects.filter(pk=chunk.pk, status=chunk.status, worker=chunk.worker, attempts=chunk.attempts).update(
            status=Status.RUNNING, worker=worker, claimed_at=timezone.now(), attempts=F("attempts") + 1)
        if taken:
            chunk.refresh_from_db()
            return chunk
    return None


def _chunk_failed(chunk: StageChunk, stage: PipelineStage, worker: str, exc: Exception) -> None:
    """Back to pending for another try; after the last try, the chunk and the stage (and its run)
    fail with the error. Chunks already stored stay stored: a retry of the stage resumes from them."""
    detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    log.warning("chunk %s of stage %s failed on %s: %s", chunk.index, stage.pk, worker, detail)
    last = chunk.attempts >= MAX_CHUNK_ATTEMPTS
    StageChunk.objects.filter(pk=chunk.pk, worker=worker).update(
        status=Status.FAILED if last else Status.PENDING, error=detail)
    if not last:
        return
    items = FAN_OUTS[stage.kind].items
    error = (f"chunk {chunk.index} ({items} {chunk.start}-{chunk.stop - 1}) failed {chunk.attempts} times"
             f" on {short_worker(worker)}: {detail}")
    if PipelineStage.objects.filter(pk=stage.pk, status=Status.RUNNING).update(
            status=Status.FAILED, error=error, finished_at=timezone.now(), eta_seconds=None):
        target = stage.target
        if target is not None:
            type(target).objects.filter(pk=target.pk).update(status=Status.FAILED, error=error, finished_at=timezone.now())
        orchestration.stage_log(stage=stage, line=f"failed: {error[:300]}")
        orchestration.pipeline_status_refresh(pipeline_id=stage.pipeline_id)


def stage_finish_if_done(*, stage_id: int) -> bool:
    """Succeed the stage (and its run) when every chunk has; True for the one caller whose UPDATE did it."""
    chunks = StageChunk.objects.filter(stage_id=stage_id)
    if chunks.exclude(status=Status.SUCCEEDED).exists():  # none at all: a stage with no items is done too
        return False
    stage = PipelineStage.objects.get(pk=stage_id)
    kind = FAN_OUTS.get(stage.kind)
    if stage.status != Status.RUNNING or kind is None:
        return False
    metrics = kind.metrics(stage)
    metrics["workers"] = len(stage_workers(stage_id=stage_id))
    metrics[kind.rate] = _items_per_worker_second(chunks)
    _, total = kind.progress(stage)
    target = stage.target
    with transaction.atomic():
        won = PipelineStage.objects.filter(pk=stage_id, status=Status.RUNNING).update(
            status=Status.SUCCEEDED, metrics=metrics, progress_done=total, progress_total=total, eta_seconds=None,
            finished_at=timezone.now(), log=orchestration.tail_with(stage.log, "succeeded"))
        if won and target is not None:
            type(target).objects.filter(pk=target.pk).update(
                status=Status.SUCCEEDED, metrics=metrics, progress_done=total, error="", finished_at=timezone.now())
    return bool(won)


def _items_per_worker_second(chunks) -> float | None:
    """Items per second of one worker (summed over chunks: the stage's own rate is this times its
    workers); the last claim of each chunk, so time lost to a dead worker is not counted."""
    spans = [(c.stop - c.start, (c.finished_at - c.claimed_at).total_seconds()) for c in chunks if c.finished_at and c.claimed_at]
    seconds = sum(s for _, s in spans)
    return sum(n for n, _ in spans) / seconds if seconds > 0 else None


def stage_workers(*, stage_id: int) -> list[tuple[str, int]]:
    """(worker, chunks it finished) of every worker that finished a chunk of the stage."""
    rows = (StageChunk.objects.filter(stage_id=stage_id, status=Status.SUCCEEDED).values("worker")
            .annotate(n=Count("id")).order_by("-n", "worker"))
    return [(short_worker(row["worker"]), row["n"]) for row in rows]


def short_worker(claim: str) -> str:
    """host:pid of a claim (the process start time only tells reused pids apart)."""
    return ":".join(claim.split(":")[:2])


# -- the kinds that fan out ------------------------------------------------------------------------


def _labeling_run(stage: PipelineStage) -> LabelingRun:
    assert stage.labeling_run_id is not None  # the executor attached it before fanning out
    return LabelingRun.objects.get(pk=stage.labeling_run_id)


def _labeling_progress(stage: PipelineStage) -> tuple[int, int]:
    run = _labeling_run(stage)
    return run.progress_done, run.progress_total


def _labeling_metrics(stage: PipelineStage) -> dict:
    run = _labeling_run(stage)
    metrics = labeling.labeling_run_metrics(run=run)
    config = LabelingConfig.from_dict(run.config)
    if config.calibrate:
        metrics["calibration_prior"] = Labeler(labeling.load_labeler(run.model_spec, config.precision), config).content_free_prior()
    return metrics


def _sampling_run(stage: PipelineStage) -> SamplingRun:
    assert stage.sampling_run_id is not None  # the executor attached it before fanning out
    return SamplingRun.objects.select_related("experiment").get(pk=stage.sampling_run_id)


def _sampling_metrics(stage: PipelineStage) -> dict:
    run = _sampling_run(stage)
    response_lengths_fill(experiment=run.experiment)  # the report's lengths, as the one-process run stores them
    return {"responses": sampling.sampling_run_progress(run=run)[0]}


def _judged(stage: PipelineStage) -> tuple:
    """(round, items) the judge stage scores: its round stage's round (the executor checked it has one)."""
    round_stage = orchestration.stage_upstream(stage, StageKind.ROUND)
    assert round_stage is not None and round_stage.round is not None
    return round_stage.round, ai_judge.judge_items(round=round_stage.round, limit=stage.config["config"].get("limit"))


def _judge_work(stage: PipelineStage, start: int, stop: int, kept: dict) -> int:
    round, items = _judged(stage)
    return ai_judge.items_judge(round=round, items=items[start:stop], model_spec=stage.model_spec or None,
                                precision=stage.config["config"].get("precision", "exact"))


def _judge_progress(stage: PipelineStage) -> tuple[int, int]:
    round, items = _judged(stage)
    return ai_judge.judge_progress(round=round, items=items)


FAN_OUTS: dict[str, FanOut] = {
    StageKind.LABELING: FanOut(
        "labeling", "pairs", "engine/pairs_per_second",
        count=lambda stage: _labeling_run(stage).progress_total,
        work=lambda stage, start, stop, kept: labeling.labeling_pairs_label(run=_labeling_run(stage), start=start, stop=stop),
        progress=_labeling_progress,
        metrics=_labeling_metrics,
    ),
    StageKind.SAMPLING: FanOut(
        "sampling", "prompts", "engine/prompts_per_second",
        count=lambda stage: sampling.sampling_run_progress(run=_sampling_run(stage))[1],
        work=lambda stage, start, stop, kept: sampling.sampling_prompts_sample(
            run=_sampling_run(stage), start=start, stop=stop, models=kept),
        progress=lambda stage: sampling.sampling_run_progress(run=_sampling_run(stage)),
        metrics=_sampling_metrics,
    ),
    StageKind.JUDGE: FanOut(
        "labeling", "items", "engine/items_per_second",
        count=lambda stage: len(_judged(stage)[1]),
        work=_judge_work,
        progress=_judge_progress,
        metrics=lambda stage: {"judge/scored": _judge_progress(stage)[0]},
    ),
}
