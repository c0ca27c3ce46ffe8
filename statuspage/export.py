"""The static export: the whole public status page as files, for a CDN, a bucket or nginx to
serve while the app itself is down (docs/statuspage.md).

`export_to(DIR)` writes every public document (HTML pages, every Statuspage v2 JSON endpoint,
the Atom feeds, the assets they use) at the same paths as the app serves them under /status/,
from one PublicState, so the files agree with each other, each with a gzipped copy next to it
(`name.gz`, for nginx's `gzip_static`). It is atomic for readers: the files
are written into a fresh sibling directory, and DIR is a symbolic link that is swapped to it
with one rename. A reader following DIR sees the old export or the new one, never a mix of
half-written files. The previous export is kept (a reader may be between resolving the link
and opening a file in it); older ones are removed.

Exports are serialised with a lock file next to DIR, so the publish task and an operator's
`manage.py export_statuspage` can run at the same time.

Each export records the content version it was built from and when its documents stop being
true by the clock alone (VERSION_FILE, inside the export). `export_if_changed(DIR)` re-exports
only when the current content version differs or that time has passed: the sweep and a nudge
after every write call it, so whatever code path changed the public content, the export
follows within seconds, and nothing else ever rewrites it.
"""

import fcntl
import gzip
import os
import secrets
import shutil
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.utils import timezone, translation

from . import pages
from .public import PublicState
from .views import ASSETS, Documents, asset_file_name, asset_source, content_version, ui_language

MARKER = ".statuspage-export"
VERSION_FILE = ".statuspage-version"  # "<content version>\n<valid until, ISO 8601>\n"
KEEP_PREVIOUS = 1


class ExportError(Exception):
    pass


def export_to(path, only_if_changed=False):
    """Export the public status page to `path` (which becomes a symlink to the new export).
    Returns the number of files written; 0 when `only_if_changed` and the export there is
    already of the current content (and still true by the clock)."""
    target = Path(os.path.abspath(path))
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    _check_target(target)
    with _locked(parent / f".{target.name}.lock"):
        # Read before the content is: a change committed in between is in the files but not in
        # this version, so the next check exports again (never the other way round).
        version = content_version()
        if only_if_changed and is_current(target, version):
            return 0
        generation = parent / f".{target.name}.gen-{timezone.now():%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"
        generation.mkdir(mode=0o755)
        try:
            count = write_export(generation, version)
            _fsync_dir(generation)
            _swap(target, generation)
        except BaseException:
            shutil.rmtree(generation, ignore_errors=True)
            raise
        _remove_old(target, generation)
    return count


def export_if_changed(path):
    """Export to `path` if the public content changed since the export there was built (or the
    clock has moved past what it shows). Returns the number of files written, 0 if none."""
    return export_to(path, only_if_changed=True)


def is_current(target, version, now=None):
    """Whether the export at `target` was built from `version` and is still true by the clock."""
    try:
        recorded, valid_until = (Path(target) / VERSION_FILE).read_text().split()[:2]
        valid_until = datetime.fromisoformat(valid_until)
    except (OSError, ValueError):  # no export yet, or one older than the version file
        return False
    return recorded == version and (now or timezone.now()) < valid_until


def write_export(directory, version=None):
    """Write every public page's documents and the assets into `directory` (which must exist):
    the default page at the top, each other public page under p/<slug>/ (its path in the app).
    A private page is never exported. Returns the count."""
    directory = Path(directory)
    version = version or content_version()
    pages.recent_pages.forget()  # the pages as they are now, as the version read them
    count = 0
    valid_until = []
    for page in pages.public_pages():
        state = PublicState(page=page)
        documents = Documents(state, static_export=True)
        folder = directory if page.is_default else directory / "p" / page.slug
        with (
            timezone.override(timezone.get_default_timezone()),
            translation.override(ui_language(page.language or settings.LANGUAGE_CODE)),
        ):
            for path in documents.paths():
                body, _content_type = documents.render(path)
                _write_served(folder / file_for(path), body)
                count += 1
        valid_until.append(state.valid_until())
    for name in ASSETS:
        with open(asset_source(name), "rb") as source:
            _write_served(directory / "assets" / asset_file_name(name), source.read())
        count += 1
    _write(directory / MARKER, f"{timezone.now().isoformat()}\n".encode())
    _write(directory / VERSION_FILE, f"{version}\n{min(valid_until).isoformat()}\n".encode())
    return count


def file_for(path):
    """The file of a document path: pages are directories with an index.html, as a web server's
    try_files expects."""
    if path == "" or path.endswith("/"):
        return path + "index.html"
    return path


def _write_served(file, body):
    """A served file and its gzipped copy next to it (`name.gz`), for nginx's `gzip_static`:
    compressing once here instead of on every request is what lets a plain web server serve
    the export at the speed of a plain file (docs/statuspage.md). Every exported file is text
    (HTML, JSON, Atom, CSS, JS, SVG). mtime=0: the same content gives the same bytes."""
    _write(file, body)
    _write(file.with_name(file.name + ".gz"), gzip.compress(body, compresslevel=9, mtime=0))


def _write(file, body):
    file.parent.mkdir(parents=True, exist_ok=True)
    with open(file, "wb") as f:
        f.write(body)
        f.flush()
        os.fsync(f.fileno())  # on disk before the swap makes it visible
    os.chmod(file, 0o644)


def _fsync_dir(directory):
    for folder, _dirs, _files in os.walk(directory):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _check_target(target):
    if target.is_symlink() or not target.exists():
        return
    if target.is_dir() and not any(target.iterdir()):
        return  # an empty directory (e.g. made by a deploy script) is replaced by the link
    raise ExportError(
        f"{target} exists and is not a link made by an earlier export. The export owns this path "
        "(it becomes a symbolic link to the newest export): move it away or choose a path inside it."
    )


def _swap(target, generation):
    if target.is_dir() and not target.is_symlink():
        target.rmdir()  # empty, checked above: nothing to read in it anyway
    link = target.parent / f".{target.name}.link-{secrets.token_hex(4)}"
    os.symlink(generation.name, link)  # relative: still right where the parent is mounted elsewhere
    try:
        os.replace(link, target)  # one rename: readers see the old export or the new one
    except BaseException:
        link.unlink(missing_ok=True)
        raise
    _fsync_dir_only(target.parent)


def _fsync_dir_only(directory):
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_old(target, current):
    """Remove exports older than the previous one, and links left by an interrupted swap."""
    prefix = f".{target.name}."
    generations = []
    for entry in target.parent.iterdir():
        if not entry.name.startswith(prefix) or entry == current:
            continue
        if entry.name.startswith(prefix + "link-") and entry.is_symlink():
            entry.unlink(missing_ok=True)
        elif entry.name.startswith(prefix + "gen-") and entry.is_dir() and not entry.is_symlink():
            generations.append(entry)
    generations.sort(key=lambda p: p.name, reverse=True)  # names start with the export time
    for old in generations[KEEP_PREVIOUS:]:
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def _locked(lock_file):
    with open(lock_file, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
