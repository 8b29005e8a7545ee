"""``rm_mix`` trains one real reward model per share of human labels (the rest AI labels) on the
same pairs, and the alignment dashboard shows accuracy against the share, as a table and a chart.
A share outside [0, 1], or an experiment without AI labels, is refused before anything trains."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from tests.orchestration.lab import import_tiny_demo
from webapp.pipeline.models import TrainingRun
from webapp.reports.pages import alignment_context
from webapp.reports.run_selectors import alignment_report

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

TINY = ["--max-steps", "2", "--batch-size", "4", "--max-length", "128"]


@pytest.fixture
def helpful(db, tmp_path):
    return import_tiny_demo("mixed", tmp_path, train=8, test=6)


def test_one_reward_model_per_share_and_the_dashboard_lines_them_up(helpful, bundled_lm):
    call_command("label", "--experiment", "mixed", "--split", "train", verbosity=0)
    call_command("rm_mix", "--experiment", "mixed", "--shares", "1", "0", "0.5", *TINY, verbosity=0)
    runs = list(TrainingRun.objects.filter(experiment=helpful, arm="rm-mix").order_by("id"))
    assert [r.label_source for r in runs] == ["mixed:0", "mixed:0.5", "mixed:1"]
    assert all(r.status == "succeeded" and r.metrics["train/pairs"] == 8 for r in runs)

    rows = alignment_report(helpful)["mixing"]
    assert [(r["share"], r["run_id"]) for r in rows] == [(0.0, runs[0].pk), (0.5, runs[1].pk), (1.0, runs[2].pk)]
    assert [r["accuracy"] for r in rows] == [r.metrics["reward/accuracy"] for r in runs]
    charts = [f.name for _, blocks in alignment_context(helpful)["sections"] for block in blocks for f in block.figures]
    assert "mixing" in charts


def test_bad_shares_and_missing_ai_labels_are_refused_before_training(helpful):
    with pytest.raises(CommandError, match="--shares: a share of human labels is a number from 0 to 1, not '1.5'"):
        call_command("rm_mix", "--experiment", "mixed", "--shares", "0", "1.5", verbosity=0)
    with pytest.raises(CommandError, match="needs AI labels"):
        call_command("rm_mix", "--experiment", "mixed", "--shares", "0", "0.5", verbosity=0)
    assert not TrainingRun.objects.exists()
