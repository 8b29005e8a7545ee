"""Cells that a spreadsheet would run as a formula (starting with = + - @, a tab or a carriage
return) leave every CSV export as text, through the one writer in ``webapp/csv_cells.py``;
numbers stay numbers. The judgements export and the report tables both carry text that raters
and imported files wrote (usernames, policy names)."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, User

from webapp.access import RATERS_GROUP
from webapp.csv_cells import csv_cell
from webapp.rating.models import Entry
from webapp.rating.services import judgements, leasing

pytestmark = pytest.mark.django_db

WEBAPP = Path(__file__).resolve().parents[2] / "webapp"
HOSTILE = ['=HYPERLINK("http://evil.example","x")', "-707+2", "+1+1", "@SUM(A1)", "\t=1", "\r=1"]


@pytest.mark.parametrize("text", HOSTILE, ids=repr)
def test_a_formula_cell_gets_a_leading_apostrophe(text):
    assert csv_cell(text) == "'" + text


@pytest.mark.parametrize("value", [-0.25, "-3", "1e-05", 7, "+2", "plain text", "a=b"], ids=repr)
def test_numbers_and_ordinary_text_are_left_alone(value):
    assert csv_cell(value) == str(value)


def test_no_module_of_the_web_app_writes_csv_any_other_way():
    writers = [
        f"{path.relative_to(WEBAPP)}"
        for path in WEBAPP.rglob("*.py")
        if path.name != "csv_cells.py" and re.search(r"csv\.(writer|DictWriter)\(", path.read_text())
    ]
    assert writers == []


def cells(response) -> list[str]:
    body = b"".join(response.streaming_content) if response.streaming else response.content
    return [cell for row in csv.reader(io.StringIO(body.decode())) for cell in row]


def test_the_judgements_export_and_the_report_tables_carry_no_live_formula(world):
    hostile_rater = User.objects.create_user('=HYPERLINK("http://evil.example")', password="x-pass-123")
    hostile_rater.groups.add(Group.objects.get(name=RATERS_GROUP))
    lease = leasing.item_lease(rater=hostile_rater, round=world.round)
    judgements.judgement_submit(rater=hostile_rater, token=lease.token, ranks={"A": 1, "B": 2, "C": 3}, harmless={"A": True, "B": True, "C": True})
    Entry.objects.filter(policy="zebra").update(policy="-707+2")  # a policy name as an import may bring it
    client = world.client("staff_with_permissions")
    exported = cells(client.get(f"/api/rounds/{world.round.pk}/judgements.csv"))
    assert '\'=HYPERLINK("http://evil.example")' in exported
    assert all(not cell.startswith(("=", "@", "\t", "\r")) for cell in exported)
    reported = []
    for name in ("win_rates", "raters", "rounds"):
        response = client.get(f"/experiments/{world.experiment.slug}/report/csv/{name}.csv")
        assert response.status_code == 200, name
        reported += cells(response)
    assert "'-707+2" in reported and '\'=HYPERLINK("http://evil.example")' in reported
    assert all(not cell.startswith(("=", "@", "\t", "\r")) for cell in reported)
    assert all(csv_cell(cell) == cell for cell in reported if cell[:1] in "+-")  # a sign starts only numbers
