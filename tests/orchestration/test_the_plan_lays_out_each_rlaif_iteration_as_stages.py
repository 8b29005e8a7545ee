"""Iterative RLAIF in the plan: K = 1 is today's RLAIF exactly; each further iteration is a
self-pairs stage on the previous policy, a labeling stage of those pairs, a reward model on all
AI labels so far (or the newest only), a policy from the previous one and its samples, and every
iteration's policy is in the evaluation round under its own name."""

from __future__ import annotations

import pytest

from pipeline.plan import plan_pipeline


def planned(**knobs) -> dict:
    return {s.name: s for s in plan_pipeline(arms=["sft", "rlhf", "rlaif"], has_references=False, train_pairs=6,
                                             test_prompts=3, train_prompts=5, **knobs)}


def test_one_iteration_is_the_plan_without_iterations():
    assert [(s.name, s.depends_on, s.config) for s in planned(iterations=1).values()] == \
        [(s.name, s.depends_on, s.config) for s in planned().values()]
    assert not any(s.kind == "self-pairs" for s in planned().values())


def test_each_iteration_samples_labels_and_trains_from_the_previous_policy():
    stages = planned(iterations=3)
    for k, previous in ((2, "policy-rlaif"), (3, "policy-rlaif-it2")):
        pairs, labels = stages[f"self-pairs-rlaif-it{k}"], stages[f"ai-labels-rlaif-it{k}"]
        reward, policy = stages[f"reward-ai-rlaif-it{k}"], stages[f"policy-rlaif-it{k}"]
        assert pairs.kind == "self-pairs" and pairs.depends_on == [previous] and pairs.loads == ("policy",)
        assert pairs.expected_total == 5  # one pair per training prompt
        assert labels.kind == "labeling" and labels.depends_on == [pairs.name] and labels.config["pairs_from"] == pairs.name
        assert labels.expected_total == 5 and labels.loads == ("labeler",)
        assert policy.depends_on == [previous, reward.name] and policy.config["arm"] == "rlaif"
        assert stages[f"samples-rlaif-it{k}"].config["policy"] == f"rlaif-it{k}"
    assert stages["reward-ai-rlaif-it2"].config["label_stages"] == ["ai-labels", "ai-labels-rlaif-it2"]
    assert stages["reward-ai-rlaif-it3"].config["label_stages"] == ["ai-labels", "ai-labels-rlaif-it2", "ai-labels-rlaif-it3"]
    assert stages["evaluation-round"].config["policies"] == ["sft", "rlhf", "rlaif", "rlaif-it2", "rlaif-it3"]
    assert "policy-rlhf-it2" not in stages  # only the rlaif arms iterate
    order = list(stages)
    assert all(order.index(d) < order.index(name) for name, s in stages.items() for d in s.depends_on)


def test_newest_labels_train_each_reward_model_on_its_own_iterations_labels_only():
    stages = planned(iterations=3, iteration_labels="newest")
    assert stages["reward-ai-rlaif-it3"].config["label_stages"] == ["ai-labels-rlaif-it3"]
    assert stages["reward-ai-rlaif-it3"].depends_on == ["prepare-models", "ai-labels-rlaif-it3"]


def test_same_size_rlaif_iterates_with_its_own_labeler():
    stages = {s.name: s for s in plan_pipeline(arms=["same-size-rlaif"], has_references=False, iterations=2)}
    assert stages["ai-labels-same-size-rlaif-it2"].loads == ("policy",)
    assert stages["reward-ai-same-size-rlaif-it2"].config["label_stages"] == [
        "ai-labels-policy-size", "ai-labels-same-size-rlaif-it2"]


@pytest.mark.parametrize("iterations", [0, 6])
def test_a_count_out_of_range_is_refused(iterations):
    with pytest.raises(ValueError, match="iterations: .* out of range, choose 1 to 5"):
        planned(iterations=iterations)
