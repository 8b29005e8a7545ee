"""python manage.py label --experiment SLUG [...]: AI-label an experiment's pairs and measure the labeler."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from pipeline.configs import PRECISION_ALIASES, PRECISIONS, LabelingConfig
from webapp.experiments.models import Experiment
from webapp.pipeline.management.commands._training import execute_with_bar as run_with_bar
from webapp.pipeline.models import LabelingRun
from webapp.pipeline.selectors import label_mass_warning
from webapp.pipeline.services import labeling

JSON_KEYS = ("n", "alignment", "alignment_ci", "position1_rate", "order_disagreement", "label_mass", "copy_rate", "calibration_prior")


def add_config_arguments(parser) -> None:
    parser.add_argument("--experiment", required=True, help="experiment slug")
    parser.add_argument("--split", choices=["train", "test"], default="train")
    parser.add_argument("--limit", type=int, help="label only the first N pairs")
    parser.add_argument("--model", help="labeler model spec (default: the experiment's labeler model)")
    parser.add_argument(
        "--precision",
        choices=[*PRECISIONS, *PRECISION_ALIASES],
        default="exact",
        help="exact: float32, the plain forward's numbers; bf16-mlp: the feed-forward matmuls in bfloat16 "
        "(faster, picks the same candidate on nearly every pair). 'fast' is a deprecated name of bf16-mlp, "
        "stored as bf16-mlp",
    )
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-rationale-tokens", type=int, default=64, help="cap on a chain-of-thought rationale")
    parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")


class Command(BaseCommand):
    help = "Label an experiment's preference pairs with the AI labeler; prints alignment, position bias, speed and cost."

    def add_arguments(self, parser):
        add_config_arguments(parser)
        parser.add_argument("--preamble", choices=["base", "detailed"], default="base")
        parser.add_argument("--shots", type=int, default=0)
        parser.add_argument("--cot", action="store_true", help="two-step chain of thought")
        parser.add_argument("--self-consistency", type=int, default=1, help="rationales sampled per order (needs --cot)")
        parser.add_argument("--temperature", type=float, default=1.0)
        parser.add_argument("--no-swap", action="store_true", help="score only the stored order")
        parser.add_argument("--calibrate", action="store_true",
                            help="contextual calibration: divide out the answer prior the prompt gives a content-free sample")
        parser.add_argument("--resume", type=int, metavar="RUN_ID", help="resume an interrupted run instead of starting one")

    def handle(self, *args, **o):
        experiment = experiment_or_error(o["experiment"])
        if o["resume"]:
            run = LabelingRun.objects.filter(pk=o["resume"], experiment=experiment).first()
            if run is None:
                raise CommandError(f"no labeling run #{o['resume']} in experiment {experiment.slug!r}")
        else:
            try:
                config = LabelingConfig(
                    task=experiment.task,
                    preamble=o["preamble"],
                    shots=o["shots"],
                    cot=o["cot"] or o["self_consistency"] > 1,
                    self_consistency=o["self_consistency"],
                    temperature=o["temperature"],
                    swap=not o["no_swap"],
                    calibrate=o["calibrate"],
                    precision=o["precision"],
                    batch_size=o["batch_size"],
                    max_rationale_tokens=o["max_rationale_tokens"],
                )
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            run = labeling.labeling_run_create(
                experiment=experiment, config=config, split=o["split"], model_spec=o["model"], limit=o["limit"]
            )
        run = execute_with_bar(self, run, quiet=o["verbosity"] == 0)
        print_run(self, run, as_json=o["json"])


def experiment_or_error(slug: str) -> Experiment:
    try:
        return Experiment.objects.get(slug=slug)
    except Experiment.DoesNotExist:
        raise CommandError(f"no experiment {slug!r}: import data with import_preferences first") from None


def execute_with_bar(command: BaseCommand, run: LabelingRun, *, quiet: bool = False, label: str = "") -> LabelingRun:
    return run_with_bar(command, run, labeling.labeling_run_execute, quiet=quiet, desc=label, unit="pair")


def _pct(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f} %"


def print_run(command: BaseCommand, run: LabelingRun, *, as_json: bool) -> None:
    m = run.metrics
    ci = m.get("alignment_ci") or [None, None]
    lines = [
        f"labeling run #{run.pk}: {run.progress_done} pairs of {run.experiment.slug}/{run.split} with {run.model_spec}",
        f"  alignment with human labels: {_pct(m.get('alignment'))} (95 % CI {_pct(ci[0])} to {_pct(ci[1])}, n={m.get('n')})",
        f"  position bias: {_pct(m.get('position1_rate'))} of single-order judgements chose position 1; "
        f"{_pct(m.get('order_disagreement'))} of pairs changed their answer when swapped",
        f"  mean label mass on '1'/'2': {_pct(m.get('label_mass'))}",
        f"  throughput: {m.get('engine/pairs_per_second') or 0:.2f} pairs/s; {run.tokens_per_label:.0f} tokens per label",
        f"  cost per 1,000 labels: AI ${run.ai_cost_per_1k_labels:.2f} vs human ${run.human_cost_per_1k_labels:.2f}",
    ]
    if m.get("copy_rate") is not None:
        lines.append(f"  exemplar copying: {_pct(m['copy_rate'])} of pairs answered {m.get('last_exemplar_answer')} "
                     "(the last exemplar's answer) in both orders")
    if m.get("calibration_prior") is not None:
        lines.append(f"  contextual calibration: the prompt alone gives P('1') = {m['calibration_prior']:.3f}, divided out")
    warning = label_mass_warning(m.get("label_mass"))
    if warning:
        lines.append(f"  WARNING: {warning}")
    for line in lines:
        command.stdout.write(line)
    if as_json:
        out = {key: m.get(key) for key in JSON_KEYS}
        out.update(
            pairs_per_second=m.get("engine/pairs_per_second"),
            run_id=run.pk,
            ai_cost_per_1k_labels=run.ai_cost_per_1k_labels,
            human_cost_per_1k_labels=run.human_cost_per_1k_labels,
        )
        command.stdout.write(json.dumps(out))
