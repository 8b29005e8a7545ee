"""What the arms tests check after a pipeline run through a real worker: every policy it trained,
with which algorithm, sampled on every test prompt and rated in the evaluation round."""

from __future__ import annotations

import json
import re

from tests.orchestration.conftest import TINY, overrides_args


def run_through_worker(lab, slug: str, *arms: str, algorithm: str = "reinforce", extra: dict | None = None,
                       options: tuple[str, ...] = ()) -> dict:
    """``run_experiment SLUG --arms ... --algorithm A --wait --json [options]`` at the TINY sizes; its JSON summary."""
    done = lab.manage("run_experiment", slug, "--arms", *arms, "--algorithm", algorithm, *options, "--wait", "--json",
                      "--timeout", "900", *overrides_args({**TINY, **(extra or {})}), timeout=1000)
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["status"] == "succeeded", done.stdout + done.stderr[-3000:]
    return summary


def evaluated(lab, run_id: int) -> dict:
    """Per arm sampled by the run: its training run's algorithm and status (and the algorithm the
    report's run table shows), its samples and its entries in the run's evaluation round.

    A policy's samples go by the name its sampling run gave them ("rlhf", or "rlhf-runN" when an
    earlier run's samples already have the arm's name)."""
    return lab.query(
        "from webapp.pipeline.models import PipelineRun\n"
        "from webapp.experiments.models import PolicyResponse, Prompt\n"
        "from webapp.rating.models import Entry\n"
        "from webapp.reports.run_selectors import training_report\n"
        f"run = PipelineRun.objects.get(pk={run_id})\n"
        "stages = {s.name: s for s in run.stages.select_related('training_run', 'sampling_run', 'round')}\n"
        "round = stages['evaluation-round'].round\n"
        "named = {s.config['policy']: s.sampling_run.policy for s in stages.values() if s.kind == 'sampling'}\n"
        "from pipeline.arms import iteration_policy\n"
        "trained = {iteration_policy(s.config['arm'], s.config.get('iteration', 1)): s.training_run\n"
        "           for s in stages.values() if s.kind == 'policy'}\n"
        "reported = {r['run_id']: r['algorithm'] for r in training_report(run.experiment)['runs']}\n"
        "result = {\n"
        " 'algorithm': run.algorithm, 'sampled': list(named),\n"
        " 'round_policies': [p for p in round.policies if p != 'reference'], 'named': list(named.values()),\n"
        " 'test_prompts': Prompt.objects.filter(experiment=run.experiment, split='test').count(),\n"
        " 'policies': {arm: {\n"
        "   'samples': PolicyResponse.objects.filter(prompt__experiment=run.experiment, policy=name).count(),\n"
        "   'entries': Entry.objects.filter(item__round=round, policy=name).count(),\n"
        "   'algorithm': trained[arm].algorithm if arm in trained else None,\n"
        "   'reported': reported.get(trained[arm].pk) if arm in trained else None,\n"
        "   'status': trained[arm].status if arm in trained else None,\n"
        "   'steps': trained[arm].progress_done if arm in trained else None,\n"
        " } for arm, name in named.items()},\n"
        "}\n"
    )


def assert_every_policy_trained_sampled_and_rated(facts: dict, arms: list[str], algorithm: str) -> None:
    from pipeline.arms import ARMS

    assert facts["algorithm"] == algorithm
    assert facts["sampled"] == ["sft", *[a for a in arms if a != "sft"]], facts
    assert facts["round_policies"] == facts["named"], facts  # every policy's samples are in the round
    for arm in arms:
        policy = facts["policies"][arm]
        assert policy["samples"] == facts["test_prompts"], (arm, policy)
        assert policy["entries"] >= 1, (arm, policy)  # it entered the evaluation round
        if arm != "sft":
            expected = "dpo" if ARMS[re.sub(r"-it\d+$", "", arm)].method == "dpo" else algorithm  # rlaif-it2 is rlaif
            assert policy["status"] == "succeeded" and policy["steps"] >= 1, (arm, policy)
            assert policy["algorithm"] == policy["reported"] == expected, (arm, policy)
