"""A summarization experiment's pipeline (references, so an SFT stage) runs through, and opens its
evaluation round with the human reference summaries as one more policy, so the report can
compare the trained policies with them."""

import json

import pytest
from django.core.management import call_command

from tests.orchestration.conftest import TINY, overrides_args
from tests.orchestration.lab import tiny_rows
from webapp.experiments import services
from webapp.experiments.models import Experiment
from webapp.pipeline.models import PipelineRun
from webapp.rating.models import Entry, Round

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_the_round_of_a_summarization_pipeline_includes_the_reference(tmp_path, bundled_lm, capsys):
    experiment = Experiment.objects.create(slug="tiny-posts", name="Tiny posts", task="summarization")
    path = tmp_path / "posts.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in tiny_rows(services.DEMO_DIR / "posts.jsonl", train=4, test=2)) + "\n")
    services.preferences_import(experiment=experiment, path=path, fmt="jsonl", split=None, source=path.name)

    call_command("run_experiment", "tiny-posts", "--arms", "sft", "--wait", "--in-process", "--json", *overrides_args({**TINY, "sft": {"max_steps": 1, "batch_size": 2}}),
                 verbosity=0)
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["status"] == "succeeded", summary

    round = Round.objects.get(experiment=experiment)
    assert round.with_reference and round.policies == ["sft", "reference"] and round.mode == "rank"
    references = Entry.objects.filter(item__round=round, policy="reference").select_related("item__prompt")
    assert references.count() == 2 and all(e.text == e.item.prompt.reference for e in references)


    # Asked to leave the reference out, the next run reuses the trained stages; its round would
    # hold SFT alone, which cannot be ranked, so the round stage refuses and says why.
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="evaluation-round: ValueError: Choose at least two policies to rank"):
        call_command("run_experiment", "tiny-posts", "--arms", "sft", "--no-reference", "--wait", "--in-process", "--json",
                     *overrides_args({**TINY, "sft": {"max_steps": 1, "batch_size": 2}}), verbosity=0)
    second = PipelineRun.objects.latest("id")
    assert second.stages.get(kind="round").config["with_reference"] is False
    assert all(s.reused_from_id for s in second.stages.filter(kind__in=["sft", "sampling"])), "nothing retrained"
    assert Round.objects.filter(experiment=experiment).count() == 1
