"""python manage.py sample --experiment SLUG --policy NAME: one response per test prompt, for raters."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from webapp.pipeline.management.commands._training import execute_with_bar, finish_output
from webapp.pipeline.management.commands.label import experiment_or_error
from webapp.pipeline.models import Status, TrainingKind, TrainingRun
from webapp.pipeline.services import sampling


class Command(BaseCommand):
    help = "Generate one response per test prompt from a trained policy (by arm name), `sft`, or a model spec."

    def add_arguments(self, parser):
        parser.add_argument("--experiment", required=True)
        parser.add_argument("--policy", required=True, help="an arm name with a finished policy run, `sft`, or a model spec")
        parser.add_argument("--temperature", type=float, default=0.7)
        parser.add_argument("--max-new-tokens", type=int, default=128)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **o):
        experiment = experiment_or_error(o["experiment"])
        kinds = [TrainingKind.SFT] if o["policy"] == "sft" else [TrainingKind.POLICY]
        trained = (
            TrainingRun.objects.filter(experiment=experiment, kind__in=kinds, arm=o["policy"], status=Status.SUCCEEDED)
            .order_by("-finished_at")
            .first()
        )
        config = {"temperature": o["temperature"], "max_new_tokens": o["max_new_tokens"], "seed": o["seed"]}
        run = sampling.sampling_run_create(experiment=experiment, policy=o["policy"], training_run=trained, config=config)
        if run.progress_total == 0:
            raise CommandError(f"{experiment.slug} has no test prompts")
        run = execute_with_bar(self, run, sampling.sampling_run_execute, quiet=o["verbosity"] == 0)
        finish_output(self, run, as_json=o["json"])
