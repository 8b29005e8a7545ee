"""Fan-out: one labeling stage shared by every idle worker, chunk by chunk.

The worker that claims the stage creates its labeling run and its chunk rows (fixed slices of
the pairs in id order), sends one chunk task per unfinished chunk to the stage's queue, and then
works on chunks itself. Every worker that receives a chunk task does the same loop: claim the
next claimable chunk with one conditional UPDATE, label its pairs not labelled yet, mark it done.
A chunk is claimable when pending, or running under a claim that is dead (a process of this host
that is gone) or stale (``STALE_AFTER``): the rules stages follow.

Labels are stored once per pair (the unique constraint, and pairs already labelled are skipped).
The stage ends when its last chunk has, through one conditional UPDATE (running -> succeeded):
whoever wins it writes the metrics and moves the pipeline on; ``pipeline_advance`` sends each
next stage once however many callers there are.
"""

from __future__ import annotations

import logging
import time
import traceback
from functools import partial

from django.db import InterfaceError, OperationalError, transaction
from django.db.models import Count, F, Q
from django.db.models.functions import Now
from django.utils import timezone

from pipeline.configs import LabelingConfig
from pipeline.labeling.engine import Labeler
from pipeline.progress import Progress
from webapp.pipeline import dispatch, runs
from webapp.pipeline.models import STALE_AFTER, LabelingRun, PipelineStage, StageChunk, Status
from webapp.pipeline.services import labeling, orchestration

log = logging.getLogger(__name__)

# What a fanned-out executor returns: the stage is settled by whoever finishes its last chunk,
# not by the executor's caller (compared by identity).
FANNED_OUT: dict = {"fanned_out": True}
# Tries of one chunk before the stage fails with its error (a model that cannot load fails every time).
MAX_CHUNK_ATTEMPTS = 3


def labeling_stage_fan_out(*, stage: PipelineStage, run: LabelingRun, worker: str, chunk_size: int | None,
                           report, send: bool) -> dict:
    """The labeling executor's work once its run exists: chunks, their tasks, then chunks here too."""
    config = LabelingConfig.from_dict(run.config)
    size = chunk_size or labeling.default_chunk_size(config)
    runs.run_claim(model=LabelingRun, run_id=run.pk, worker=worker, force=True)  # "running" while its chunks are
    if not StageChunk.objects.filter(stage=stage).exists():
        total = run.progress_total
        StageChunk.objects.bulk_create(
            [StageChunk(stage=stage, index=i, start=start, stop=min(start + size, total))
             for i, start in enumerate(range(0, total, size))], ignore_conflicts=True)
    # A retry starts again the chunks that failed, and those this very process left claimed
    # (an earlier attempt in it that ended without letting go).
    StageChunk.objects.filter(stage=stage).filter(Q(status=Status.FAILED) | Q(status=Status.RUNNING, worker=worker)).update(
        status=Status.PENDING, attempts=0, error="")
    run.refresh_from_db()
    report(Progress.durable(run.progress_done, run.progress_total, "labeling"))
    if send:
        for _ in range(StageChunk.objects.filter(stage=stage).exclude(status=Status.SUCCEEDED).count()):
            transaction.on_commit(partial(dispatch.chunk_send, stage_id=stage.pk, queue=stage.queue))
    chunks_work(stage=stage, worker=worker, report=report)
    stage_finish_if_done(stage_id=stage.pk)
    return FANNED_OUT


def stage_chunks_run(*, stage_id: int, worker: str | None = None) -> int:
    """What a chunk task does: work on the stage's chunks while any is claimable; returns how many
    it finished. Moves the pipeline on when it finished the stage."""
    worker = worker or runs.worker_name()
    stage = PipelineStage.objects.select_related("labeling_run").filter(pk=stage_id).first()
    if stage is None or stage.status != Status.RUNNING or stage.labeling_run is None:
        return 0  # a late or duplicate message: finished, cancelled, or not fanned out yet
    finished = chunks_work(stage=stage, worker=worker, report=None)
    if stage_finish_if_done(stage_id=stage_id):
        orchestration.pipeline_advance(pipeline_id=stage.pipeline_id)
    return finished


