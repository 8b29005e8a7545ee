"""Data parallelism for our own training loops, when a run is started by ``accelerate launch``
or ``torchrun`` (they set RANK, WORLD_SIZE, LOCAL_RANK and MASTER_ADDR/PORT).

Every process holds the whole model and trains on its share of each step's batch; gradients
of the trainable parameters are averaged across processes before the optimizer step, so the
replicas stay identical without wrapping the model in DDP (which would hide ``generate``,
``disable_adapter`` and the LoRA merge behind ``.module``). Anything else that changes the
parameters must be the same on every process (see ``mean``). Process 0 alone writes files,
checkpoints and metrics. A process started on its own is rank 0 of 1 and every method here
costs nothing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import torch
import torch.distributed as dist

T = TypeVar("T")


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity, bounded by a container's CPU quota (cgroup
    v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us``), which ``os.cpu_count`` does not see. What
    processes sharing this machine's cores divide among themselves."""
    count = len(os.sched_getaffinity(0))
    limits = [("/sys/fs/cgroup/cpu.max", None), ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us")]
    for quota_file, period_file in limits:
        try:
            fields = Path(quota_file).read_text().split()
            quota, period = fields[0], fields[1] if period_file is None else Path(period_file).read_text().strip()
        except (OSError, IndexError):
            continue
        if quota not in ("max", "-1"):
            count = min(count, max(1, int(quota) // int(period)))
        break
    return count


@dataclass(frozen=True)
class Ranks:
    """This process's place among the processes of one training run."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> Ranks:
        """Read the launcher's environment and join the process group (NCCL on GPUs, gloo on CPU)."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        ranks = cls(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
        if not dist.is_initialized():
            backend = "nccl" if torch.cuda.is_available() else "gloo"
            if backend == "nccl":
                torch.cuda.set_device(ranks.local_rank)
            dist.init_process_group(backend=backend)
        return ranks

    @property
    def main(self) -> bool:
        return self.rank == 0

    def device(self, requested: str) -> str:
        """Each process on its own GPU: "auto"/"cuda" become cuda:LOCAL_RANK."""
        if self.world > 1 and requested in ("auto", "cuda") and torch.cuda.is_available():
            return f"cuda:{self.local_rank}"
        return requested

    def shard(self, items: Sequence[T]) -> list[T]:
        """This process's share of a step's batch. A batch smaller than the number of processes
        (an epoch's last) goes whole to each: their averaged gradient is that batch's own."""
        if len(items) < self.world:
            return list(items)
        return list(items[self.rank :: self.world])

    def average_gradients(self, params: Sequence[torch.nn.Parameter]) -> None:
        """Replace each gradient by its mean over processes (one all-reduce of the flattened grads)."""
        if self.world == 1:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.reshape(-1).float() for g in grads])
        dist.all_reduce(flat)
        flat /= self.world
        offset = 0
        for p, g in zip(params, grads):
            n = g.numel()
            p.grad = flat[offset : offset + n].view_as(g).to(g.dtype)
            offset += n

    def mean(self, value: float | torch.Tensor) -> float:
        """The mean of a scalar over processes: for logs, and for any value that sets parameters."""
        if isinstance(value, torch.Tensor):
            value = value.detach()
        if self.world == 1:
            return float(value)
        tensor = torch.tensor([float(value)], dtype=torch.float64)
        if dist.get_backend() == "nccl":
            tensor = tensor.cuda()
        dist.all_reduce(tensor)
        return float(tensor.item()) / self.world

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def main_then_wait(self, action: Callable[[], T]) -> T | None:
        """Run ``action`` (a write: checkpoint, export, evaluation) on process 0; the others wait."""
        result = action() if self.main else None
        self.barrier()
        return result
