"""python manage.py prepare_model [SPEC]: convert the bundled model once, or check a spec resolves."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from pipeline import registry


class Command(BaseCommand):
    help = "Convert a bundled GGUF model to a safetensors checkpoint under ARTIFACT_ROOT (once), or check a spec."

    def add_arguments(self, parser):
        parser.add_argument("spec", nargs="?", default=None, help="model spec (default: DEFAULT_MODEL_SPEC)")
        parser.add_argument("--force", action="store_true", help="convert again even if the checkpoint exists")

    def handle(self, *args, spec, force, **options):
        spec = spec or settings.DEFAULT_MODEL_SPEC
        bar = tqdm(total=3, desc=f"preparing {spec}", unit="step", file=self.stderr._out)

        def progress(step: str, done: int, total: int) -> None:
            bar.set_postfix_str(step)
            bar.n = done
            bar.refresh()

        try:
            resolved = registry.prepare(
                spec,
                settings.ARTIFACT_LOCAL,
                allow_download=settings.ALLOW_MODEL_DOWNLOAD,
                force=force,
                on_progress=progress,
            )
        except registry.ModelNotFound as exc:
            raise CommandError(str(exc)) from None
        finally:
            bar.n = bar.total
            bar.close()
        self.stdout.write(f"{spec}: ready ({resolved.kind}) at {resolved.location}")
