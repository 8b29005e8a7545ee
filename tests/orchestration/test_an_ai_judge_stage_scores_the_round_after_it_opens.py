"""``run_experiment --ai-judge`` plans one more stage after the evaluation round: the AI judge
(the labeler model) scores every pair of the round's items, and the report's AI-assisted table
reads those scores. Without the flag no such stage is planned."""

import json

import pytest
from django.core.management import call_command

from pipeline.plan import plan_pipeline
from tests.orchestration.conftest import TINY, overrides_args
from tests.orchestration.lab import import_tiny_demo
from webapp.pipeline.models import PipelineStage, StageChunk
from webapp.rating.models import AiJudgement, Round
from webapp.reports.selectors import judge_scores


def test_the_judge_stage_is_planned_only_when_asked_and_after_the_round():
    without = plan_pipeline(arms=["rlaif"], has_references=False)
    assert "judge" not in {s.kind for s in without}
    stages = plan_pipeline(arms=["rlaif"], has_references=False, ai_judge=True, overrides={"judge": {"limit": 5}})
    judge = stages[-1]
    assert (judge.name, judge.kind, judge.depends_on, judge.loads) == ("ai-judge", "judge", ["evaluation-round"], ("labeler",))
    assert judge.config["config"]["limit"] == 5
    with pytest.raises(ValueError, match="unknown judge settings: temperature"):
        plan_pipeline(arms=["rlaif"], has_references=False, ai_judge=True, overrides={"judge": {"temperature": 1.0}})


@pytest.mark.django_db(transaction=True)
@pytest.mark.slow
def test_a_pipeline_with_the_ai_judge_scores_every_pair_of_its_round(tmp_path, bundled_lm, capsys):
    experiment = import_tiny_demo("tiny-judged", tmp_path, train=4, test=3)

    call_command("run_experiment", "tiny-judged", "--arms", "rlaif", "--ai-judge", "--wait", "--in-process", "--json",
                 *overrides_args(TINY), verbosity=0)
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["status"] == "succeeded" and summary["stages"]["ai-judge"] == "succeeded", summary

    round = Round.objects.get(experiment=experiment)
    judged = AiJudgement.objects.filter(round=round)
    assert round.items.filter(is_gold=False).count() == 3 == judged.count()  # 3 items, one pair (rlaif, sft) each
    assert set(judged.values_list("policy_a", "policy_b")) == {("rlaif", "sft")}
    assert set(judged.values_list("judge_spec", flat=True)) == {experiment.labeler_model}
    assert len(judge_scores(experiment)) == 3
    # The judge fans out like labeling: its round's items in fixed chunks (here one), each pair scored once.
    stage = PipelineStage.objects.get(name="ai-judge")
    assert list(StageChunk.objects.filter(stage=stage).values_list("start", "stop", "status")) == [(0, 3, "succeeded")]
    assert stage.metrics["judge/scored"] == 3 and stage.metrics["workers"] == 1 and stage.progress_done == stage.progress_total == 3
