"""``rm_curve`` (the paper's Figure 5) trains real reward models on nested subsets of the
training pairs, for human and AI labels, and the alignment dashboard's curve table and chart
read those runs; sizes larger than the data or out of order, or a label source that does not exist, are refused
before anything trains."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from tests.orchestration.lab import import_tiny_demo
from webapp.experiments.models import PreferencePair
from webapp.pipeline.models import TrainingRun
from webapp.reports.pages import alignment_context
from webapp.reports.run_selectors import alignment_report, training_report
from webapp.reports.run_tables import alignment_tables

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

TINY = ["--max-steps", "2", "--batch-size", "4", "--max-length", "128"]


@pytest.fixture
def helpful(db, tmp_path):
    return import_tiny_demo("curved", tmp_path, train=10, test=6)


def test_human_and_ai_curves_are_trained_and_drawn(helpful, bundled_lm):
    call_command("label", "--experiment", "curved", "--split", "train", verbosity=0)
    call_command("rm_curve", "--experiment", "curved", "--sizes", "4", "8", "--labels", "human", "ai", *TINY, verbosity=0)
    runs = list(TrainingRun.objects.filter(experiment=helpful, arm="rm-curve").order_by("id"))
    assert [r.label_source.split(":")[0] for r in runs] == ["human", "ai"] and all(r.status == "succeeded" for r in runs)
    held_out = PreferencePair.objects.filter(prompt__experiment=helpful, prompt__split="test", human_choice__in=[1, 2]).count()
    for run in runs:
        curve = run.metrics["reward/accuracy_vs_pairs"]
        assert [point[0] for point in curve] == [4, 8]
        for _, accuracy, low, high in curve:
            assert low <= accuracy <= high and round(accuracy * held_out) == pytest.approx(accuracy * held_out)
        assert run.metrics["reward/accuracy"] == curve[-1][1] and run.metrics["reward/accuracy_n"] == held_out

    table = alignment_tables(alignment_report(helpful), training_report(helpful))["rm_accuracy_vs_pairs"]
    assert sorted((r["run_id"], r["pairs"]) for r in table.rows) == sorted((r.pk, n) for r in runs for n in (4, 8))
    charts = [f.name for section in alignment_context(helpful)["sections"] for block in section[1] for f in block.figures]
    assert "rm_accuracy_vs_pairs" in charts


def test_sizes_beyond_the_data_and_unknown_labels_are_refused_before_training(helpful):
    with pytest.raises(CommandError, match="--sizes: 50 is more than the experiment's 10 training pairs"):
        call_command("rm_curve", "--experiment", "curved", "--sizes", "4", "50", verbosity=0)
    with pytest.raises(CommandError, match="--sizes: 'x' is not a size: give numbers of training pairs, each at least 2"):
        call_command("rm_curve", "--experiment", "curved", "--sizes", "x", verbosity=0)
    with pytest.raises(CommandError, match="--sizes: 4 after 8: give the sizes in increasing order"):
        call_command("rm_curve", "--experiment", "curved", "--sizes", "8", "4", verbosity=0)
    with pytest.raises(CommandError, match="--labels: "):
        call_command("rm_curve", "--experiment", "curved", "--sizes", "4", "--labels", "human", "ai", verbosity=0)
    assert not TrainingRun.objects.exists()
