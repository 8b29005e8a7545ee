"""The paper page of an experiment with no rounds and no runs: every block is there, under the
paper's name for it, and says which command fills it; each CSV is a header only; raters get 403
and anonymous visitors are sent to log in."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from webapp.experiments.models import Experiment
from webapp.reports.paper_selectors import PAPER_TABLES

pytestmark = pytest.mark.django_db

FILLED_BY = [
    "Table 1: win rates vs SFT, and RLAIF vs RLHF", "python manage.py run_experiment blank --arms sft rlhf rlaif",
    "Harmless rates", "python manage.py make_round --experiment blank --mode both",
    "Table 2: prompting techniques", "python manage.py label_sweep --experiment blank --split test --limit 100",
    "Table 3: alignment by labeler",
    "python manage.py label_compare --experiment blank --models smollm2-135m-instruct smollm2-135m-instruct@bf16-mlp",
    "Figure 5: reward-model accuracy vs training pairs",
    "python manage.py rm_curve --experiment blank --sizes 50 100 200 --labels human ai",
    "Appendix M: self-consistency", "--self-consistency 4 16",
]


def test_an_empty_experiment_names_the_command_behind_every_block(client, staff):
    Experiment.objects.create(slug="blank", name="Blank", task="summarization")
    client.force_login(staff)
    response = client.get(reverse("reports:paper", args=["blank"]))
    html = response.content.decode()
    assert response.status_code == 200
    for text in FILLED_BY:
        assert text in html, text
    assert html.count('<p class="empty">') == len(PAPER_TABLES)
    assert "<code>python manage.py rm_curve" in html
    for name in PAPER_TABLES:
        download = client.get(reverse("reports:csv", args=["blank", name]))
        assert download.status_code == 200, name
        rows = list(csv.reader(io.StringIO(download.content.decode())))
        assert len(rows) == 1 and ("run_id" in rows[0] or "round_id" in rows[0]), name
    results = client.get(reverse("reports:results", args=["blank"])).content.decode()
    assert reverse("reports:paper", args=["blank"]) in results, "the report navigation links to the paper page"


def test_raters_get_403_and_anonymous_visitors_are_sent_to_log_in(client, make_rater):
    Experiment.objects.create(slug="closed", name="Closed", task="harmless")
    url = reverse("reports:paper", args=["closed"])
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and reverse("login") in anonymous["Location"]
    client.force_login(make_rater("reader"))
    assert client.get(url).status_code == 403
    assert client.get(reverse("reports:csv", args=["closed", "paper_table1"])).status_code == 403
