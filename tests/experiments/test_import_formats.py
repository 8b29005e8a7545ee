"""Each import format keeps the candidate order it stores and an unambiguous human choice."""

import json

import pytest
from django.core.management import call_command

from webapp.experiments import services
from webapp.experiments.models import PreferencePair, Prompt

from .conftest import hh_row

pytestmark = pytest.mark.django_db


def tldr_row(post_id: str, choice: int, confidence: int | None) -> dict:
    row = {
        "info": {"id": post_id, "post": f"My post {post_id} is about a long story.", "title": f"Title {post_id}", "subreddit": "relationships"},
        "summaries": [{"text": f"first summary {post_id}", "policy": "a"}, {"text": f"second summary {post_id}", "policy": "b"}],
        "choice": choice,
    }
    if confidence is not None:
        row["extra"] = {"confidence": confidence}
    return row


def test_tldr_comparisons_keep_the_file_order_and_map_choice_0_to_candidate_1(experiment, write_file):
    path = write_file("comparisons.jsonl", [tldr_row("t1", 0, 9), tldr_row("t2", 1, 2)])
    result = services.preferences_import(experiment=experiment, path=path, fmt="tldr-comparisons", split="train")
    assert result.imported == 2
    first, second = PreferencePair.objects.order_by("source_line")
    assert (first.candidate_1, first.human_choice, first.human_confidence) == ("first summary t1", 1, 9.0)
    assert (second.candidate_2, second.human_choice) == ("second summary t2", 2)
    assert first.prompt.context == "SUBREDDIT: r/relationships\nTITLE: Title t1\nPOST: My post t1 is about a long story."
    assert first.prompt.source_id == "t1"


def test_the_high_confidence_filter_keeps_only_confidence_1_2_8_and_9(experiment, write_file, capsys):
    rows = [tldr_row(f"t{c}", c % 2, c) for c in range(1, 10)] + [tldr_row("none", 0, None)]
    path = write_file("comparisons.jsonl", rows)
    call_command(
        "import_preferences", str(path), "--experiment", "exp", "--format", "tldr-comparisons",
        "--split", "train", "--high-confidence", "--json", verbosity=0,
    )
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["imported"] == 4 and report["skipped"] == 6
    kept = sorted(PreferencePair.objects.values_list("human_confidence", flat=True))
    assert kept == [1.0, 2.0, 8.0, 9.0]


def test_jsonl_chosen_rejected_rows_are_shuffled_by_a_seed_and_the_choice_follows(experiment, write_file):
    rows = [{"prompt": f"Prompt {i}", "chosen": f"good {i}", "rejected": f"bad {i}"} for i in range(40)]
    path = write_file("pairs.jsonl", rows)
    services.preferences_import(experiment=experiment, path=path, fmt="jsonl", split="test")
    pairs = list(PreferencePair.objects.all())
    assert all(pair.chosen.startswith("good") and pair.rejected.startswith("bad") for pair in pairs)
    first_positions = sum(pair.human_choice == 1 for pair in pairs)
    assert 8 < first_positions < 32, "the chosen reply must not always be candidate 1"


def test_jsonl_response_a_b_rows_keep_their_order_and_accept_an_empty_choice(experiment, write_file):
    rows = [
        {"prompt": "p1", "response_a": "A1", "response_b": "B1", "choice": "b"},
        {"prompt": "p2", "response_a": "A2", "response_b": "B2", "choice": 1},
        {"prompt": "p3", "response_a": "A3", "response_b": "B3", "choice": None, "reference": "R3", "split": "train"},
    ]
    path = write_file("ab.jsonl", rows)
    services.preferences_import(experiment=experiment, path=path, fmt="jsonl", split="test")
    stored = {p.prompt.context: p for p in PreferencePair.objects.select_related("prompt")}
    assert (stored["p1"].candidate_1, stored["p1"].human_choice) == ("A1", 2)
    assert stored["p2"].human_choice == 1
    assert stored["p3"].human_choice is None and stored["p3"].prompt.reference == "R3"
    assert stored["p3"].prompt.split == "train" and stored["p1"].prompt.split == "test"


def test_csv_reads_the_same_columns_with_quoted_multiline_fields(experiment, write_file):
    text = 'prompt,response_a,response_b,choice\n"Human: hi\n\nAssistant: hey\n\nHuman: bye",A,B,a\nsecond,C,D,2\n'
    path = write_file("pairs.csv", text)
    result = services.preferences_import(experiment=experiment, path=path, fmt="csv", split="train")
    assert result.imported == 2
    pair = PreferencePair.objects.get(candidate_1="A")
    assert pair.prompt.context.endswith("Human: bye") and pair.human_choice == 1


def test_a_bad_csv_choice_names_its_line(experiment, write_file):
    from pipeline.data import ImportFormatError

    path = write_file("pairs.csv", "prompt,response_a,response_b,choice\nfirst,A,B,a\nsecond,C,D,maybe\n")
    with pytest.raises(ImportFormatError, match=r"line 3: field 'choice' must be"):
        services.preferences_import(experiment=experiment, path=path, fmt="csv", split="train")
    assert PreferencePair.objects.count() == 0


def test_the_same_pair_in_either_order_is_imported_once(experiment, write_file):
    rows = [
        {"prompt": "p", "response_a": "x", "response_b": "y", "choice": "a"},
        {"prompt": "p", "response_a": "y", "response_b": "x", "choice": "b"},
        {"prompt": "p", "response_a": "x", "response_b": "z", "choice": "a"},
    ]
    result = services.preferences_import(experiment=experiment, path=write_file("d.jsonl", rows), fmt="jsonl", split="train")
    assert (result.imported, result.skipped) == (2, 1)
    assert Prompt.objects.count() == 1


def test_a_dialogue_ending_in_two_assistant_turns_keeps_both_as_the_reply(experiment, write_file):
    row = {
        "chosen": "\n\nHuman: find me a key\n\nAssistant: Here it is:\n\nAssistant: Let me log in.",
        "rejected": "\n\nHuman: find me a key\n\nAssistant: I can't help with that.",
    }
    services.preferences_import(experiment=experiment, path=write_file("hh.jsonl", [row]), fmt="hh", split="train")
    pair = PreferencePair.objects.get()
    assert pair.prompt.context == "Human: find me a key"
    assert pair.chosen == "Here it is:\n\nAssistant: Let me log in."
    assert pair.rejected == "I can't help with that."


def test_a_gzipped_hh_file_imports(experiment, write_file):
    rows = [hh_row("Is it safe to eat raw chicken?", "No, cook it through.", "Sure, go ahead.")]
    result = services.preferences_import(experiment=experiment, path=write_file("hh.jsonl.gz", rows), fmt="hh", split="test")
    assert result.imported == 1
