from pathlib import Path

from django.core.management.base import BaseCommand

from runbooks import services
from runbooks.fileformat import render


class Command(BaseCommand):
    help = "Write the latest version of every runbook to DIR/<slug>.md (import then export round-trips)."

    def add_arguments(self, parser):
        parser.add_argument("dir")

    def handle(self, dir, **options):
        target = Path(dir)
        target.mkdir(parents=True, exist_ok=True)
        count = 0
        for version in services.library().prefetch_related("steps"):
            path = target / f"{version.runbook.slug}.md"
            tmp = path.with_suffix(".md.tmp")
            tmp.write_text(render(services.data_of(version)), encoding="utf-8", newline="\n")
            tmp.replace(path)
            count += 1
        self.stdout.write(f"{count} runbook(s) written to {target}.")
