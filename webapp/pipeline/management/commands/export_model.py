"""python manage.py export_model RUN_ID OUT_DIR [--force]"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from pipeline.data.exports import ExportError
from webapp.pipeline.services import exports


class Command(BaseCommand):
    help = ("Export a training run's model (reward model, SFT or policy) as a plain transformers checkpoint "
            "with LoRA merged, its tokenizer and a README.md model card.")

    def add_arguments(self, parser):
        parser.add_argument("run_id", type=int, help="a finished training run")
        parser.add_argument("out_dir", help="folder to write; must not exist or be empty")
        parser.add_argument("--force", action="store_true", help="replace a non-empty OUT_DIR")

    def handle(self, *args, run_id, out_dir, force, **options):
        started = time.perf_counter()
        try:
            target = exports.training_run_model_export(run_id=run_id, out=out_dir, force=force)
        except ExportError as exc:
            raise CommandError(f"export failed, nothing was written: {exc}") from None
        self.stdout.write(f"wrote training run #{run_id} to {target} in {time.perf_counter() - started:.2f} s")
