"""Each arm of the paper is one method plus one label source, and says which runs it needs."""

import pytest

from pipeline.arms import ARMS, Stage, runs_for, runs_for_arms


def test_every_arm_of_the_paper_is_there():
    assert set(ARMS) == {"sft", "rlhf", "rlaif", "same-size-rlaif", "direct-rlaif", "dpo-ai", "dpo-human", "mixed"}


def test_rlhf_needs_a_human_label_rm_then_rl():
    assert runs_for("rlhf", has_references=False) == [
        Stage("reward", labels="human"),
        Stage("policy", labels="human", method="reinforce", reward="rm", arm="rlhf"),
    ]


def test_distilled_rlaif_needs_ai_labels_an_rm_and_rl_and_sft_when_there_are_references():
    kinds = [s.kind for s in runs_for("rlaif", has_references=True, algorithm="rloo")]
    assert kinds == ["sft", "labels", "reward", "policy"]
    assert runs_for("rlaif", has_references=True, algorithm="rloo")[-1].method == "rloo"


def test_direct_rlaif_needs_no_rm_and_dpo_needs_no_rl():
    assert [s.kind for s in runs_for("direct-rlaif", has_references=False)] == ["policy"]
    assert runs_for("direct-rlaif", has_references=False)[0].reward == "direct"
    assert runs_for("dpo-ai", has_references=False)[-1].method == "dpo"
    assert runs_for("sft", has_references=False) == []


def test_shared_runs_are_listed_once():
    stages = runs_for_arms(["rlaif", "dpo-ai", "mixed"], has_references=True, mixed_share=0.3)
    assert [s.kind for s in stages].count("sft") == 1
    assert [s.kind for s in stages].count("labels") == 1
    assert Stage("reward", labels="mixed:0.3", labeler="labeler") in stages


def test_an_unknown_arm_is_refused():
    with pytest.raises(ValueError, match="unknown arm"):
        runs_for("ppo", has_references=False)
