"""``plan_pipeline(reward_curve=True)`` adds the paper's Figure 5: one ``reward-curve`` stage per
label source, on the gpu queue, counting its reward models; the AI one waits for the run's own AI
labels (planned for it when no arm asked for them). Without the switch there is no such stage."""

import pytest

from pipeline.curve_settings import CurveSettingError
from pipeline.plan import SIZE_CONFIGS, plan_pipeline


def test_no_curve_stage_unless_asked():
    assert "reward-curve" not in {s.kind for s in plan_pipeline(arms=["rlhf", "rlaif"], has_references=False)}


def test_the_curve_stages_come_after_labeling_with_their_sizes_and_the_reward_settings():
    specs = plan_pipeline(arms=["rlaif"], has_references=False, train_pairs=40, reward_curve=True,
                          overrides={"curve": {"sizes": [8, 16]}, "reward": {"max_steps": 1}})
    names = [s.name for s in specs]
    by_name = {s.name: s for s in specs}
    human, ai = by_name["reward-curve-human"], by_name["reward-curve-ai"]
    assert (human.kind, human.queue, human.loads) == ("reward-curve", "gpu", ("reward",))
    assert ai.depends_on == ["prepare-models", "ai-labels"] and human.depends_on == ["prepare-models"]
    assert names.index("ai-labels") < names.index("reward-curve-human") < names.index("reward-curve-ai")
    assert names.count("ai-labels") == 1  # the arm's labels are the curve's
    for spec in (human, ai):
        assert spec.config["sizes"] == [8, 16] and spec.config["config"]["max_steps"] == 1
        assert spec.expected_total == 2  # one reward model per size


def test_an_arm_without_ai_labels_still_gets_them_for_the_ai_curve():
    specs = {s.name: s for s in plan_pipeline(arms=["sft"], has_references=False, train_pairs=40, reward_curve=True)}
    assert specs["ai-labels"].kind == "labeling" and "ai-labels" in specs["reward-curve-ai"].depends_on
    # left to the size's default, the sizes stop at the experiment's training pairs
    assert specs["reward-curve-ai"].config["sizes"] == [n for n in SIZE_CONFIGS["demo"]["curve"]["sizes"] if n <= 40]


def test_a_human_only_curve_plans_no_labeling():
    specs = plan_pipeline(arms=["sft"], has_references=False, reward_curve=True, overrides={"curve": {"labels": ["human"]}})
    assert {s.kind for s in specs} == {"prepare", "reward-curve", "sampling", "round"}


def test_sizes_beyond_the_training_pairs_are_refused_by_the_planner():
    with pytest.raises(CurveSettingError, match="64 is more than the experiment's 40 training pairs") as caught:
        plan_pipeline(arms=["sft"], has_references=False, train_pairs=40, reward_curve=True,
                      overrides={"curve": {"sizes": [8, 64]}})
    assert caught.value.setting == "sizes"
