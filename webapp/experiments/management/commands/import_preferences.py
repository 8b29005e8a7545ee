"""python manage.py import_preferences PATH --experiment SLUG --format FORMAT --split train|test"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_slug
from tqdm import tqdm

from pipeline.data import FORMATS, HIGH_CONFIDENCE_STRENGTH, SPLITS, ImportFormatError
from pipeline.progress import Progress
from webapp.experiments import services
from webapp.experiments.models import Experiment


class Command(BaseCommand):
    help = "Import a preference file (hh, tldr-comparisons, jsonl, csv, or hf: a datasets folder or Parquet file) into an experiment, all or nothing."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--experiment", required=True, help="slug of the experiment (created if missing with --task)")
        parser.add_argument("--format", required=True, dest="fmt", help=f"one of {', '.join(FORMATS)}")
        parser.add_argument("--split", choices=SPLITS, help="split for rows that do not name one")
        parser.add_argument("--task", choices=["summarization", "helpful", "harmless"], help="task of a new experiment")
        parser.add_argument("--seed", type=int, default=0, help="seed of the candidate-order shuffle (hh, chosen/rejected)")
        parser.add_argument(
            "--min-confidence",
            type=float,
            help="keep pairs whose 1-9 confidence is at least this far from 5 (3 keeps 1, 2, 8, 9)",
        )
        parser.add_argument("--high-confidence", action="store_true", help="the paper's filter: confidence 1, 2, 8 or 9")
        parser.add_argument("--columns", default="", help="our names = the file's, for jsonl/csv/hf: prompt=question,chosen=good,rejected=bad")
        parser.add_argument("--json", action="store_true", help="print one JSON object as the last line")

    def handle(self, *args, path, experiment, fmt, split, task, seed, min_confidence, high_confidence, json, columns, **options):
        mapping = column_mapping(columns)
        is_new = not Experiment.objects.filter(slug=experiment).exists()
        exp = self._experiment(experiment, task, fmt)
        if high_confidence:
            min_confidence = max(min_confidence or 0, HIGH_CONFIDENCE_STRENGTH)
        bar = tqdm(desc=f"importing {path}", unit="pair", disable=options["verbosity"] == 0, file=self.stderr._out)

        def progress(report: Progress) -> None:
            bar.total = report.phase_total
            bar.n = report.phase_done
            bar.refresh()

        try:
            result = services.preferences_import(
                experiment=exp,
                path=path,
                fmt=fmt,
                split=split,
                seed=seed,
                min_confidence=min_confidence,
                on_progress=progress,
                columns=mapping,
            )
        except ImportFormatError as exc:
            if is_new:  # "nothing was imported" includes the experiment this command made for it
                Experiment.objects.filter(pk=exp.pk, prompts__isnull=True).delete()
            raise CommandError(f"import failed, nothing was imported: {exc}") from None
        finally:
            bar.close()
        self.stdout.write(services.import_summary(result))
        if json:
            self.stdout.write(services.import_json(result))

    def _experiment(self, slug: str, task: str | None, fmt: str) -> Experiment:
        try:
            return Experiment.objects.get(slug=slug)
        except Experiment.DoesNotExist:
            pass
        try:
            validate_slug(slug)  # it goes into every address of the experiment's pages
        except ValidationError:
            raise CommandError(f"{slug!r} is not a valid experiment slug: use letters, digits, '-' and '_' only") from None
        if task is None:
            task = {"tldr-comparisons": "summarization", "hh": "harmless"}.get(fmt)
        if task is None:
            raise CommandError(f"experiment {slug!r} does not exist: create it in the admin or pass --task")
        return Experiment.objects.create(slug=slug, name=slug, task=task)


def column_mapping(text: str) -> dict[str, str]:
    """"prompt=question,chosen=good" -> {"prompt": "question", "chosen": "good"}."""
    mapping = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        ours, sep, theirs = part.partition("=")
        if not sep or not ours.strip() or not theirs.strip():
            raise CommandError(f"--columns: {part!r} is not OURS=THEIRS (e.g. prompt=question)")
        mapping[ours.strip()] = theirs.strip()
    return mapping
