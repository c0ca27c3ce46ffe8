import secrets
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the 'admin' superuser with a generated password if it does not exist."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--password-file", required=True, help="Where the generated password is kept (mode 600)")

    def handle(self, username, password_file, **options):
        User = get_user_model()
        path = Path(password_file)
        user = User.objects.filter(username=username).first()
        if user and path.exists():
            return
        password = secrets.token_urlsafe(12)
        if user is None:
            user = User.objects.create_superuser(username=username, email="", password=password)
        else:
            user.set_password(password)
            user.save(update_fields=["password"])
        path.write_text(password + "\n")
        path.chmod(0o600)
        self.stdout.write(f"Admin {username!r} ready; password written to {path}.")
