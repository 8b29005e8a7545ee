"""The real HH-RLHF harmless test file imports completely, once, with the human choice kept."""

import json

import pytest
from django.core.management import call_command

from webapp.experiments.models import PreferencePair, Prompt

pytestmark = pytest.mark.django_db


def run_import(hh_path, capsys) -> dict:
    call_command(
        "import_preferences", str(hh_path), "--experiment", "hh", "--format", "hh", "--split", "test", "--json", verbosity=0
    )
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_the_real_hh_file_imports_exactly_1600_pairs_and_a_second_run_adds_none(hh_path, capsys):
    first = run_import(hh_path, capsys)
    assert first["imported"] == 1600
    assert first["experiment"] == "hh"
    assert PreferencePair.objects.filter(prompt__experiment__slug="hh").count() == 1600
    assert Prompt.objects.filter(experiment__slug="hh", split="test").count() == 1600

    second = run_import(hh_path, capsys)
    assert second == {**second, "imported": 0, "skipped": 1600}
    assert PreferencePair.objects.count() == 1600


def test_every_real_pair_keeps_the_human_choice_and_the_chosen_reply_is_first_about_half_the_time(hh_path, capsys):
    import gzip

    run_import(hh_path, capsys)
    pairs = list(PreferencePair.objects.all())
    assert all(pair.human_choice in (1, 2) for pair in pairs)
    chosen_first = sum(pair.human_choice == 1 for pair in pairs) / len(pairs)
    assert 0.45 < chosen_first < 0.55

    # The stored chosen candidate is the file's "chosen" reply, whichever position it sits in.
    with gzip.open(hh_path, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle]
    for pair in pairs[:200]:
        row = rows[pair.source_line - 1]
        assert row["chosen"].rstrip().endswith(pair.chosen.split("\n\nAssistant: ")[-1])
        assert row["rejected"].rstrip().endswith(pair.rejected.split("\n\nAssistant: ")[-1])
        assert pair.source_order_swapped == (pair.human_choice == 2)


def test_the_context_is_every_turn_before_the_last_assistant_turn(hh_path, capsys):
    run_import(hh_path, capsys)
    for prompt in Prompt.objects.all()[:300]:
        assert prompt.context.startswith("Human: ")
        assert prompt.context.rsplit("\n\n", 1)[-1].startswith("Human: ")
