"""The HTML of timeline entries, remembered by each process.

Drawing the newest 100 entries through incidents/_entry.html was most of the war room's server
time on a long incident (bench/warroom.py). An entry's HTML is a function of what it shows (text,
kind, times, author, earlier versions), of the incident's declared date and id, of the reader's
language and time zone, and of two facts about the reader (may command, wrote it) that decide
the edit link. A system line's text is drawn from its stored line in the reader's language
(TimelineEntry.text): pk and `seq` fix the line, the language picks its translation, so the key
below covers it. Each process keeps recent results keyed by exactly those values, the way
incidents.markup keeps rendered Markdown: an edit changes the text, `seq` and `edited_at`, a
switch of language or zone changes the key, so a remembered copy is never out of date and
nothing needs invalidating, in this process or any other. A deploy starts new processes, so a
changed template is never served from an old copy either.
"""

import threading
from collections import OrderedDict

from django.db.models import Prefetch, prefetch_related_objects
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.safestring import mark_safe

from incidents.models import TimelineRevision

# About 1.5 KB of HTML per ordinary entry: a few MB per process at most. Longer entries (a
# pasted log) are rendered each time rather than crowding out a page's worth of short ones.
REMEMBERED_ENTRIES = 4096
REMEMBERED_LENGTH = 20_000


class _Remembered:
    """A thread-safe LRU of rendered entries (gunicorn threads share a process)."""

    def __init__(self, size):
        self.size = size
        self.items = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key):
        with self.lock:
            html = self.items.get(key)
            if html is not None:
                self.items.move_to_end(key)
            return html

    def put(self, key, html):
        with self.lock:
            self.items[key] = html
            self.items.move_to_end(key)
            while len(self.items) > self.size:
                self.items.popitem(last=False)

    def clear(self):
        with self.lock:
            self.items.clear()


remembered = _Remembered(REMEMBERED_ENTRIES)


def _username(user):
    return user.get_username() if user is not None else None


def _key(entry, incident, reader, can_command, fresh, oob, language, zone):
    revisions = ()
    if entry.edited_at is not None:  # the template shows earlier versions of edited entries only
        revisions = tuple((r.pk, r.body, r.replaced_at, _username(r.replaced_by)) for r in entry.revisions.all())
    return (
        entry.pk,
        entry.seq,
        entry.kind,
        entry.body,
        entry.occurred_at,
        entry.recorded_at,
        entry.edited_at,
        getattr(entry, "linked_communication", None),  # a comms line links to its communication
        _username(entry.author),
        revisions,
        incident.pk,
        incident.declared_at,
        language,
        zone,
        bool(can_command),
        entry.author_id == reader.pk,
        bool(fresh),
        bool(oob),
    )


def render_entries(entries, *, incident, reader, can_command, fresh=False, oob=False):
    """The <li> of each entry (incidents/_entry.html), in order, as one piece of safe HTML.

    `entries` come with their author (select_related); the earlier versions of edited ones are
    loaded here, in one query when there are any."""
    edited = [e for e in entries if e.edited_at is not None]
    if edited:
        prefetch_related_objects(edited, _revisions_with_authors())
    language, zone = translation.get_language(), timezone.get_current_timezone_name()
    parts = []
    for entry in entries:
        key = _key(entry, incident, reader, can_command, fresh, oob, language, zone)
        html = remembered.get(key)
        if html is None:
            context = {
                "entry": entry,
                "incident": incident,
                "user": reader,
                "can_command": can_command,
                "fresh": fresh,
                "oob": oob,
            }
            html = str(render_to_string("incidents/_entry.html", context))
            if len(html) <= REMEMBERED_LENGTH:
                remembered.put(key, html)
        parts.append(html)
    return mark_safe("".join(parts))  # noqa: S308 - each part is the template's autoescaped output


def _revisions_with_authors():
    return Prefetch("revisions", queryset=TimelineRevision.objects.select_related("replaced_by"))