def chunks_work(*, stage: PipelineStage, worker: str, report) -> int:
    """Claim and label chunks until none is claimable or the stage stops running. ``report`` is the
    claim holder's Reporter (raises RunCancelled on a cancel); other workers write progress directly."""
    run = stage.labeling_run
    assert run is not None  # the executor attached it before fanning out
    finished = 0
    while PipelineStage.objects.filter(pk=stage.pk, status=Status.RUNNING).exists():
        chunk = chunk_claim(stage_id=stage.pk, worker=worker)
        if chunk is None:
            break
        started = time.perf_counter()
        run.refresh_from_db()  # as stored now: a model spec staff corrected meanwhile is the one loaded
        try:
            labelled = labeling.labeling_pairs_label(run=run, start=chunk.start, stop=chunk.stop)
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
            continue  # taken over meanwhile (we were presumed dead): its labels are stored once anyway
        finished += 1
        run.refresh_from_db(fields=["progress_done", "progress_total"])
        progress = Progress.durable(run.progress_done, run.progress_total, "labeling")
        note = f"chunk {chunk.index}: {labelled} pairs in {time.perf_counter() - started:.1f} s on {short_worker(worker)}"
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
    """Back to pending for another try; after the last try, the chunk and the stage fail with the error.
    Chunks already stored stay stored: a retry of the stage resumes from them."""
    detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    log.warning("chunk %s of stage %s failed on %s: %s", chunk.index, stage.pk, worker, detail)
    last = chunk.attempts >= MAX_CHUNK_ATTEMPTS
    StageChunk.objects.filter(pk=chunk.pk, worker=worker).update(
        status=Status.FAILED if last else Status.PENDING, error=detail)
    if not last:
        return
    error = f"chunk {chunk.index} (pairs {chunk.start}-{chunk.stop - 1}) failed {chunk.attempts} times on {short_worker(worker)}: {detail}"
    if PipelineStage.objects.filter(pk=stage.pk, status=Status.RUNNING).update(
            status=Status.FAILED, error=error, finished_at=timezone.now(), eta_seconds=None):
        LabelingRun.objects.filter(id__in=[stage.labeling_run_id]).update(status=Status.FAILED, error=error, finished_at=timezone.now())
        orchestration.stage_log(stage=stage, line=f"failed: {error[:300]}")
        orchestration.pipeline_status_refresh(pipeline_id=stage.pipeline_id)


def stage_finish_if_done(*, stage_id: int) -> bool:
    """Succeed the stage when every chunk has; True for the one caller whose UPDATE did it."""
    chunks = StageChunk.objects.filter(stage_id=stage_id)
    if chunks.exclude(status=Status.SUCCEEDED).exists():  # none at all: a stage with no pairs is done too
        return False
    stage = PipelineStage.objects.select_related("labeling_run").get(pk=stage_id)
    run = stage.labeling_run
    if stage.status != Status.RUNNING or run is None:
        return False
    metrics = labeling.labeling_run_metrics(run=run)
    config = LabelingConfig.from_dict(run.config)
    if config.calibrate:
        metrics["calibration_prior"] = Labeler(labeling.load_labeler(run.model_spec, config.precision), config).content_free_prior()
    metrics["workers"] = len(stage_workers(stage_id=stage_id))
    metrics["engine/pairs_per_second"] = _pairs_per_worker_second(chunks)
    total = run.progress_total
    with transaction.atomic():
        won = PipelineStage.objects.filter(pk=stage_id, status=Status.RUNNING).update(
            status=Status.SUCCEEDED, metrics=metrics, progress_done=total, progress_total=total, eta_seconds=None,
            finished_at=timezone.now(), log=orchestration.tail_with(stage.log, "succeeded"))
        if won:
            LabelingRun.objects.filter(pk=run.pk).update(
                status=Status.SUCCEEDED, metrics=metrics, progress_done=total, error="", finished_at=timezone.now())
    return bool(won)


def _pairs_per_worker_second(chunks) -> float | None:
    """Pairs per second of one worker (summed over chunks: the stage's own rate is this times its
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
