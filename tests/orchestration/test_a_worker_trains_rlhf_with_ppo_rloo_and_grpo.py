"""`run_experiment --algorithm ppo|rloo|grpo` trains the rlhf arm with that algorithm through a real
worker: one run per algorithm on one experiment (one lab for the module, so the runs after the first
reuse its reward model and SFT samples and each test stays one policy's training), each recorded with
the run's algorithm on the run, the policy's training run and the report's run table, sampled and in
that run's evaluation round."""

import pytest

from tests.orchestration.evaluated import assert_every_policy_trained_sampled_and_rated, evaluated, run_through_worker
from tests.orchestration.lab import Lab

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def shared_lab(tmp_path_factory, artifact_root):
    """One migrated lab with the tiny experiment and a worker, for the three algorithms' runs."""
    lab = Lab(tmp_path_factory.mktemp("algorithms") / "lab", artifact_root.resolve())
    try:
        lab.manage("migrate", "--noinput", "-v", "0")
        lab.import_tiny(train=4, test=2)
        lab.start_worker()
        yield lab
    finally:
        lab.close()


@pytest.mark.parametrize("algorithm", ["ppo", "rloo", "grpo"])
def test_the_algorithm_trains_its_own_rlhf_policy(shared_lab, algorithm):
    summary = run_through_worker(shared_lab, "tiny", "rlhf", algorithm=algorithm)
    assert summary["algorithm"] == algorithm
    assert summary["stages"]["policy-rlhf"] == "succeeded", summary  # trained by this run, never another algorithm's
    assert summary["stages"]["reward-human"] in ("succeeded", "reused"), summary
    assert_every_policy_trained_sampled_and_rated(evaluated(shared_lab, summary["run_id"]), ["sft", "rlhf"], algorithm)
