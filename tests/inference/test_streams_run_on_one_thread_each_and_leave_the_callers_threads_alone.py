"""A forward split over streams runs one intra-op thread per stream, starts no OpenMP threads
of its own, and leaves the caller's thread count as it was: a stream running 2-thread teams
oversubscribed the cores and left idle OpenMP threads behind that slowed the caller's later
decoding steps (``pipeline.inference.streams``)."""

import os

import pytest
import torch

from pipeline.inference.streams import Streams


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def threads_of_this_process() -> int:
    return len(os.listdir("/proc/self/task"))


def test_stream_tasks_run_single_threaded_and_the_caller_keeps_its_threads(two_threads):
    streams = Streams.get()
    assert streams is not None and streams.count == 2
    assert streams.run([torch.get_num_threads, torch.get_num_threads]) == [1, 1]
    assert torch.get_num_threads() == 2


def test_matmuls_on_streams_start_no_openmp_threads(two_threads):
    streams = Streams.get()
    assert streams is not None
    streams.run([lambda: None, lambda: None])  # the pool's own threads exist from here on
    before = threads_of_this_process()
    a = torch.randn(512, 512)
    sums = streams.run([lambda: float((a @ a).sum()), lambda: float((a @ a.t()).sum())])
    assert len(sums) == 2 and threads_of_this_process() == before
    assert torch.get_num_threads() == 2
