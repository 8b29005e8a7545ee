"""Iterative RLAIF with K = 2 through a real worker on the bundled model: RLAIF policy 1 answers
every training prompt twice, those answers become new pairs (source: the policy and the stage,
no human choice), the labeler labels them, the second reward model trains on every AI label so
far (more than the first), and policy 2 trains from policy 1. Both iterations' policies are
sampled on every test prompt and rated in the evaluation round, as `rlaif` and `rlaif-it2`."""

import pytest

from tests.orchestration.evaluated import assert_every_policy_trained_sampled_and_rated, evaluated, run_through_worker

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ITERATION_STAGES = ["self-pairs-rlaif-it2", "ai-labels-rlaif-it2", "reward-ai-rlaif-it2", "policy-rlaif-it2", "samples-rlaif-it2"]


def test_two_iterations_are_trained_sampled_and_rated(lab):
    lab.import_tiny(train=4, test=2)
    lab.start_worker()
    summary = run_through_worker(lab, "tiny", "sft", "rlaif", options=("--iterations", "2"),
                                 extra={"self_pairs": {"max_new_tokens": 6}})
    assert summary["iterations"] == 2
    assert all(summary["stages"][name] == "succeeded" for name in ITERATION_STAGES), summary
    assert_every_policy_trained_sampled_and_rated(evaluated(lab, summary["run_id"]), ["sft", "rlaif", "rlaif-it2"], "reinforce")
    facts = lab.query(
        "from webapp.experiments.models import PreferencePair\n"
        "from webapp.pipeline.models import PipelineRun\n"
        f"stages = {{s.name: s for s in PipelineRun.objects.get(pk={summary['run_id']}).stages.all()}}\n"
        "made = stages['self-pairs-rlaif-it2'].metrics['source']\n"
        "pairs = PreferencePair.with_self.filter(source=made)\n"
        "result = {'source': made, 'pairs': pairs.count(), 'human': pairs.exclude(human_choice=None).count(),\n"
        " 'imported_unchanged': PreferencePair.objects.filter(source=made).count(),\n"
        " 'labelled': stages['ai-labels-rlaif-it2'].labeling_run.labels.count(),\n"
        " 'first_rm': stages['reward-ai'].training_run.metrics['train/pairs'],\n"
        " 'second_rm': stages['reward-ai-rlaif-it2'].training_run.metrics['train/pairs'],\n"
        " 'second_starts_from': stages['policy-rlaif-it2'].training_run.config['policy'],\n"
        " 'first_policy': stages['policy-rlaif'].training_run.checkpoint_path}\n"
    )
    assert facts["source"].startswith("self:rlaif@stage") and facts["pairs"] >= 1 and facts["human"] == 0, facts
    assert facts["imported_unchanged"] == 0  # the experiment's own pairs do not include them
    assert facts["labelled"] == facts["pairs"], facts
    assert facts["second_rm"] > facts["first_rm"], facts  # every AI label so far: the first run's and the new ones
    assert facts["second_starts_from"] == facts["first_policy"], facts
