"""The demo's second status page (make run): "Enterprise customers", private, showing the
Platform components, with one access link for a demo customer, and the demo's customer
recipient list following its subscribers. Idempotent.

The access link's token is shown once and only its hash is stored, so `make run` keeps it in a
file (`--token-file`, mode 0600) to print the link at every start; a missing file or a revoked
link gets a new one."""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from incidents.models import RecipientList
from statuspage import pages, services
from statuspage.models import PageAccessLink, StatusPage, hash_access_token

SLUG = "enterprise"
LABEL = "Demo customer (Acme)"


class Command(BaseCommand):
    help = "Load the demo's private status page and an access link to it; print the link (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--token-file", required=True, help="Where the access link's token is kept")

    @transaction.atomic
    def handle(self, token_file, **options):
        sam = get_user_model().objects.filter(username="sam").first()
        if sam is None:
            self.stderr.write("Load the demo first (manage.py load_demo).")
            return
        page = StatusPage.objects.filter(slug=SLUG).first()
        if page is None:
            page = services.save_page(
                sam, name="Enterprise customers", slug=SLUG, groups=["Platform"], visibility="private"
            )
            RecipientList.objects.filter(name="Enterprise customers", follows_page=None).update(follows_page=page.pk)
        if not page.is_private:
            self.stderr.write(f"The page “{page.slug}” is not private: no access link made.")
            return
        path = Path(token_file)
        token = path.read_text().strip() if path.exists() else ""
        if (
            not token
            or not PageAccessLink.objects.filter(
                page=page, token_hash=hash_access_token(token), revoked_at__isnull=True
            ).exists()
        ):
            _link, token = services.create_access_link(sam, page, label=LABEL)
            path.write_text(token)
            path.chmod(0o600)
        self.stdout.write(f"{pages.url(page)}?{pages.ACCESS_PARAMETER}={token}")
