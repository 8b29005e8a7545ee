"""label_sweep runs base/detailed x 0/1/2 shots x CoT on the same pairs and stores the comparison."""

import json

import pytest
from django.core.management import call_command

from webapp.pipeline.models import LabelingSweep

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_the_sweep_runs_all_twelve_techniques_on_the_same_pairs(hh_experiment, bundled_lm, capsys):
    call_command(
        "label_sweep", "--experiment", "hh", "--split", "test", "--limit", "2",
        "--max-rationale-tokens", "6", "--json", verbosity=0,
    )
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    sweep = LabelingSweep.objects.get(pk=result["sweep_id"])
    rows = result["rows"]
    cells = {(r["preamble"], r["shots"], r["cot"]) for r in rows}
    assert cells == {(p, k, c) for p in ("base", "detailed") for k in (0, 1, 2) for c in (False, True)}
    assert all(r["status"] == "succeeded" and r["n"] == 2 for r in rows)
    assert all(0 <= r["alignment"] <= 1 for r in rows)
    pair_sets = {frozenset(run.labels.values_list("pair_id", flat=True)) for run in sweep.runs.all()}
    assert len(pair_sets) == 1, "every technique labels the same pairs"
    cot_runs = [run for run in sweep.runs.all() if run.config["cot"]]
    assert all(label.rationales for run in cot_runs for label in run.labels.all())
