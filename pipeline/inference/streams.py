"""Parallel streams on a CPU: split one packed forward's rows over worker threads that each run
torch ops on a single core, instead of letting every op split itself over all the cores.

Why. With torch's intra-op threading every op (30 layers x ~15 ops per forward) ends in a
barrier across the cores; small ops barely scale, and when another process holds a core the
whole forward waits for it at every barrier. Independent rows need no synchronisation until
the forward ends, and a single-core matmul of a few hundred rows already runs at the core's
peak.

``Streams.get()`` returns the process's streams for torch's current thread count, or None
when that is 1. Each task sets its worker to one intra-op thread before its first op, and
``run`` puts the caller's thread count back afterwards. Both are needed, every time: with
torch's OpenMP (libgomp) a thread's setting can land in the process-wide default, and MKL's
thread count is process-wide, so the caller's restore puts a worker set once at start-up back
on every core by the time it runs its next task. Such a worker then ran 2-thread
teams, its streams oversubscribed the cores, and the idle OpenMP threads it left behind made
libgomp shorten everyone's spin-wait, so the caller's own later forwards (decoding steps)
slept and woke at every op: 25 % slower decoding after one prefill on streams, measured on 2
cores. Grad mode is per thread too: each task runs under inference mode.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import torch

T = TypeVar("T")


class Streams:
    """A pool of worker threads, one per core, each running torch ops single-threaded."""

    _by_count: dict[int, Streams] = {}
    _pid = os.getpid()
    _lock = threading.Lock()

    def __init__(self, count: int):
        self.count = count
        self.pool = ThreadPoolExecutor(count, thread_name_prefix="inference-stream")

    @classmethod
    def get(cls) -> Streams | None:
        count = torch.get_num_threads()
        if count < 2:
            return None
        with cls._lock:
            if cls._pid != os.getpid():  # a forked child has none of its parent's threads
                cls._by_count, cls._pid = {}, os.getpid()
            if count not in cls._by_count:
                cls._by_count[count] = cls(count)
            return cls._by_count[count]

    def run(self, tasks: Sequence[Callable[[], T]]) -> list[T]:
        """Run the tasks concurrently, one per stream; results in order (errors re-raised)."""

        def call(task: Callable[[], T]) -> T:
            torch.set_num_threads(1)  # before the task's first op, every time (see the module docstring)
            with torch.inference_mode():
                return task()

        futures = [self.pool.submit(call, task) for task in tasks]
        try:
            return [f.result() for f in futures]
        finally:
            if torch.get_num_threads() != self.count:
                torch.set_num_threads(self.count)


def split_rows(costs: Sequence[float], parts: int) -> list[range]:
    """Contiguous row ranges of about equal total cost (rows stay in order, so results
    concatenate back in order). Fewer ranges when there are fewer rows than parts."""
    parts = max(1, min(parts, len(costs)))
    total = float(sum(costs))
    bounds, acc, row = [0], 0.0, 0
    for p in range(1, parts):
        target = total * p / parts
        # advance while taking the next row brings the running cost closer to the target,
        # leaving at least one row for each later part
        while row < len(costs) - (parts - p) and abs(acc + costs[row] - target) <= abs(acc - target):
            acc += costs[row]
            row += 1
        if row == bounds[-1]:  # every range gets at least one row
            acc += costs[row]
            row += 1
        bounds.append(row)
    bounds.append(len(costs))
    return [range(a, b) for a, b in zip(bounds, bounds[1:])]
