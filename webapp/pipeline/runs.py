"""Claiming and finishing stage runs: the lifecycle every stage (labeling, training, sampling)
shares, whoever runs it (a Celery worker, a management command, a test).

A worker *claims* a run with one conditional UPDATE; if another worker got there first the
UPDATE touches no row and the caller walks away, so enqueueing a stage twice is harmless.
A claim stays alive through heartbeats; a run whose worker died (no heartbeat for
``STALE_AFTER``) or failed can be claimed again and resumes from what it had saved.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import astuple
from pathlib import Path
from typing import TypeVar

from django.conf import settings
from django.db.models import F, Q
from django.db.models.functions import Coalesce, Now
from django.utils import timezone

from pipeline.progress import Progress
from webapp.pipeline.models import StageRun, Status, TrainingRun

RunT = TypeVar("RunT", bound=StageRun)


class RunCancelled(Exception):
    """Staff cancelled the run while it was working."""


def _process_start(pid: int) -> str:
    """The kernel's start time of a process (clock ticks since boot), "" where there is no /proc.

    With the pid it names one process for good: a pid reused after a crash (common in
    containers, where a restarted worker often gets the same small pid) has another start.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]


def worker_name() -> str:
    """host:pid:start of this process, what a claim records."""
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_process_start(pid)}"


def claim_is_dead(claimed_by: str) -> bool:
    """True when the claim belongs to a process of this host that no longer exists.

    Only this host's processes can be checked; a claim from another machine is judged by
    its heartbeat instead (``STALE_AFTER``).
    """
    host, _, rest = claimed_by.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return bool(start) and _process_start(pid) not in ("", start)


def run_claim(
    *, model: type[RunT], run_id: int, worker: str | None = None, force: bool = False, take_over: str | None = None
) -> RunT | None:
    """Take the run for this worker; None when it is finished, cancelled or held by a live worker.

    ``force`` also takes a run marked running (for a person resuming a run by hand after its
    process was killed, without waiting for the heartbeat to go stale). ``take_over`` takes
    a running run from that one claim only (one known to be dead): of two workers trying,
    only the first UPDATE still finds the dead claim.
    """
    worker = worker or worker_name()
    claimable = model.claimable()
    if force:
        claimable |= Q(status=Status.RUNNING)
    if take_over:
        claimable |= Q(status=Status.RUNNING, claimed_by=take_over)
    updated = (
        model.objects.filter(pk=run_id)
        .filter(claimable)
        .update(
            status=Status.RUNNING,
            claimed_by=worker,
            heartbeat_at=Now(),
            started_at=Coalesce(F("started_at"), Now()),
            finished_at=None,
            error="",
            attempts=F("attempts") + 1,
        )
    )
    if not updated:
        return None
    return model.objects.get(pk=run_id)


def run_heartbeat(run: StageRun, **fields) -> None:
    """Record progress (and any counters passed as fields) and prove the worker is alive.

    Raises RunCancelled when staff cancelled the run, or when another worker took it over.
    """
    updated = (
        type(run)
        .objects.filter(pk=run.pk, status=Status.RUNNING, claimed_by=run.claimed_by)
        .update(heartbeat_at=Now(), **fields)
    )
    if not updated:
        raise RunCancelled(f"{run} was cancelled or taken over by another worker")
    for name, value in fields.items():
        if not hasattr(value, "resolve_expression"):
            setattr(run, name, value)


# A run's columns that hold a pipeline ``Progress``, in the order of its fields.
PROGRESS_FIELDS = ("progress_done", "progress_total", "phase", "phase_done", "phase_total")


def progress_fields(progress: Progress) -> dict:
    """A pipeline ``Progress`` report as the run's fields (what ``run_heartbeat`` takes)."""
    return dict(zip(PROGRESS_FIELDS, astuple(progress), strict=True))


def run_finish(run: StageRun, *, status: str = Status.SUCCEEDED, error: str = "", **fields) -> None:
    type(run).objects.filter(pk=run.pk).update(
        status=status, error=error, finished_at=timezone.now(), heartbeat_at=Now(), **fields
    )
    run.refresh_from_db()


def run_cancel(*, model: type[StageRun], run_id: int) -> bool:
    """Mark a pending or running run cancelled; its worker stops at its next heartbeat."""
    return bool(
        model.objects.filter(pk=run_id, status__in=[Status.PENDING, Status.RUNNING]).update(
            status=Status.CANCELLED, finished_at=timezone.now()
        )
    )


@contextmanager
def run_working(run: StageRun) -> Iterator[None]:
    """Time the work into ``wall_seconds`` and turn an exception into a failed run with its error.

    An interrupt (KeyboardInterrupt, SystemExit) is re-raised without touching the status:
    the run stays "running" until its heartbeat goes stale, then any worker resumes it.
    """
    start = time.perf_counter()
    try:
        yield
    except RunCancelled:
        type(run).objects.filter(pk=run.pk).update(wall_seconds=F("wall_seconds") + (time.perf_counter() - start))
        run.refresh_from_db()
    except Exception as exc:  # noqa: BLE001 - every failure is recorded on the run, then re-raised
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        run_finish(
            run,
            status=Status.FAILED,
            error=f"{detail}\n\n{traceback.format_exc(limit=8)}",
            wall_seconds=F("wall_seconds") + (time.perf_counter() - start),
        )
        raise
    else:
        type(run).objects.filter(pk=run.pk).update(wall_seconds=F("wall_seconds") + (time.perf_counter() - start))
        run.refresh_from_db()


def run_dir(run: StageRun) -> Path:
    """A training or sampling run's own folder, where its checkpoints are. The creation time is
    in the name so that a run never resumes from the checkpoints of an older run that had the
    same id in another database."""
    kind = "training" if isinstance(run, TrainingRun) else "sampling"
    return Path(settings.RUNS_ROOT) / f"{kind}-{run.pk}-{run.created_at:%Y%m%dT%H%M%S%f}"
