"""The summarization demo through a real worker: SFT on the reference summaries first, then the
`mixed` arm (RL on a reward model of human and AI labels) and `dpo-ai` (soft-label DPO on the AI
labels) start from it; every policy is sampled and enters the evaluation round beside the reference."""

import json

import pytest

from tests.orchestration.evaluated import assert_every_policy_trained_sampled_and_rated, evaluated, run_through_worker
from tests.orchestration.lab import tiny_rows
from webapp.experiments import services

pytestmark = pytest.mark.slow

ARMS = ["mixed", "dpo-ai"]


def test_sft_first_then_both_arms_are_trained_sampled_and_rated(lab):
    path = lab.folder / "posts.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in tiny_rows(services.DEMO_DIR / "posts.jsonl", train=4, test=2)) + "\n")
    lab.manage("import_preferences", str(path), "--experiment", "posts", "--format", "jsonl", "--task", "summarization")
    lab.start_worker()
    # DPO's max_length fits a post: TRL drops every pair whose prompt alone fills it (TINY's 160 would drop them all).
    summary = run_through_worker(lab, "posts", *ARMS, extra={"sft": {"max_steps": 1, "batch_size": 2}, "dpo": {"max_steps": 1, "batch_size": 2, "max_length": 1024}})
    assert summary["stages"]["sft"] == "succeeded" and {"policy-mixed", "policy-dpo-ai", "reward-mixed-0.5"} <= set(summary["stages"])
    facts = evaluated(lab, summary["run_id"])
    assert_every_policy_trained_sampled_and_rated(facts, ["sft", *ARMS], "reinforce")
    parents = lab.query(
        "from webapp.pipeline.models import PipelineRun\n"
        f"stages = {{s.name: s for s in PipelineRun.objects.get(pk={summary['run_id']}).stages.all()}}\n"
        "result = [stages[n].training_run.parent_id == stages['sft'].training_run_id for n in ('policy-mixed', 'policy-dpo-ai')]\n"
    )
    assert parents == [True, True]  # both arms start from the SFT policy trained on the references
