"""Batches are planned over length-sorted items to keep padding low."""

from pipeline.inference.staged import plan_batches


def test_every_item_lands_in_exactly_one_batch_of_at_most_max_rows():
    lengths = [5, 300, 7, 120, 118, 6, 301, 119]
    batches = plan_batches(lengths, max_rows=3)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    assert all(1 <= len(b) <= 3 for b in batches)


def test_similar_lengths_are_batched_together():
    lengths = [5, 300, 7, 120, 118, 6, 301, 119]
    batches = plan_batches(lengths, max_rows=4)
    assert sorted(sorted(lengths[i] for i in b) for b in batches) == [[5, 6, 7], [118, 119, 120], [300, 301]]


def test_equal_lengths_fill_whole_batches():
    batches = plan_batches([50] * 10, max_rows=4)
    assert len(batches) == 3 and sorted(len(b) for b in batches)[-2:] == [4, 4]
