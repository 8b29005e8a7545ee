"""python manage.py create_lab_users: a staff user and a rater user for the embedded lab."""

from django.conf import settings
from django.core.management.base import BaseCommand

from webapp.experiments import accounts


class Command(BaseCommand):
    help = "Create (once) the staff user `admin` and the rater user `rater`, and print their passwords."

    def add_arguments(self, parser):
        parser.add_argument("--base-url", default="http://127.0.0.1:8000", help="the lab's address, for the message")

    def handle(self, *args, **options):
        credentials = accounts.lab_users_ensure(credentials_file=settings.VAR_DIR / "credentials.json")
        self.stdout.write(f"Log in at {options['base_url'].rstrip('/')}/ with:")
        for user in credentials:
            self.stdout.write(f"  {user['role']:6}  username: {user['username']:8}  password: {user['password']}")
