"""The training commands run the real stages on the demo experiment and record every run."""

import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from webapp.experiments import services
from webapp.experiments.models import PolicyResponse, Prompt
from webapp.pipeline.models import SamplingRun, TrainingMetric, TrainingRun

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.fixture
def demo(db, bundled_lm):
    services.demo_load()


def test_a_reward_model_then_an_rlhf_policy_then_its_samples(demo, capsys):
    call_command("train_reward", "--experiment", "demo", "--labels", "human", "--max-steps", "2",
                 "--batch-size", "4", "--micro-batch-size", "2", "--max-length", "192", "--json", verbosity=0)
    reward = last_json(capsys)
    rm = TrainingRun.objects.get(pk=reward["run_id"])
    assert rm.status == "succeeded" and rm.kind == "reward" and rm.label_source == "human"
    assert rm.config["micro_batch_size"] == 2
    assert 0 <= reward["reward/accuracy"] <= 1 and len(reward["reward/accuracy_ci"]) == 2
    assert reward["reward/accuracy_n"] == 16
    assert Path(rm.checkpoint_path).exists() and rm.step == 2
    assert TrainingMetric.objects.filter(run=rm).count() >= 1
    assert "loss/train" in TrainingMetric.objects.filter(run=rm).last().values

    call_command("train_policy", "--experiment", "demo", "--arm", "rlhf", "--steps", "2", "--batch-size", "2",
                 "--max-new-tokens", "8", "--json", verbosity=0)
    policy = TrainingRun.objects.get(pk=last_json(capsys)["run_id"])
    assert policy.status == "succeeded" and policy.reward_run == rm and policy.algorithm == "reinforce"
    curves = TrainingMetric.objects.filter(run=policy).order_by("step")
    assert curves.count() == 2 and {"rl/reward", "rl/kl", "rl/value_loss", "rl/response_length"} <= set(curves.last().values)

    call_command("sample", "--experiment", "demo", "--policy", "rlhf", "--max-new-tokens", "8", verbosity=0)
    sampling = SamplingRun.objects.get()
    assert sampling.status == "succeeded" and sampling.training_run == policy
    responses = PolicyResponse.objects.filter(policy="rlhf")
    assert responses.count() == Prompt.objects.filter(experiment__slug="demo", split="test").count()
    assert all(r.token_count is not None and r.token_count <= 8 for r in responses)
    # The report's length, in the experiment's one tokenizer, is stored as the samples are.
    assert all(r.length_tokens is not None and r.length_tokenizer == "smollm2-135m-instruct" for r in responses)


def test_an_rlhf_policy_trains_with_our_ppo_from_the_command(demo, capsys):
    call_command("train_reward", "--experiment", "demo", "--labels", "human", "--max-steps", "1",
                 "--batch-size", "2", "--max-length", "128", "--json", verbosity=0)
    rm = TrainingRun.objects.get(pk=last_json(capsys)["run_id"])
    call_command("train_policy", "--experiment", "demo", "--arm", "rlhf", "--algorithm", "ppo", "--steps", "1",
                 "--batch-size", "2", "--max-new-tokens", "4", "--json", verbosity=0)
    policy = TrainingRun.objects.get(pk=last_json(capsys)["run_id"])
    assert policy.status == "succeeded" and policy.reward_run == rm and policy.algorithm == "ppo"
    assert {"rl/clipfrac", "rl/approx_kl", "rl/kl"} <= set(TrainingMetric.objects.get(run=policy).values)


def test_dpo_on_human_labels_runs_as_an_arm(demo, capsys):
    call_command("train_policy", "--experiment", "demo", "--arm", "dpo-human", "--steps", "2", "--batch-size", "2", "--json", verbosity=0)
    run = TrainingRun.objects.get(pk=last_json(capsys)["run_id"])
    assert run.status == "succeeded" and run.algorithm == "dpo" and Path(run.checkpoint_path).exists()


def test_an_arm_that_needs_a_reward_model_says_so_when_there_is_none(demo):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="needs a finished reward model on human labels"):
        call_command("train_policy", "--experiment", "demo", "--arm", "rlhf", verbosity=0)


@pytest.mark.parametrize("command", ["train_reward", "rm_curve"])
def test_a_micro_batch_below_one_pair_is_refused_before_any_run(demo, command):
    extra = ["--sizes", "4", "8"] if command == "rm_curve" else []
    with pytest.raises(CommandError, match="--micro-batch-size: '0' is not a number of pairs >= 1"):
        call_command(command, "--experiment", "demo", "--micro-batch-size", "0", *extra, verbosity=0)
    assert not TrainingRun.objects.exists()
