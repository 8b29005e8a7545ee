"""Two real worker processes share one sampling stage: both take chunks, each prompt gets exactly
one response under the policy's name, and the responses are those one process gives the same
prompts in one batch (the chunks are fixed slices and each response is seeded by its prompt)."""

import pytest

from tests.orchestration.chunks import (
    SAMPLING,
    chunks,
    one_process_samples,
    samples,
    stage_metrics,
    start_shared_sampling,
    wait_until_done,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PROMPTS = 6


def test_two_workers_sample_one_stage_together_with_one_response_per_prompt(lab):
    workers = start_shared_sampling(lab, PROMPTS, max_new_tokens=8)
    wait_until_done(lab, SAMPLING)
    for worker in workers:  # the rest of the pipeline is not this test's business
        lab.kill(worker)

    done = chunks(lab, SAMPLING)
    assert len(done) == PROMPTS and {status for _, status, _, _ in done} == {"succeeded"}
    assert {pid for _, _, pid, _ in done} == {w.pid for w in workers}  # both took part
    [(count, distinct)] = lab.sql("SELECT count(*), count(DISTINCT prompt_id) FROM experiments_policyresponse WHERE policy = 'sft'")
    assert count == distinct == PROMPTS
    metrics = stage_metrics(lab, SAMPLING)
    assert metrics["workers"] == 2 and metrics["responses"] == PROMPTS
    [(progress, total, run_status)] = lab.sql(
        "SELECT s.progress_done, s.progress_total, r.status FROM pipeline_pipelinestage s"
        f" JOIN pipeline_samplingrun r ON r.id = s.sampling_run_id WHERE s.name = '{SAMPLING}'")
    assert progress == total == PROMPTS and run_status == "succeeded"

    shared, alone = samples(lab), one_process_samples(lab)
    assert shared == alone
