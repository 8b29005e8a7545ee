"""A labeling run on 8 real HH pairs with the bundled model stores its config, counters and labels."""

import json

import pytest
from django.core.management import call_command

from pipeline.configs import LabelingConfig
from webapp.pipeline.models import AILabel, LabelingRun
from webapp.pipeline.services import labeling

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


def test_a_run_on_eight_real_pairs_stores_config_progress_tokens_time_both_orders_and_a_hand_checked_alignment(hh_experiment, bundled_lm):
    config = LabelingConfig(task="harmless")
    run = labeling.labeling_run_create(experiment=hh_experiment, config=config, split="test", limit=8)
    run = labeling.labeling_run_execute(run_id=run.pk)

    assert run.status == "succeeded"
    assert LabelingConfig.from_dict(run.config) == config
    assert run.model_spec == "smollm2-135m-instruct"
    assert (run.progress_done, run.progress_total) == (8, 8)
    assert run.prompt_tokens > 8 * 100 and run.generated_tokens == 0
    assert run.wall_seconds > 0 and run.finished_at is not None
    labels = list(AILabel.objects.filter(run=run))
    assert len(labels) == 8
    for label in labels:
        assert 0 <= label.p_order1 <= 1 and 0 <= label.p_order2 <= 1
        assert label.p == pytest.approx((label.p_order1 + label.p_order2) / 2)
        assert 0 < label.label_mass <= 1
        assert label.prompt_tokens > 0 and label.rationales == []
    assert run.ai_cost_per_1k_labels > 0 and run.human_cost_per_1k_labels == 1000 * run.price_per_human_label

    # The stored alignment equals a hand count over the same eight pairs.
    agree = 0
    for label in AILabel.objects.filter(run=run).select_related("pair"):
        ai = 1 if label.p > 0.5 else 2 if label.p < 0.5 else None
        agree += ai == label.pair.human_choice
    assert run.metrics["n"] == 8
    assert run.metrics["alignment"] == pytest.approx(agree / 8)


def test_a_killed_run_resumes_without_relabelling_what_it_saved(hh_experiment, bundled_lm):
    run = labeling.labeling_run_create(experiment=hh_experiment, config=LabelingConfig(task="harmless"), split="test", limit=8)

    def die_after_first_chunk(progress):
        if progress.done >= 4:
            raise KeyboardInterrupt  # what a killed process looks like from inside

    with pytest.raises(KeyboardInterrupt):
        labeling.labeling_run_execute(run_id=run.pk, chunk_size=4, on_progress=die_after_first_chunk)
    run.refresh_from_db()
    assert run.status == "running" and run.progress_done == 4
    first_ids = set(AILabel.objects.filter(run=run).values_list("pair_id", flat=True))
    assert len(first_ids) == 4

    # Nobody else may take a run whose worker still looks alive...
    assert labeling.labeling_run_execute(run_id=run.pk) is None
    # ...but a person resuming it by hand (or a worker after the heartbeat went stale) may.
    run = labeling.labeling_run_execute(run_id=run.pk, force=True, chunk_size=4)
    assert run.status == "succeeded" and run.attempts == 2
    assert run.metrics["engine/pairs_labelled_this_attempt"] == 4
    assert AILabel.objects.filter(run=run).count() == 8
    assert first_ids < set(AILabel.objects.filter(run=run).values_list("pair_id", flat=True))


def test_the_label_command_prints_one_json_object_with_the_figures(hh_experiment, bundled_lm, capsys):
    call_command("label", "--experiment", "hh", "--split", "test", "--limit", "4", "--json", verbosity=0)
    out = capsys.readouterr().out.strip().splitlines()
    figures = json.loads(out[-1])
    for key in ("n", "alignment", "alignment_ci", "position1_rate", "order_disagreement", "label_mass", "pairs_per_second", "run_id"):
        assert key in figures
    assert figures["n"] == 4 and LabelingRun.objects.get(pk=figures["run_id"]).status == "succeeded"
    assert any("cost per 1,000 labels" in line for line in out)
