"""``label_sweep --self-consistency K`` (the paper's Appendix M) adds 0-shot CoT cells that sample
K rationales per order at T = 1, beside the greedy CoT cell, on the same pairs; the dashboard's
Table 2 shows the column; K < 2 is refused before anything is stored."""

import json

import pytest
from django.core.management import CommandError, call_command

from webapp.pipeline.models import AILabel, LabelingSweep
from webapp.reports.run_selectors import alignment_report

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_self_consistency_cells_sample_k_rationales_per_order_on_the_same_pairs(hh_experiment, bundled_lm, capsys):
    call_command("label_sweep", "--experiment", "hh", "--split", "test", "--limit", "1", "--max-rationale-tokens", "4",
                 "--self-consistency", "3", "--json", verbosity=0)
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    rows = result["rows"]
    assert len(rows) == 13
    [k3] = [r for r in rows if r["self_consistency"] == 3]
    assert (k3["preamble"], k3["shots"], k3["cot"], k3["status"], k3["n"]) == ("base", 0, True, "succeeded", 1)
    greedy = [r for r in rows if (r["preamble"], r["shots"], r["cot"], r["self_consistency"]) == ("base", 0, True, 1)]
    assert len(greedy) == 1, "the plain CoT cell stays beside it"
    for label in AILabel.objects.filter(run_id=k3["run_id"]):
        assert len(label.rationales) == 6  # 3 per order, both orders
    sweep = LabelingSweep.objects.get(pk=result["sweep_id"])
    assert len({frozenset(r.labels.values_list("pair_id", flat=True)) for r in sweep.runs.all()}) == 1
    table2 = alignment_report(hh_experiment)["sweeps"][0]["rows"]
    assert [r["self_consistency"] for r in table2].count(3) == 1


def test_a_self_consistency_below_two_is_refused(hh_experiment):
    with pytest.raises(CommandError, match="--self-consistency: self-consistency samples at least 2 rationales, got 1"):
        call_command("label_sweep", "--experiment", "hh", "--split", "test", "--self-consistency", "1", verbosity=0)
    assert not LabelingSweep.objects.exists()
