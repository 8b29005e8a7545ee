"""A real `celery -A webapp worker` process runs a whole experiment on the bundled model: AI labels,
a reward model on them, an RL policy, samples of SFT and the policy, and an open evaluation round.

Runs on the embedded lab (SQLite file + filesystem broker) in `make test`, and on PostgreSQL +
Redis when TEST_DATABASE_URL / TEST_CELERY_BROKER_URL are set (CI does both)."""

import json

import pytest

from tests.orchestration.conftest import TINY, overrides_args

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_the_worker_takes_every_stage_from_its_queue_and_the_round_opens(lab):
    lab.import_tiny(train=4, test=2)
    worker = lab.start_worker()
    done = lab.manage("run_experiment", "tiny", "--arms", "sft", "rlaif", "--wait", "--json", "--timeout", "1200",
                      *overrides_args(TINY), timeout=1300)
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["status"] == "succeeded", done.stdout
    assert summary["stages"] == {name: "succeeded" for name in (
        "prepare-models", "ai-labels", "reward-ai", "policy-rlaif", "samples-sft", "samples-rlaif", "evaluation-round")}
    assert summary["wall_seconds"] > 0
    assert "samples-rlaif" in done.stderr  # the progress bars

    facts = lab.query(
        "from webapp.pipeline.models import *\n"
        "from webapp.experiments.models import PolicyResponse\n"
        f"run = PipelineRun.objects.get(pk={summary['run_id']})\n"
        "stages = {s.name: s for s in run.stages.all()}\n"
        "reward, policy = stages['reward-ai'].training_run, stages['policy-rlaif'].training_run\n"
        "from django.db import connection\n"
        "result = {\n"
        " 'database': connection.vendor,\n"
        " 'labels': AILabel.objects.filter(run=stages['ai-labels'].labeling_run).count(),\n"
        " 'reward_source': reward.label_source, 'ai_run': stages['ai-labels'].labeling_run_id,\n"
        " 'policy_reward': policy.reward_run_id, 'reward_id': reward.pk,\n"
        " 'responses': sorted(PolicyResponse.objects.values_list('policy', flat=True)),\n"
        " 'round': [stages['evaluation-round'].round.policies, stages['evaluation-round'].round.is_open, stages['evaluation-round'].round.items.count()],\n"
        " 'attempts': sorted({s.attempts for s in stages.values()}),\n"
        " 'workers': sorted({s.claimed_by.split(':')[1] for s in stages.values()}),\n"
        " 'queues': {s.name: s.queue for s in stages.values()},\n"
        "}\n"
    )
    assert facts["database"] == ("postgresql" if "postgres" in lab.database_url else "sqlite")
    assert ("Connected to redis://" in worker.log_path.read_text()) == lab.broker_url.startswith("redis")
    assert facts["labels"] == 4
    assert facts["reward_source"] == f"ai:{facts['ai_run']}" and facts["policy_reward"] == facts["reward_id"]
    assert facts["responses"] == ["rlaif"] * 2 + ["sft"] * 2
    assert facts["round"] == [["sft", "rlaif"], True, 2]
    assert facts["attempts"] == [1] and facts["workers"] == [str(worker.pid)]  # one worker process did it all, once each
    assert facts["queues"]["ai-labels"] == facts["queues"]["policy-rlaif"] == "gpu" and facts["queues"]["evaluation-round"] == "default"
    log = worker.log_path.read_text()
    # One stage task for every kind; each stage went to the queue stored on it, and this worker takes both.
    finished = [line for line in log.splitlines() if "Task pipeline.stage[" in line and " succeeded in " in line]
    assert len(finished) >= len(summary["stages"]), log
