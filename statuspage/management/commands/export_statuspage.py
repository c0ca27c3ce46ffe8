"""manage.py export_statuspage DIR: write the whole public status page as static files."""

import time

from django.core.management.base import BaseCommand, CommandError

from statuspage.export import ExportError, export_to


class Command(BaseCommand):
    help = (
        "Write the public status page (HTML, Statuspage v2 JSON, Atom feeds, assets) to DIR as static "
        "files, atomically: DIR becomes a symbolic link swapped to each new export. Serve it at /status/ "
        "(docs/statuspage.md has an nginx example)."
    )

    def add_arguments(self, parser):
        parser.add_argument("directory", metavar="DIR", help="where to export; a symbolic link the export owns")

    def handle(self, directory, **options):
        started = time.monotonic()
        try:
            count = export_to(directory)
        except (ExportError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Exported {count} files to {directory} in {time.monotonic() - started:.2f} s.")
