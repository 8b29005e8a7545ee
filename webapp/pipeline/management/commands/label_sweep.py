"""python manage.py label_sweep --experiment SLUG --limit N: the paper's Table 2 on the same pairs."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from pipeline.configs import LabelingConfig
from webapp.pipeline.management.commands.label import add_config_arguments, execute_with_bar, experiment_or_error
from webapp.pipeline.services import labeling


class Command(BaseCommand):
    help = "Label the same pairs with base/detailed preambles x 0/1/2 shots x CoT on/off and store the comparison."

    def add_arguments(self, parser):
        add_config_arguments(parser)
        parser.add_argument("--self-consistency", type=int, nargs="+", default=[], metavar="K",
                            help="also 0-shot CoT cells sampling K rationales at T = 1 per order (the paper's Appendix M)")
        parser.add_argument("--calibrate", action="store_true",
                            help="also run every cell with contextual calibration (the answer prior of a content-free "
                                 "sample divided out), to compare each cell with and without it")

    def handle(self, *args, **o):
        experiment = experiment_or_error(o["experiment"])
        try:
            base = LabelingConfig(
                task=experiment.task,
                precision=o["precision"],
                batch_size=o["batch_size"],
                max_rationale_tokens=o["max_rationale_tokens"],
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        try:
            sweep = labeling.labeling_sweep_create(
                experiment=experiment, split=o["split"], limit=o["limit"], model_spec=o["model"], base=base,
                self_consistency=tuple(o["self_consistency"]), calibrate=o["calibrate"],
            )
        except ValueError as exc:
            raise CommandError(f"--self-consistency: {exc}") from None
        runs = list(sweep.runs.order_by("id"))
        for index, run in enumerate(runs, start=1):
            c = run.config
            name = (f"[{index}/{len(runs)}] {c['preamble']} {c['shots']}-shot{' CoT' if c['cot'] else ''}"
                    f"{' x' + str(c['self_consistency']) if c.get('self_consistency', 1) > 1 else ''}"
                    f"{' calibrated' if c.get('calibrate') else ''}")
            execute_with_bar(self, run, quiet=o["verbosity"] == 0, label=name)
        table = labeling.labeling_sweep_table(sweep=sweep)
        self.stdout.write(f"labeling sweep #{sweep.pk} on {experiment.slug}/{sweep.split} ({table[0]['n']} pairs with human labels)")
        self.stdout.write(f"  {'preamble':9} {'shots':>5} {'CoT':>6} {'calib':>5} {'alignment':>10} {'pos-1 rate':>11} "
                          f"{'disagree':>9} {'copies':>7}")
        for row in table:
            cot = ("yes" if row["cot"] else "no") + (f" x{row['self_consistency']}" if row["self_consistency"] > 1 else "")
            self.stdout.write(
                f"  {row['preamble']:9} {row['shots']:>5} {cot:>6} {'yes' if row['calibrate'] else 'no':>5} "
                f"{_pct(row['alignment']):>10} {_pct(row['position1_rate']):>11} {_pct(row['order_disagreement']):>9} "
                f"{_pct(row['copy_rate']):>7}"
            )
        if o["json"]:
            self.stdout.write(json.dumps({"sweep_id": sweep.pk, "rows": table}))


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"
