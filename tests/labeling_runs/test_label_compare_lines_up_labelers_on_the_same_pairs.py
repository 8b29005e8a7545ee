"""``label_compare`` (the paper's Table 3): the bundled labeler in float32 and with bfloat16
feed-forward layers label the same 6 real HH pairs with the same settings; the dashboard's
Table 3 shows both rows of that comparison and only them; bad input is refused, nothing stored."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from webapp.pipeline.models import AILabel, LabelingRun, LabelingSweep
from webapp.reports.run_selectors import alignment_report

pytestmark = [pytest.mark.django_db]


def test_two_precisions_of_the_bundled_labeler_on_the_same_pairs(hh_experiment, bundled_lm):
    call_command("label", "--experiment", "hh", "--split", "test", "--limit", "3", verbosity=0)  # not part of it
    out = io.StringIO()
    call_command("label_compare", "--experiment", "hh", "--models", "smollm2-135m-instruct", "smollm2-135m-instruct@bf16-mlp",
                 "--limit", "6", "--json", stdout=out, verbosity=0)
    result = json.loads(out.getvalue().strip().splitlines()[-1])
    comparison = LabelingSweep.objects.get(pk=result["comparison_id"], kind="models")
    runs = list(comparison.runs.order_by("id"))
    assert [r.config["precision"] for r in runs] == ["exact", "bf16-mlp"]
    pairs = [set(AILabel.objects.filter(run=r).values_list("pair_id", flat=True)) for r in runs]
    assert pairs[0] == pairs[1] and len(pairs[0]) == 6
    assert {k: v for k, v in runs[0].config.items() if k != "precision"} == {k: v for k, v in runs[1].config.items() if k != "precision"}

    rows = alignment_report(hh_experiment)["by_model"]
    assert [(r["run_id"], r["precision"]) for r in rows] == [(runs[0].pk, "exact"), (runs[1].pk, "bf16-mlp")]
    for row, run in zip(rows, runs):
        run.refresh_from_db()
        assert row["alignment"] == run.metrics["alignment"] and row["n"] == 6 and row["comparison_id"] == comparison.pk
    assert LabelingRun.objects.count() == 3  # the lone run stays in the labeling-runs table only


@pytest.mark.parametrize("args, message", [
    (["--models", "smollm2-135m-instruct"], "at least two labelers"),
    (["--models", "smollm2-135m-instruct", "/no/such/model"], "labeler '/no/such/model' cannot be found"),
    (["--models", "smollm2-135m-instruct", "smollm2-135m-instruct@fp8"], "SPEC@PRECISION"),
])
def test_bad_comparisons_are_refused_naming_what_is_wrong(hh_experiment, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("label_compare", "--experiment", "hh", *args, verbosity=0)
    assert not LabelingSweep.objects.exists() and not LabelingRun.objects.exists()


def test_an_experiment_without_human_labels_is_refused(db):
    from webapp.experiments.models import Experiment

    Experiment.objects.create(slug="unlabelled", name="Unlabelled", task="harmless")
    with pytest.raises(CommandError, match="unlabelled/test has no pairs with a human label"):
        call_command("label_compare", "--experiment", "unlabelled", "--models", "a", "b", verbosity=0)
