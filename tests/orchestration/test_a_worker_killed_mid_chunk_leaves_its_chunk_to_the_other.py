"""SIGKILL one of two workers sharing a labeling stage while it holds a chunk: the other worker
takes that chunk over (its claim is dead) and finishes the stage; no pair is labelled twice or
left out."""

import pytest

from tests.orchestration.chunks import LABELING, chunks, start_shared_labeling, wait_until_done

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PAIRS = 12


def test_the_surviving_worker_finishes_the_killed_workers_chunk(lab):
    workers = start_shared_labeling(lab, PAIRS)
    pids = {w.pid: w for w in workers}

    def victim():
        """A worker holding a chunk once both have started, with chunks left for the other."""
        rows = chunks(lab)
        started = {pid for _, status, pid, _ in rows if status != "pending"}
        running = [(index, pid) for index, status, pid, _ in rows if status == "running"]
        pending = sum(status == "pending" for _, status, _, _ in rows)
        if started >= set(pids) and running and pending >= 2:
            return running[0]
        return None

    index, pid = lab.wait_for(victim, timeout=900, every=0.1, what="both workers holding chunks")
    lab.kill(pids[pid])  # SIGKILL to its process group: no clean-up, no acknowledgement
    [survivor] = [w for w in workers if w.pid != pid]
    wait_until_done(lab)
    lab.kill(survivor)

    rows = chunks(lab)
    assert {status for _, status, _, _ in rows} == {"succeeded"}
    taken_over = next(row for row in rows if row[0] == index)
    assert taken_over[2] == survivor.pid and taken_over[3] == 2  # claimed twice: the dead worker, then the survivor
    [(count, distinct)] = lab.sql("SELECT count(*), count(DISTINCT pair_id) FROM pipeline_ailabel")
    assert count == distinct == PAIRS  # none lost, none twice
    [(progress, total)] = lab.sql(f"SELECT progress_done, progress_total FROM pipeline_pipelinestage WHERE name = '{LABELING}'")
    assert progress == total == PAIRS
