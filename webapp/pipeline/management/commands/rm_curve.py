"""python manage.py rm_curve --experiment SLUG --sizes 50 100 200 400 --labels human ai: the paper's Figure 5.

One reward-model run per label source; each trains on nested subsets of the training pairs (the
first n of one seeded shuffle) and measures pairwise accuracy on the test split's human labels.
The alignment dashboard draws one line per run, with 95 % intervals.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from webapp.experiments.models import PreferencePair
from webapp.pipeline.management.commands._training import add_reward_sweep_arguments, execute_with_bar, plan_reward_sweep
from webapp.pipeline.management.commands.label import experiment_or_error
from webapp.pipeline.services import training


def _size(value: str) -> int:
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 2:
        raise ValueError(f"a size is a number of training pairs, at least 2, not {value!r}")
    return n


class Command(BaseCommand):
    help = "Reward-model accuracy against the number of training pairs, for human and AI labels (the paper's Figure 5)."

    def add_arguments(self, parser):
        add_reward_sweep_arguments(parser)
        parser.add_argument("--sizes", nargs="+", required=True, metavar="N", help="training-set sizes, e.g. 50 100 200 400")
        parser.add_argument("--labels", nargs="+", default=["human", "ai"], metavar="SOURCE",
                            help="label sources, one curve each: human, ai, ai:RUN_ID, mixed:SHARE")

    def handle(self, *args, **o):
        experiment = experiment_or_error(o["experiment"])
        try:
            sizes = sorted(set(_size(v) for v in o["sizes"]))
        except ValueError as exc:
            raise CommandError(f"--sizes: {exc}") from None
        available = PreferencePair.objects.filter(prompt__experiment=experiment, prompt__split="train").count()
        if sizes[-1] > available:
            raise CommandError(f"--sizes {sizes[-1]}: {experiment.slug} has only {available} training pairs")
        planned = plan_reward_sweep(experiment, o, o["labels"], "rm-curve", "--labels", curve_sizes=tuple(sizes))
        for run in planned:
            run = execute_with_bar(self, run, training.training_run_execute, quiet=o["verbosity"] == 0)
            curve = run.metrics.get("reward/accuracy_vs_pairs", [])
            points = ", ".join(f"{n} pairs {100 * acc:.1f} %" for n, acc, *_ in curve)
            self.stdout.write(f"reward-model curve #{run.pk} ({run.label_source}): {points}")
