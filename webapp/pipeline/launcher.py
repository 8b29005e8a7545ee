"""One training run over several processes (one per GPU) of a single worker, through torchrun.

A Celery worker (or a command) that claimed a training run may train it in N processes
instead of its own: ``train_in_processes`` starts ``torchrun --standalone --nproc_per_node N
manage.py train_rank RUN_ID`` and watches it. The trainers are data-parallel under any such
launcher (``pipeline.distributed``; TRL's DPO / RLOO / GRPO spread themselves through
accelerate, which reads the same environment). The division of labour:

* the watcher (this process) keeps the claim: it heartbeats the run, mirrors the progress
  process 0 writes to its caller's ``on_progress`` (a stage's Reporter, a progress bar), and
  stops every process when staff cancel the stage or the run;
* process 0 writes metrics, progress and the result, under the watcher's claim;
* the other processes read the same inputs and never write to the database.

The processes die with the watcher (PR_SET_PDEATHSIG), so a SIGKILLed worker leaves no
orphan training on the GPUs, and the run resumes from its last checkpoint when claimed again.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from pathlib import Path

from django.conf import settings

from pipeline.distributed import usable_cpus
from pipeline.progress import Progress, ProgressFn
from webapp.pipeline import runs
from webapp.pipeline.models import Status, TrainingRun
from webapp.pipeline.runs import PROGRESS_FIELDS

MANAGE = Path(settings.BASE_DIR) / "manage.py"
POLL_SECONDS = 2.0
PR_SET_PDEATHSIG = 1


class TrainingProcessesFailed(RuntimeError):
    """A process of a data-parallel run failed; the message is the first error among them."""


def training_processes(value: int | str | None = None) -> int:
    """How many processes a training stage runs in: ``value`` or TRAINING_PROCESSES, where
    ``auto`` is one per GPU this worker sees (CUDA_VISIBLE_DEVICES), 1 on a machine without."""
    value = settings.TRAINING_PROCESSES if value is None else value
    if value == "auto":
        import torch

        return max(torch.cuda.device_count(), 1)
    return int(value)


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent exits (Linux only)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, sig)
    except (OSError, AttributeError):
        pass  # no prctl here: processes may then outlive a killed worker until their next heartbeat


def train_in_processes(run: TrainingRun, *, processes: int, on_progress: ProgressFn | None = None) -> None:
    """Train the claimed ``run`` in ``processes`` processes and wait for them.

    Raises ``runs.RunCancelled`` when the run or the caller's stage is cancelled (the processes
    are stopped first) and ``TrainingProcessesFailed`` with the failing process's error.
    """
    folder = runs.run_dir(run)
    errors = folder / ".rank-errors"  # a dot folder: never uploaded to a remote artifact root
    errors.mkdir(parents=True, exist_ok=True)
    for stale in errors.glob("*"):
        stale.unlink()
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}",
        str(MANAGE), "train_rank", str(run.pk), "--claim", run.claimed_by, "--errors", str(errors),
    ]
    with open(folder / "processes.log", "ab") as log:
        log.write(f"\n=== attempt {run.attempts}: {' '.join(command)}\n".encode())
        log.flush()
        process = subprocess.Popen(
            command, cwd=MANAGE.parent, env=_environment(processes), stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=die_with_parent,
        )
        try:
            code = _watch(run, process, on_progress)
        except BaseException:
            _stop(process)
            raise
    if code != 0:
        raise TrainingProcessesFailed(_first_error(errors) or f"torchrun exited with code {code}; see {folder / 'processes.log'}")
    run.refresh_from_db()
    if run.status != Status.SUCCEEDED:
        raise TrainingProcessesFailed(f"the processes exited without recording a result; see {folder / 'processes.log'}")


def _environment(processes: int) -> dict[str, str]:
    # The processes write checkpoints where this one pulled the run folder and looks for them,
    # even where RUNS_ROOT was changed in-process after start-up (manage.py sets the settings module).
    env = {**os.environ, "RUNS_ROOT": str(settings.RUNS_ROOT), "PYTHONUNBUFFERED": "1"}
    # torchrun would pin every process to one thread; on a CPU-only machine share the cores.
    env.setdefault("OMP_NUM_THREADS", str(max(1, usable_cpus() // processes)))
    return env


def _watch(run: TrainingRun, process: subprocess.Popen, on_progress) -> int:
    """Wait for the processes while keeping the claim alive and passing their progress on."""
    claim = run.claimed_by
    while True:
        try:
            code = process.wait(timeout=POLL_SECONDS)
        except subprocess.TimeoutExpired:
            code = None
        state = TrainingRun.objects.filter(pk=run.pk).values("status", "claimed_by", *PROGRESS_FIELDS).get()
        if state["claimed_by"] != claim or state["status"] == Status.CANCELLED:
            raise runs.RunCancelled(f"{run} was cancelled or taken over by another worker")
        if code is not None:
            return code
        if state["status"] == Status.RUNNING:
            runs.run_heartbeat(run)  # model loading may take minutes before process 0's first step
        if on_progress and state["progress_total"]:
            # Every poll, not only on news: a stage's Reporter raises RunCancelled here when
            # staff cancelled the stage, and its heartbeat shows the stage alive.
            on_progress(Progress(*(state[name] for name in PROGRESS_FIELDS)))


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM torchrun and its processes (torchrun passes it on), SIGKILL what is left."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    except ProcessLookupError:
        pass


def _first_error(errors: Path) -> str:
    """The error of the process that failed first: the others usually failed because it did."""
    files = sorted(errors.glob("rank-*.txt"), key=lambda path: path.stat().st_mtime)
    return files[0].read_text().strip() if files else ""
