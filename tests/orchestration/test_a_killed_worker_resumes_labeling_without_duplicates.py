"""A worker SIGKILLed in the middle of labeling leaves the stage resumable: the next worker takes
over the dead claim, continues after the last saved chunk, and the run ends with exactly one
AI label per pair. (The filesystem broker's message died with the worker; Redis would hand it
back only after its visibility timeout: either way the new worker's recovery sends it again.)"""

import json

import pytest

from tests.orchestration.conftest import TINY, overrides_args

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PAIRS = 8


def test_sigkill_during_labeling_then_a_new_worker_finishes_with_one_label_per_pair(lab):
    lab.import_tiny(train=PAIRS, test=2)
    first = lab.start_worker("first-worker")
    # Chunks of one pair: a kill lands between saved chunks, the case to prove.
    lab.manage("run_experiment", "tiny", "--arms", "dpo-ai", *overrides_args(TINY), "--set", "labeling.chunk_size=1")

    def labelled():
        return lab.sql("SELECT count(*) FROM pipeline_ailabel")[0][0]

    saved = lab.wait_for(lambda: labelled() >= 2 and labelled(), timeout=600, every=0.2, what="the first saved chunk")
    lab.kill(first)  # SIGKILL to its whole process group: no clean-up, no acknowledgement
    assert saved < PAIRS, "labeling finished before the kill: make the chunks smaller"
    [(status, claimed_by, done)] = lab.sql("SELECT status, claimed_by, progress_done FROM pipeline_pipelinestage WHERE name = 'ai-labels'")
    assert status == "running" and claimed_by.split(":")[1] == str(first.pid)
    kept = labelled()

    second = lab.start_worker("second-worker")
    done = lab.manage("run_experiment", "tiny", "--if-none", "--wait", "--json", "--timeout", "1200", timeout=1300)
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["status"] == "succeeded", done.stdout + done.stderr
    assert set(summary["stages"].values()) == {"succeeded"}

    [(labels, pairs, distinct)] = lab.sql(
        "SELECT count(*), (SELECT count(*) FROM experiments_preferencepair p JOIN experiments_prompt q ON p.prompt_id = q.id"
        " WHERE q.split = 'train'), count(DISTINCT pair_id) FROM pipeline_ailabel")
    assert labels == pairs == distinct == PAIRS  # none lost, none twice
    [(attempts, log, claimed_by)] = lab.sql("SELECT attempts, log, claimed_by FROM pipeline_pipelinestage WHERE name = 'ai-labels'")
    assert attempts == 2 and claimed_by.split(":")[1] == str(second.pid)
    assert f":{first.pid}:" in log and "had died" in log
    assert f"{kept}/{PAIRS} pairs" in log  # the second attempt started from what was saved
    [(runs, label_attempts)] = lab.sql("SELECT count(*), max(attempts) FROM pipeline_labelingrun")
    assert runs == 1 and label_attempts == 2
    [(responses, distinct_responses)] = lab.sql(
        "SELECT count(*), count(DISTINCT prompt_id || ':' || policy) FROM experiments_policyresponse")
    assert responses == distinct_responses == 4  # sft and dpo-ai on 2 test prompts
