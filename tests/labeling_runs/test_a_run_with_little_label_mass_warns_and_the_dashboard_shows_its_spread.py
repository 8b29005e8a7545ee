"""Label mass (the labeler's probability on the answers at all): a real run of the bundled model
on 6 HH pairs is below the documented warning line, so the command and the pipeline's run page
warn; the alignment dashboard shows the spread of its labels' mass, recomputed here."""

import io

import numpy as np
import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse

from webapp.pipeline.models import AILabel, LabelingRun, PipelineRun, PipelineStage
from webapp.pipeline.selectors import label_mass_warning
from webapp.reports.run_selectors import alignment_report

pytestmark = [pytest.mark.django_db]


def test_the_command_and_the_run_page_warn_and_the_dashboard_shows_the_spread(hh_experiment, bundled_lm, client):
    out = io.StringIO()
    call_command("label", "--experiment", "hh", "--split", "test", "--limit", "6", stdout=out, verbosity=0)
    run = LabelingRun.objects.get()
    mass = np.array(list(AILabel.objects.filter(run=run).values_list("label_mass", flat=True)))
    assert mass.mean() < 0.5, "the bundled 135M labeler answers with under half its probability, 0-shot"
    assert "WARNING: Mean label mass" in out.getvalue() and "LABEL_MASS_WARNING" in out.getvalue()

    [row] = alignment_report(hh_experiment)["label_mass"]
    assert row["labels"] == 6 and row["warning"]
    assert row["mean"] == pytest.approx(mass.mean()) and row["median"] == pytest.approx(np.median(mass))
    assert row["below_warning"] == pytest.approx(np.mean(mass < 0.5))

    # The pipeline's run page shows the same warning on a labeling stage with this result.
    pipeline = PipelineRun.objects.create(experiment=hh_experiment, arms=["rlaif"])
    PipelineStage.objects.create(pipeline=pipeline, experiment=hh_experiment, name="ai-labels", kind="labeling", queue="gpu",
                                 position=0, depends_on=[], config={"config": {}}, model_spec=run.model_spec,
                                 status="succeeded", labeling_run=run, metrics=run.metrics)
    client.force_login(User.objects.create_superuser("boss", password="mass-pass-123"))
    page = client.get(reverse("pipeline:run_detail", args=["hh", pipeline.pk])).content.decode()
    assert f"Mean label mass {100 * run.metrics['label_mass']:.1f} % is below 50 %" in page
    assert "Label mass: how much of the labeler" in client.get(reverse("reports:alignment", args=["hh"])).content.decode()


def test_the_warning_line_is_a_setting():
    assert label_mass_warning(0.3) and not label_mass_warning(0.6) and not label_mass_warning(None)
    with override_settings(LABEL_MASS_WARNING=0.2):
        assert not label_mass_warning(0.3)
