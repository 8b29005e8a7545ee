"""A forward split over streams runs one intra-op thread per stream, every time, and leaves the
caller's thread count as it was: streams that ran 2-thread teams oversubscribed the cores and
left idle OpenMP threads behind that slowed the caller's later decoding steps
(``pipeline.inference.streams``)."""

import pytest
import torch

from pipeline.inference.streams import Streams


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_stream_tasks_run_single_threaded_and_the_caller_keeps_its_threads(two_threads):
    streams = Streams.get()
    assert streams is not None and streams.count == 2
    for _ in range(2):  # the caller's restore after the first run must not leak into the second
        assert streams.run([torch.get_num_threads, torch.get_num_threads]) == [1, 1]
        assert torch.get_num_threads() == 2

