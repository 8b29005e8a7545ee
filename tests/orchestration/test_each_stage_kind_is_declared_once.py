"""A stage kind is declared once, in ``pipeline.kinds``: the model's choices, the size configs,
the overrides and the queues derive from it, and the web app has an executor for every kind."""

import pytest

from pipeline import kinds
from pipeline.plan import KIND_ORDER, SIZE_CONFIGS, plan_pipeline
from webapp.pipeline.models import PipelineStage, StageKind
from webapp.pipeline.services.stages import EXECUTORS


def test_the_web_app_knows_exactly_the_kinds_of_the_table():
    names = [kind.name for kind in kinds.KINDS]
    assert [value for value, _ in StageKind.choices] == names == list(KIND_ORDER)
    assert dict(PipelineStage._meta.get_field("kind").choices) == {k.name: k.label for k in kinds.KINDS}
    assert set(EXECUTORS) == set(names), "every kind needs its executor in services/stages.py"


def test_every_kind_names_a_known_queue_role_count_and_config():
    for kind in kinds.KINDS:
        assert kind.queue in kinds.QUEUES and kind.counts in kinds.COUNTS
        assert set(kind.loads) <= set(kinds.ROLES)
    for size, configs in SIZE_CONFIGS.items():
        assert set(configs) == set(kinds.config_keys()), size


def test_config_keys_accept_their_dataclass_fields_and_extras_only():
    assert set(kinds.CONFIG_CLASSES) | set(kinds.EXTRA_FIELDS) == set(kinds.config_keys())
    assert {"max_steps", "batch_size"} <= kinds.known_fields("sft")
    assert kinds.known_fields("round") == {"overlap", "gold_share", "with_reference"}
    assert {"chunk_size", "limit", "batch_size"} <= kinds.known_fields("labeling")
    with pytest.raises(ValueError, match="unknown rl settings: stepz"):
        plan_pipeline(arms=["rlhf"], has_references=False, overrides={"rl": {"stepz": 1}})


def test_the_plan_says_which_models_each_stage_loads_and_what_its_progress_counts():
    specs = {s.name: s for s in plan_pipeline(
        arms=["rlaif", "direct-rlaif", "same-size-rlaif"], has_references=False, train_pairs=9, test_prompts=4,
        overrides={"labeling": {"limit": 5}})}
    assert specs["prepare-models"].loads == ("policy", "labeler", "reward")
    assert specs["ai-labels"].loads == ("labeler",) and specs["ai-labels-policy-size"].loads == ("policy",)
    assert specs["ai-labels"].expected_total == 5  # the limit, not all 9 pairs
    assert specs["reward-ai"].loads == ("reward",) and specs["reward-ai"].expected_total == 4
    assert specs["policy-direct-rlaif"].scored_by == "labeler" and specs["policy-rlaif"].scored_by is None
    assert specs["samples-sft"].expected_total == 4 and specs["evaluation-round"].loads == ()
    assert specs["evaluation-round"].expected_total == 1
    assert {s.queue for s in specs.values() if s.kind in ("prepare", "round")} == {"default"}
