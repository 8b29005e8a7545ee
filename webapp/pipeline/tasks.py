"""Celery tasks of the pipeline: one for every stage, taking a stage id, and recovery.

A stage's message goes to the queue stored on its row (``webapp.pipeline.dispatch``), which
``pipeline.kinds`` chose: labeling, training and sampling to ``gpu``, preparing models and the
evaluation round to ``default``; recovery runs on ``default``. A GPU worker is
``celery -A webapp worker -Q gpu --concurrency 1`` per device, with the device chosen by
``CUDA_VISIBLE_DEVICES``; on a machine without one the same tasks run on the CPU.

Messages are acknowledged late and requeued when the worker is lost, so a task may arrive
twice; the stage claim (one conditional UPDATE) makes the second delivery a no-op. Database
hiccups (a locked SQLite file, a dropped PostgreSQL connection) are retried with backoff;
anything else leaves the stage failed with its error, for staff to retry from the run page.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import sys

from celery import shared_task
from celery.signals import worker_ready
from django.db import InterfaceError, OperationalError, connections

from webapp.pipeline import dispatch
from webapp.pipeline.services import orchestration, stages

log = logging.getLogger(__name__)

TRANSIENT = (OperationalError, InterfaceError)
STAGE_OPTIONS = dict(
    bind=True, acks_late=True, reject_on_worker_lost=True, autoretry_for=TRANSIENT, max_retries=5,
    retry_backoff=5, retry_backoff_max=300, retry_jitter=True,
)


def _execute(task, stage_id: int) -> None:
    try:
        stages.pipeline_stage_execute(stage_id=stage_id)
    except TRANSIENT as exc:
        if task.request.retries < task.max_retries:
            try:  # back to pending, so the page says "retrying" rather than "failed"
                orchestration.stage_release(stage_id=stage_id, reason=str(exc).splitlines()[0][:200])
            except TRANSIENT:
                pass  # the database is still away: the stage stays claimed by this worker, whose retry takes it back
        raise  # autoretry_for turns this into a retry with backoff
    finally:
        _release_memory()


def _release_memory() -> None:
    """Give back what the stage's models held before the next stage loads its own: one worker
    process runs stage after stage, and a policy stage alone holds four models."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()
    try:  # glibc keeps freed tensors' pages otherwise; the worker's size would only ever grow
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


@shared_task(name=dispatch.STAGE_TASK, **STAGE_OPTIONS)
def stage_task(self, stage_id: int) -> None:
    """Its time limits come with the message, by the stage's queue (``dispatch.time_limits``)."""
    _execute(self, stage_id)


@shared_task(name=dispatch.CHUNK_TASK, **STAGE_OPTIONS)
def chunk_task(self, stage_id: int) -> None:
    """Work on a fanned-out stage's chunks beside its other workers (``services.fanout``)."""
    try:
        stages.pipeline_chunks_execute(stage_id=stage_id)
    finally:
        _release_memory()


@shared_task(name="pipeline.recover", acks_late=True, autoretry_for=TRANSIENT, max_retries=3, retry_backoff=5)
def recover() -> int:
    """Send again what a dead worker left behind (celery beat runs this every minute)."""
    return len(orchestration.pipeline_recover())


@worker_ready.connect
def recover_on_start(sender=None, **kwargs) -> None:
    """A worker that starts picks up what a killed one left: its message went with it
    (the filesystem broker hands a message over once) and its claim points at a dead process."""
    try:
        sent = orchestration.pipeline_recover()
        if sent:
            log.info("pipeline: sent %d stage(s) again after a restart: %s", len(sent), sent)
    except Exception:  # noqa: BLE001 - a worker must start even when recovery cannot run now
        log.exception("pipeline: recovery at worker start failed; beat or the next start retries it")
    finally:
        # This runs in the worker's main process: never hand its connection to forked children.
        connections.close_all()
