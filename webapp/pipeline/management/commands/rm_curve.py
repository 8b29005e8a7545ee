"""python manage.py rm_curve --experiment SLUG --sizes 50 100 200 400 --labels human ai: the paper's Figure 5.

One reward-model run per label source; each trains on nested subsets of the training pairs (the
first n of one seeded shuffle) and measures pairwise accuracy on the test split's human labels.
The alignment dashboard draws one line per run, with 95 % intervals.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from pipeline.curve_settings import CurveSettingError
from webapp.pipeline.management.commands._training import add_reward_sweep_arguments, execute_with_bar, plan_reward_sweep
from webapp.pipeline.management.commands.label import experiment_or_error
from webapp.pipeline.services import training
from webapp.pipeline.services.reward_curves import reward_curve_check, reward_curve_create


class Command(BaseCommand):
    help = "Reward-model accuracy against the number of training pairs, for human and AI labels (the paper's Figure 5)."

    def add_arguments(self, parser):
        add_reward_sweep_arguments(parser)
        parser.add_argument("--sizes", nargs="+", required=True, metavar="N",
                            help="training-set sizes in increasing order, e.g. 50 100 200 400")
        parser.add_argument("--labels", nargs="+", default=["human", "ai"], metavar="SOURCE",
                            help="label sources, one curve each: human, ai, ai:RUN_ID, mixed:SHARE")

    def handle(self, *args, **o):
        experiment = experiment_or_error(o["experiment"])
        try:  # the pipeline's reward-curve stage is checked by the same rule, with the same words
            sizes, labels = reward_curve_check(experiment=experiment, sizes=o["sizes"], labels=o["labels"])
        except CurveSettingError as exc:
            raise CommandError(f"--{exc.setting}: {exc}") from None
        planned = plan_reward_sweep(experiment, o, labels, "--labels", lambda source, config: reward_curve_create(
            experiment=experiment, label_source=source, sizes=sizes, config=config))
        for run in planned:
            run = execute_with_bar(self, run, training.training_run_execute, quiet=o["verbosity"] == 0)
            curve = run.metrics.get("reward/accuracy_vs_pairs", [])
            points = ", ".join(f"{n} pairs {100 * acc:.1f} %" for n, acc, *_ in curve)
            self.stdout.write(f"reward-model curve #{run.pk} ({run.label_source}): {points}")
