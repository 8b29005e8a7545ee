"""python manage.py rm_mix --experiment SLUG --shares 0 0.25 0.5 0.75 1: does mixing human and AI labels help?

One reward model per share of human labels (the rest AI labels of the latest finished labeling
run), all on the same training pairs with the same settings; each is measured on the test
split's human labels. The alignment dashboard shows accuracy against the share (a table and a
chart): the paper's open question, answered with data.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from webapp.pipeline.management.commands._training import add_reward_sweep_arguments, execute_with_bar, plan_reward_sweep
from webapp.pipeline.management.commands.label import experiment_or_error
from webapp.pipeline.services import training


def _share(value: str) -> float:
    try:
        share = float(value)
    except ValueError:
        share = -1.0
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"a share of human labels is a number from 0 to 1, not {value!r}")
    return share


class Command(BaseCommand):
    help = "Train a reward model per share of human labels (the rest AI) and compare their held-out accuracy."

    def add_arguments(self, parser):
        add_reward_sweep_arguments(parser)
        parser.add_argument("--shares", nargs="+", default=["0", "0.25", "0.5", "0.75", "1"], metavar="SHARE")

    def handle(self, *args, **o):
        experiment = experiment_or_error(o["experiment"])
        try:
            shares = sorted(set(_share(v) for v in o["shares"]))
        except ValueError as exc:
            raise CommandError(f"--shares: {exc}") from None
        planned = plan_reward_sweep(experiment, o, [f"mixed:{share:g}" for share in shares], "--shares",
                                    lambda source, config: training.reward_run_create(
                                        experiment=experiment, label_source=source, config=config, arm="rm-mix"))
        for run in planned:
            run = execute_with_bar(self, run, training.training_run_execute, quiet=o["verbosity"] == 0)
            accuracy = run.metrics.get("reward/accuracy")
            shown = "n/a" if accuracy is None else f"{100 * accuracy:.1f} %"
            self.stdout.write(f"reward model #{run.pk} on {run.label_source}: held-out accuracy {shown}")
