"""Two real worker processes share one labeling stage: both take chunks, each pair gets exactly
one label, and the labels are those one process gives the same pairs (the chunks are fixed
slices and the labeler's seeds come from each pair's content)."""

import pytest

from tests.orchestration.chunks import LABELING, chunks, labels, one_process_labels, stage_metrics, start_shared_labeling, wait_until_done

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PAIRS = 12


def test_two_workers_label_one_stage_together_with_one_label_per_pair(lab):
    workers = start_shared_labeling(lab, PAIRS)
    wait_until_done(lab)
    for worker in workers:  # the rest of the pipeline is not this test's business
        lab.kill(worker)

    done = chunks(lab)
    assert len(done) == PAIRS and {status for _, status, _, _ in done} == {"succeeded"}
    assert {pid for _, _, pid, _ in done} == {w.pid for w in workers}  # both took part
    [(count, distinct)] = lab.sql("SELECT count(*), count(DISTINCT pair_id) FROM pipeline_ailabel")
    assert count == distinct == PAIRS
    assert stage_metrics(lab, LABELING)["workers"] == 2

    shared, alone = labels(lab), one_process_labels(lab)
    assert shared.keys() == alone.keys()
    assert all(shared[pair] == pytest.approx(alone[pair], abs=1e-5) for pair in shared), (shared, alone)
