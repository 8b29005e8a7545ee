"""python manage.py train_rank RUN_ID --claim WORKER --errors DIR  (one process of a data-parallel run)

Not for people: ``webapp.pipeline.launcher`` starts N of these under torchrun, which sets
RANK / WORLD_SIZE / LOCAL_RANK. Each trains its share of every step; process 0 also records.
A failure is written to DIR/rank-R.txt, where the launcher finds the first one.
"""

from __future__ import annotations

import os
import signal
import traceback
from pathlib import Path

from django.core.management.base import BaseCommand

from webapp.pipeline.launcher import die_with_parent
from webapp.pipeline.services import training


class Command(BaseCommand):
    help = "One process of a training run spread over several processes (started by the launcher under torchrun)."

    def add_arguments(self, parser):
        parser.add_argument("run_id", type=int)
        parser.add_argument("--claim", required=True, help="the worker holding the run's claim (the launcher)")
        parser.add_argument("--errors", required=True, help="folder for this process's error, if it fails")

    def handle(self, *args, **o):
        die_with_parent(signal.SIGKILL)  # torchrun gone means the run is over for this process
        rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
        import torch

        if torch.cuda.is_available():
            # "cuda" without an index now means this process's GPU, for every model it loads
            # (the reward model or labeler a policy is trained against, too).
            torch.cuda.set_device(local_rank)
        try:
            training.training_run_rank(run_id=o["run_id"], claim=o["claim"], rank=rank)
        except BaseException as exc:
            summary = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            (Path(o["errors"]) / f"rank-{rank}.txt").write_text(f"process {rank}: {summary}\n\n{traceback.format_exc(limit=12)}")
            raise
