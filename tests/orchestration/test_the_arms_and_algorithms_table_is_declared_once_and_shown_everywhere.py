"""What each arm and RL algorithm is lives in one table (pipeline.arms.ARMS and ALGORITHMS): the
README's copy is equal to it, the RL trainers and the commands take their algorithm names from it,
and the run form shows every row."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from pipeline import arms
from tests.orchestration.lab import import_tiny_demo

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_table_is_the_declared_one():
    text = README.read_text()
    found = re.search(r"<!-- arms-table: generated from pipeline\.arms\.arms_markdown\(\) -->\n(.*?)<!-- /arms-table -->", text, re.S)
    assert found, "README.md lost its arms-table markers"
    assert found.group(1) == arms.arms_markdown(), "README's arms table drifted: paste pipeline.arms.arms_markdown() between the markers"


def test_every_arm_and_algorithm_has_its_row_and_the_trainers_use_the_same_names():
    from pipeline.rl import ALGORITHMS as TRAINED

    table = arms.arms_markdown()
    assert all(f"| `{name}` |" in table for name in [*arms.ARMS, *arms.ALGORITHMS])
    assert TRAINED == tuple(arms.ALGORITHMS) and arms.DEFAULT_ALGORITHM == "reinforce"


@pytest.mark.django_db
def test_the_run_form_shows_every_arm_and_algorithm(tmp_path, client):
    import_tiny_demo("table", tmp_path, train=4, test=2)
    client.force_login(User.objects.create_superuser("boss", password="table-pass-123"))
    page = client.get(reverse("pipeline:run_new", args=["table"])).content.decode()
    for name, arm in arms.ARMS.items():
        assert f'id="arm-{name}"' in page and arm.description.replace("'", "&#x27;") in page
    for name, algorithm in arms.ALGORITHMS.items():
        assert f'id="algorithm-{name}"' in page and algorithm.update.replace("'", "&#x27;") in page
