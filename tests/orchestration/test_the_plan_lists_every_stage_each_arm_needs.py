"""The pipeline's graph comes from the arms: each stage once, dependencies first, GPU work on the gpu queue."""

import pytest

from pipeline.plan import SIZE_CONFIGS, plan_pipeline


def names(specs):
    return [s.name for s in specs]


def test_the_headline_arms_label_once_train_two_reward_models_and_sample_every_policy_for_one_round():
    specs = plan_pipeline(arms=["sft", "rlhf", "rlaif"], has_references=False, size="demo")
    assert names(specs) == ["prepare-models", "ai-labels", "reward-human", "reward-ai", "policy-rlhf", "policy-rlaif",
                            "samples-sft", "samples-rlhf", "samples-rlaif", "evaluation-round"]
    by_name = {s.name: s for s in specs}
    assert by_name["reward-ai"].depends_on == ["prepare-models", "ai-labels"]
    assert by_name["policy-rlaif"].depends_on == ["prepare-models", "reward-ai"]
    assert by_name["samples-sft"].depends_on == ["prepare-models"]  # no references: the base model is the SFT policy
    assert by_name["evaluation-round"].depends_on == ["samples-sft", "samples-rlhf", "samples-rlaif"]
    assert by_name["evaluation-round"].config["policies"] == ["sft", "rlhf", "rlaif"]
    assert {s.name: s.queue for s in specs if s.queue == "default"} == {"prepare-models": "default", "evaluation-round": "default"}
    seen = set()
    for spec in specs:  # every dependency comes before its dependant
        assert set(spec.depends_on) <= seen
        seen.add(spec.name)


def test_references_add_an_sft_stage_that_every_policy_and_the_sft_samples_start_from():
    specs = {s.name: s for s in plan_pipeline(arms=["dpo-human", "direct-rlaif"], has_references=True, size="demo")}
    assert specs["sft"].depends_on == ["prepare-models"]
    assert specs["policy-dpo-human"].depends_on == ["sft"]
    assert specs["policy-direct-rlaif"].depends_on == ["sft"]
    assert specs["samples-sft"].depends_on == ["sft"]
    # Its config sits under "config" like every training stage's: the stage reads it there.
    assert specs["sft"].config == {"config": {"max_steps": 4, "batch_size": 4, "max_length": 256}}
    assert specs["sft"].expected_total == 4
    assert "ai-labels" not in specs and not any(n.startswith("reward") for n in specs)  # neither arm needs them


def test_shared_needs_are_one_stage_and_the_same_size_labeler_is_another():
    specs = names(plan_pipeline(arms=["rlaif", "dpo-ai", "mixed", "same-size-rlaif"], has_references=False))
    assert specs.count("ai-labels") == 1
    assert {"reward-ai", "reward-mixed-0.5", "ai-labels-policy-size", "reward-ai-policy-size"} <= set(specs)
    assert "samples-sft" in specs  # always: every arm is compared with SFT


def test_sizes_and_overrides_set_the_configs_and_bad_input_is_refused():
    demo = {s.name: s for s in plan_pipeline(arms=["rlhf"], has_references=False, size="demo", overrides={"rl": {"steps": 2}})}
    full = {s.name: s for s in plan_pipeline(arms=["rlhf"], has_references=False, size="full")}
    assert demo["policy-rlhf"].config["config"]["steps"] == 2
    assert demo["policy-rlhf"].config["config"]["batch_size"] == SIZE_CONFIGS["demo"]["rl"]["batch_size"]
    assert full["policy-rlhf"].config["config"]["steps"] == SIZE_CONFIGS["full"]["rl"]["steps"] > 2
    with pytest.raises(ValueError, match="unknown arm"):
        plan_pipeline(arms=["rlhf", "best-arm"], has_references=False)
    with pytest.raises(ValueError, match="unknown size"):
        plan_pipeline(arms=["rlhf"], has_references=False, size="huge")
    with pytest.raises(ValueError, match="unknown override kinds: policy"):
        plan_pipeline(arms=["rlhf"], has_references=False, overrides={"policy": {"steps": 1}})
