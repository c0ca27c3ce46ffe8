from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from incidents.credentials import issue_token, revoke_tokens
from incidents.models import ApiToken


class Command(BaseCommand):
    help = "Issue an API token for a user and print its key: the key is shown this once (only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--expires-in-days", type=int, help="Refuse the token after so many days (default: never)")
        parser.add_argument("--replace", action="store_true", help="End the user's other tokens first")
        parser.add_argument("--name", default="API token", help="What the token is for (shown on the tokens page)")
        parser.add_argument("--read-only", action="store_true", help="Refuse anything but GET, HEAD and OPTIONS")

    def handle(self, username, expires_in_days, replace, name, read_only, **options):
        User = get_user_model()
        user = User.objects.filter(**{User.USERNAME_FIELD: username}).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        if not user.is_active:
            raise CommandError(f"{username!r} is deactivated: a token would be refused.")
        if expires_in_days is not None and expires_in_days < 1:
            raise CommandError("--expires-in-days must be at least 1.")
        if replace:
            ended = revoke_tokens(user)
            if ended:
                self.stderr.write(f"Ended {ended} earlier token(s) of {username!r}.")
        expires_at = timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None
        scope = ApiToken.Scope.READ if read_only else ApiToken.Scope.READ_WRITE
        _, key = issue_token(user, expires_at=expires_at, name=name[:100], scope=scope)
        self.stdout.write(key)
