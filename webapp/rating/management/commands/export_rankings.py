"""python manage.py export_rankings ROUND_ID OUT --format jsonl|parquet|hf [--include-gold] [--include-excluded]"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from pipeline.data.exports import EXPORT_FORMATS, ExportError
from webapp.rating import exports


class Command(BaseCommand):
    help = "Export a rating round's human rankings as pairwise preferences (prompt, chosen, rejected, rater, positions)."

    def add_arguments(self, parser):
        parser.add_argument("round_id", type=int)
        parser.add_argument("out", help="file to write (a folder for --format hf)")
        parser.add_argument("--format", dest="fmt", default="jsonl", help=f"one of {', '.join(EXPORT_FORMATS)}")
        parser.add_argument("--include-gold", action="store_true", help="keep gold items (left out by default)")
        parser.add_argument("--include-excluded", action="store_true", help="keep raters excluded from the round")

    def handle(self, *args, round_id, out, fmt, include_gold, include_excluded, **options):
        try:
            count = exports.round_preferences_export(
                round_id=round_id, out=out, fmt=fmt, include_gold=include_gold, include_excluded=include_excluded
            )
        except ExportError as exc:
            raise CommandError(f"export failed, nothing was written: {exc}") from None
        self.stdout.write(f"wrote {count} preference pairs of rating round #{round_id} to {out} ({fmt})")
