"""python manage.py export_labels RUN_ID OUT --format jsonl|parquet|hf [--ties drop|keep]"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from pipeline.data.exports import EXPORT_FORMATS, TIE_RULES, ExportError
from webapp.pipeline.services import exports


class Command(BaseCommand):
    help = "Export a labeling run's AI labels as TRL preference data (prompt, chosen, rejected, p, ...)."

    def add_arguments(self, parser):
        parser.add_argument("run_id", type=int)
        parser.add_argument("out", help="file to write (a folder for --format hf)")
        # Checked by the service, not argparse choices, so the message is the same as the API's.
        parser.add_argument("--format", dest="fmt", default="jsonl", help=f"one of {', '.join(EXPORT_FORMATS)}")
        parser.add_argument("--ties", default="drop", help=f"one of {', '.join(TIE_RULES)}: pairs with p == 0.5")

    def handle(self, *args, run_id, out, fmt, ties, **options):
        started = time.perf_counter()
        try:
            count = exports.labeling_run_export(run_id=run_id, out=out, fmt=fmt, ties=ties)
        except ExportError as exc:
            raise CommandError(f"export failed, nothing was written: {exc}") from None
        self.stdout.write(f"wrote {count} records of labeling run #{run_id} to {out} ({fmt}) in {time.perf_counter() - started:.2f} s")
