"""``label_sweep --calibrate`` runs every cell with and without contextual calibration on the same
pairs; each few-shot run stores its exemplar copy rate (pairs answered like the last exemplar in
both orders, counted again here from the stored labels) and a calibrated run the prior it divided
out; Table 2 on the dashboard shows both columns."""

import json

import pytest
from django.core.management import call_command

from pipeline.labeling.prompts import exemplars
from webapp.pipeline.models import AILabel, LabelingRun
from webapp.reports.run_selectors import alignment_report

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def _shown(p: float, order: int) -> int | None:
    """The answer shown in an order: P(candidate 1) > 0.5 is "1" in order 1 and "2" in order 2."""
    if p == 0.5:
        return None
    return (1 if p > 0.5 else 2) if order == 1 else (2 if p > 0.5 else 1)


def test_every_cell_runs_with_and_without_calibration_and_reports_its_copy_rate(hh_experiment, bundled_lm, capsys):
    call_command("label_sweep", "--experiment", "hh", "--split", "test", "--limit", "1", "--max-rationale-tokens", "2",
                 "--calibrate", "--json", verbosity=1)
    out = capsys.readouterr().out
    assert "calib" in out and "copies" in out
    rows = json.loads(out.strip().splitlines()[-1])["rows"]
    assert len(rows) == 24  # the 12 cells of Table 2, each with and without calibration
    cells = {(r["preamble"], r["shots"], r["cot"], r["calibrate"]) for r in rows}
    assert len(cells) == 24
    for row in rows:
        run = LabelingRun.objects.get(pk=row["run_id"])
        assert row["status"] == "succeeded" and row["n"] == 1
        if row["shots"] == 0:
            assert row["copy_rate"] is None
            continue
        last = exemplars("harmless", "default", row["shots"])[-1].preferred
        labels = AILabel.objects.filter(run=run)
        copies = sum(_shown(a.p_order1, 1) == _shown(a.p_order2, 2) == last for a in labels)
        assert row["copy_rate"] == pytest.approx(copies)  # of the one pair
        assert run.metrics["last_exemplar_answer"] == last
        assert ("calibration_prior" in run.metrics) == row["calibrate"]
    table2 = alignment_report(hh_experiment)["sweeps"][0]["rows"]
    assert sum(r["calibrate"] for r in table2) == 12
    assert all("copy_rate" in r for r in table2)
    calibrated = [r for r in table2 if r["calibrate"]]
    assert all("calibrated" in r["config"] for r in calibrated)
