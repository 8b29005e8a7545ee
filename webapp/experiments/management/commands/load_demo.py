"""python manage.py load_demo: the demo experiments `demo`, `demo-summarize` and `demo-helpful` (idempotent)."""

from django.core.management.base import BaseCommand

from webapp.experiments import services


class Command(BaseCommand):
    help = "Create the demo experiments and import their pairs; a second run changes nothing."

    def handle(self, *args, **options):
        for result in services.demo_load():
            self.stdout.write(services.import_summary(result))
