"""python manage.py label_compare --experiment SLUG --models A B [C ...]: the paper's Table 3.

Each labeler (a model spec, optionally ``SPEC@PRECISION``: ``smollm2-135m-instruct@bf16-mlp``)
labels the same pairs with the same settings; the comparison is stored as one sweep of kind
"models" and the alignment dashboard lines its rows up.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from pipeline.configs import PRECISION_ALIASES, PRECISIONS, LabelingConfig
from webapp.pipeline.management.commands.label import execute_with_bar, experiment_or_error
from webapp.pipeline.services import labeling


def labeler_arg(value: str) -> tuple[str, str]:
    spec, _, precision = value.rpartition("@") if "@" in value else (value, "", "exact")
    precision = PRECISION_ALIASES.get(precision, precision)
    if not spec or precision not in PRECISIONS:
        raise CommandError(f"--models {value!r}: write SPEC or SPEC@PRECISION with a precision of {', '.join(PRECISIONS)}")
    return spec, precision


class Command(BaseCommand):
    help = "Label the same pairs with the same settings by several labeler models (the paper's Table 3)."

    def add_arguments(self, parser):
        parser.add_argument("--experiment", required=True, help="experiment slug")
        parser.add_argument("--models", nargs="+", required=True, metavar="SPEC[@PRECISION]",
                            help="labelers: bundled names, checkpoint folders or hub ids (with ALLOW_MODEL_DOWNLOAD)")
        parser.add_argument("--split", choices=["train", "test"], default="test")
        parser.add_argument("--limit", type=int, help="label only the first N pairs")
        parser.add_argument("--preamble", choices=["base", "detailed"], default="base")
        parser.add_argument("--shots", type=int, default=0)
        parser.add_argument("--cot", action="store_true", help="two-step chain of thought")
        parser.add_argument("--batch-size", type=int, default=8)
        parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")

    def handle(self, *args, **o):
        experiment = experiment_or_error(o["experiment"])
        labelers = list(dict.fromkeys(labeler_arg(v) for v in o["models"]))
        try:
            base = LabelingConfig(task=experiment.task, preamble=o["preamble"], shots=o["shots"], cot=o["cot"],
                                  batch_size=o["batch_size"])
            sweep = labeling.labeling_compare_create(experiment=experiment, split=o["split"], limit=o["limit"],
                                                     labelers=labelers, base=base)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        runs = list(sweep.runs.order_by("id"))
        for index, run in enumerate(runs, start=1):
            execute_with_bar(self, run, quiet=o["verbosity"] == 0, label=f"[{index}/{len(runs)}] {run.model_spec} {run.config['precision']}")
        rows = []
        self.stdout.write(f"labeler comparison #{sweep.pk} on {experiment.slug}/{sweep.split}, same pairs and settings:")
        for run in runs:
            run.refresh_from_db()
            m = run.metrics
            rows.append({"run_id": run.pk, "model_spec": run.model_spec, "precision": run.config["precision"], "n": m.get("n"),
                         "alignment": m.get("alignment"), "position1_rate": m.get("position1_rate"),
                         "order_disagreement": m.get("order_disagreement"), "label_mass": m.get("label_mass")})
            self.stdout.write(f"  {run.model_spec} ({run.config['precision']}): alignment {_pct(m.get('alignment'))} "
                              f"on {m.get('n')} pairs, position-1 rate {_pct(m.get('position1_rate'))}, "
                              f"label mass {_pct(m.get('label_mass'))}")
        if o["json"]:
            self.stdout.write(json.dumps({"comparison_id": sweep.pk, "rows": rows}))


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"
