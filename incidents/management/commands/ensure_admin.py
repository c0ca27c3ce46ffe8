import secrets
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Create the 'admin' superuser with a generated password if it does not exist. With --group, "
        "the account is an ordinary one in that group instead (make run's second comms member, who "
        "approves what the admin writes)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--password-file", required=True, help="Where the generated password is kept (mode 600)")
        parser.add_argument("--group", help="Not a superuser: an ordinary account in this group (e.g. comms)")

    def handle(self, username, password_file, group=None, **options):
        User = get_user_model()
        path = Path(password_file)
        user = User.objects.filter(username=username).first()
        if user and path.exists():
            return
        password = secrets.token_urlsafe(12)
        if user is None and group:
            user = User.objects.create_user(username=username, email="", password=password)
        elif user is None:
            user = User.objects.create_superuser(username=username, email="", password=password)
        else:
            user.set_password(password)
            user.save(update_fields=["password"])
        if group:
            user.groups.add(Group.objects.get_or_create(name=group)[0])
        path.write_text(password + "\n")
        path.chmod(0o600)
        self.stdout.write(f"{'Account' if group else 'Admin'} {username!r} ready; password written to {path}.")
