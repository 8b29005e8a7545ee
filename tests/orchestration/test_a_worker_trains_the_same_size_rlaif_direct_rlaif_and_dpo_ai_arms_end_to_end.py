"""A real worker trains `same-size-rlaif` (distilled RLAIF, labels from a labeler of the policy's
size), `direct-rlaif` (RL on the labeler's 1-10 score, no reward model) and `dpo-ai` (soft-label
DPO on the AI labels) in one pipeline run on the bundled model, sharing one AI labeling; each
policy is sampled on every test prompt and enters the evaluation round."""

import pytest

from tests.orchestration.evaluated import assert_every_policy_trained_sampled_and_rated, evaluated, run_through_worker

pytestmark = pytest.mark.slow

ARMS = ["same-size-rlaif", "direct-rlaif", "dpo-ai"]


def test_the_three_arms_are_trained_sampled_and_rated(lab):
    lab.import_tiny(train=4, test=2)
    lab.start_worker()
    summary = run_through_worker(lab, "tiny", *ARMS)
    assert {"policy-same-size-rlaif", "policy-direct-rlaif", "policy-dpo-ai", "samples-direct-rlaif"} <= set(summary["stages"])
    assert "reward-ai" in summary["stages"] or "reward-ai-policy-size" in summary["stages"], summary
    assert_every_policy_trained_sampled_and_rated(evaluated(lab, summary["run_id"]), ["sft", *ARMS], "reinforce")
