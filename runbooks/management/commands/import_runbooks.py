from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from runbooks import services
from runbooks.fileformat import RunbookFileError, parse
from runbooks.models import Runbook


class Command(BaseCommand):
    help = (
        "Create or update runbooks from Markdown files with YAML front matter (a file or a folder "
        "of *.md). A changed file makes a new version; an unchanged file makes none. A malformed "
        "file is reported with its name, line and reason, and nothing from it is imported; the "
        "good files are imported all the same, and the command then fails."
    )

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument(
            "--new-only",
            action="store_true",
            help="Only create runbooks whose slug is not in the library yet; leave existing ones as they "
            "are (for seeding the starter library without undoing edits made since).",
        )

    def handle(self, path, new_only=False, **options):
        root = Path(path)
        if root.is_dir():
            files = sorted(p for p in root.rglob("*.md") if p.is_file())
        elif root.is_file():
            files = [root]
        else:
            raise CommandError(f"{path}: no such file or folder")
        errors, by_slug = [], {}
        for file in files:
            try:
                text = file.read_text(encoding="utf-8")
                data = parse(text, str(file))
            except RunbookFileError as exc:
                errors.append(str(exc))
                continue
            except UnicodeDecodeError:
                errors.append(f"{file}:1: not UTF-8 text")
                continue
            by_slug.setdefault(data.slug, []).append((file, text, data))
        parsed = []
        for slug, claims in by_slug.items():
            if len(claims) == 1:
                file, _, data = claims[0]
                parsed.append((file, data))
                continue
            # Which of two files is the real one is not ours to guess: neither is imported.
            for file, text, _ in claims:
                others = ", ".join(str(f) for f, _, _ in claims if f != file)
                errors.append(f"{file}:{_line(text, 'slug')}: duplicate slug {slug!r}, also used by {others}")
        created = unchanged = 0
        if new_only:
            existing = set(Runbook.objects.filter(slug__in=[d.slug for _, d in parsed]).values_list("slug", flat=True))
            unchanged += sum(1 for _, d in parsed if d.slug in existing)
            parsed = [(file, data) for file, data in parsed if data.slug not in existing]
        for file, data in sorted(parsed, key=lambda pair: pair[0]):
            try:
                version, made = services.save_runbook(None, data)
            except ValidationError as exc:
                field, messages = next(iter(exc.message_dict.items()))
                errors.append(f"{file}:{_line(file.read_text(encoding='utf-8'), field)}: {' '.join(messages)}")
                continue
            if made:
                created += 1
                self.stdout.write(f"{file}: {data.slug} v{version.number}")
            else:
                unchanged += 1
        self.stdout.write(
            f"{created} new version(s), {unchanged} unchanged{' or existing' if new_only else ''}, "
            f"{len(errors)} file(s) with errors."
        )
        if errors:
            for error in sorted(errors):
                self.stderr.write(error)
            raise CommandError(f"{len(errors)} file(s) could not be imported.")


def _line(text, key):
    """The line where a front-matter key is set (1 when it is not in the file)."""
    for number, line in enumerate(text.split("\n"), 1):
        if line.strip().startswith(f"{key}:"):
            return number
    return 1
