"""The public status page under /status/: HTML pages, Statuspage v2 JSON and Atom feeds.

Who may see it: everyone, signed in or not. What it shows comes only from
statuspage.public.PublicState, which admits public services and non-confidential incidents
with a published status-page update, and nothing else.

Every public document has a path under /status/ ("" for the page itself, "history/",
"incidents/<id>/", "api/v2/summary.json", "feed.atom", ...). `Documents` renders any of them
from one PublicState; the views serve them from a cache, and the static export
(statuspage.export) writes all of them to disk, so the app and the export show the same thing.

Caching: a document is built once per content version, a digest of the public content itself
(a few small queries over public fields of public rows, statuspage.public.content_digest), and
kept in Django's cache (shared by every web process) and in a small per-process memo in front of
it, until the version changes or the clock alone would change it (a maintenance window opens, a
new day on the history bars). Writes the public cannot see (a private note, a confidential
incident) leave the version, and so every built document, as it was. A hot request costs at
most the version's queries, read at most once a second per process. If the shared cache is down
(incidents.shared_cache), documents are built from the database and kept in the memo alone, so
the page still answers, current. Responses carry an ETag
(a hash of the body) and a short public Cache-Control with stale-if-error, so a CDN keeps
answering while the app is down.
"""

import gzip
import hashlib
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from django.conf import settings
from django.conf.locale import LANG_INFO
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.cache import cache, caches
from django.core.cache.backends.db import DatabaseCache
from django.db import DatabaseError
from django.http import Http404, HttpResponse, HttpResponseNotModified
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.feedgenerator import Atom1Feed
from django.utils.html import escape
from django.utils.http import parse_etags
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.utils.translation.trans_real import parse_accept_lang_header
from django.views.decorators.http import require_safe

from incidents import shared_cache
from incidents.durations import zoned
from incidents.markup import render_markdown
from incidents.models import Communication, CommunicationTranslation, Impact, Incident, Mitigation, Service

from . import pages
from .models import Maintenance, StatusPage
from .public import PublicState, content_digest, primary_subtag

CACHE_CONTROL = "public, max-age=30, stale-while-revalidate=30, stale-if-error=86400"
# A private page's documents: never kept by a CDN or a shared proxy.
PRIVATE_CACHE_CONTROL = "private, no-store"
# However stable the data, a built document is rebuilt at least this often (seconds): a deploy
# with new templates shows within minutes even on a shared cache.
LONGEST_REUSE = 300
# How long the last good copy of a document is kept, to be served while the database is down.
LAST_GOOD_SECONDS = 86400
# The page's own strings exist in these languages (statuspage/locale); update bodies in any
# language their translations were written in.
UI_LANGUAGES = ("en", "zh-hans")
PUBLIC_ID = re.compile(r"^[a-z0-9]{12}$")
log = logging.getLogger(__name__)

JSON_DOCUMENTS = {
    "api/v2/summary.json": lambda s: s.summary(),
    "api/v2/status.json": lambda s: s.status_json(),
    "api/v2/components.json": lambda s: s.components_json(),
    "api/v2/incidents.json": lambda s: s.incidents_json(),
    "api/v2/incidents/unresolved.json": lambda s: s.incidents_json(unresolved=True),
    "api/v2/scheduled-maintenances.json": lambda s: s.maintenances_json(),
    "api/v2/scheduled-maintenances/upcoming.json": lambda s: s.maintenances_json("upcoming"),
    "api/v2/scheduled-maintenances/active.json": lambda s: s.maintenances_json("active"),
}

LEVEL_LABELS = {
    "operational": gettext_lazy("Operational"),
    "under_maintenance": gettext_lazy("Under maintenance"),
    "degraded_performance": gettext_lazy("Degraded performance"),
    "partial_outage": gettext_lazy("Partial outage"),
    "major_outage": gettext_lazy("Major outage"),
}
STATUS_LABELS = {
    "investigating": gettext_lazy("Investigating"),
    "identified": gettext_lazy("Identified"),
    "monitoring": gettext_lazy("Monitoring"),
    "resolved": gettext_lazy("Resolved"),
    "postmortem": gettext_lazy("Postmortem"),
    "scheduled": gettext_lazy("Scheduled"),
    "in_progress": gettext_lazy("In progress"),
    "verifying": gettext_lazy("Verifying"),
    "completed": gettext_lazy("Completed"),
}
IMPACT_LABELS = {
    "none": gettext_lazy("No impact"),
    "minor": gettext_lazy("Minor"),
    "major": gettext_lazy("Major"),
    "critical": gettext_lazy("Critical"),
    "maintenance": gettext_lazy("Maintenance"),
}
LEVEL_CODES = {  # short CSS classes of the history bars' days (status.css)
    "operational": "op",
    "under_maintenance": "um",
    "degraded_performance": "dp",
    "partial_outage": "po",
    "major_outage": "mo",
}
DESCRIPTIONS = {  # Statuspage's description strings, as the page's one sentence
    "All Systems Operational": gettext_lazy("All Systems Operational"),
    "Partially Degraded Service": gettext_lazy("Partially Degraded Service"),
    "Degraded System Service": gettext_lazy("Degraded System Service"),
    "Minor Service Outage": gettext_lazy("Minor Service Outage"),
    "Partial System Outage": gettext_lazy("Partial System Outage"),
    "Major System Outage": gettext_lazy("Major System Outage"),
    "Major Service Outage": gettext_lazy("Major Service Outage"),
    "Service Under Maintenance": gettext_lazy("Service Under Maintenance"),
}


@dataclass(frozen=True)
class Document:
    body: bytes
    content_type: str
    etag: str  # quoted, strong: a hash of the body
    gzipped: bytes | None = None

    @classmethod
    def of(cls, body, content_type):
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        gzipped = gzip.compress(body, compresslevel=6, mtime=0) if len(body) > 1024 else None
        return cls(body, content_type, etag, gzipped)

    @property
    def gzip_etag(self):
        return self.etag[:-1] + '-gz"'


# Rendering -------------------------------------------------------------------------------------


def page_path(kind, public_id=None, base="/status/"):
    """The URL path of a public page under a status page's base path (statuspage.pages.base_path:
    /status/ for the default page), the same in the app and the export."""
    paths = {
        "index": base,
        "history": f"{base}history/",
        "incident": f"{base}incidents/{public_id}/",
        "maintenance": f"{base}maintenance/{public_id}/",
        "component_feed": f"{base}components/{public_id}/feed.atom",
        "feed": f"{base}feed.atom",
    }
    return paths[kind]


def subscribe_url(page=None):
    if page is not None and not page.is_default:
        return pages.base_path(page) + "subscribe/"
    try:
        return reverse("statuspage:subscribe")
    except NoReverseMatch:  # the subscription views are not mounted (yet)
        return "/status/subscribe/"


def when(value):
    """A time for a <time> element: ISO 8601 for the visitor's browser to convert (static JS),
    and the page's own zone as the text until it does (or without JavaScript)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    local = timezone.localtime(value, timezone.get_default_timezone())
    return {"iso": local.isoformat(timespec="seconds"), "text": zoned(local, "j M Y H:i", local.tzinfo)}


def uptime_text(value):
    """An uptime percentage as the page shows it: "100%", "99.5%", "99.95%"."""
    return f"{value:.2f}".rstrip("0").rstrip(".") + "%"


class Documents:
    """Every public document of the status page, rendered from one PublicState."""

    def __init__(self, state, static_export=False):
        self.state = state
        self.static_export = static_export
        self.page = state.status_page
        self.base = pages.base_path(self.page)
        self.site = pages.site_url(self.page)
        self._incidents = {i.public.public_id: i for i in state.incidents}
        self._maintenances = {m.public_id: m for m in state.maintenances}
        self._components = {c.id: c for c in state.components}
        self._incident_json = {}
        self._markdown = {}  # the same bodies appear on several pages and feeds of one export

    # What exists -----------------------------------------------------------------------------

    def paths(self):
        """The path of every document, as the static export writes them."""
        yield ""
        yield "history/"
        yield from JSON_DOCUMENTS
        yield "feed.atom"
        for public_id in self._incidents:
            yield f"incidents/{public_id}/"
        for public_id in self._maintenances:
            yield f"maintenance/{public_id}/"
        for public_id in self._components:
            yield f"components/{public_id}/feed.atom"

    def ids(self):
        return {
            "incidents": sorted(self._incidents),
            "maintenance": sorted(self._maintenances),
            "components": sorted(self._components),
            "languages": self.state.languages(),
        }

    def render(self, path):
        """(body bytes, content type) of one document; Http404 if there is no such document."""
        if path in JSON_DOCUMENTS:
            data = JSON_DOCUMENTS[path](self.state)
            body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
            return body, "application/json"
        if path == "feed.atom":
            return self.feed(), "application/atom+xml; charset=utf-8"
        if path == "":
            return self.html("statuspage/index.html", self.index_context()), "text/html; charset=utf-8"
        if path == "history/":
            return self.html("statuspage/history.html", self.history_context()), "text/html; charset=utf-8"
        parts = path.split("/")
        if len(parts) == 3 and parts[0] == "incidents" and parts[2] == "" and parts[1] in self._incidents:
            context = {"incident": self.incident_view(self._incidents[parts[1]])}
            return self.html("statuspage/incident.html", context), "text/html; charset=utf-8"
        if len(parts) == 3 and parts[0] == "maintenance" and parts[2] == "" and parts[1] in self._maintenances:
            context = {"maintenance": self.maintenance_view(self._maintenances[parts[1]])}
            return self.html("statuspage/maintenance.html", context), "text/html; charset=utf-8"
        if len(parts) == 3 and parts[0] == "components" and parts[2] == "feed.atom" and parts[1] in self._components:
            return self.feed(self._components[parts[1]]), "application/atom+xml; charset=utf-8"
        raise Http404("No such status page document.")

    # HTML --------------------------------------------------------------------------------------

    def path(self, kind, public_id=None):
        return page_path(kind, public_id, self.base)

    def html(self, template, context):
        state = self.state
        status = state.status()
        languages = sorted(set(UI_LANGUAGES) | set(state.languages()))
        base = {
            "page_name": pages.display_name(self.page),
            "logo_url": self.page.logo_url,
            "page_home": self.base,
            "status": status,
            "description": DESCRIPTIONS.get(status["description"], status["description"]),
            "updated": when(state.updated_at()),
            "assets": self.assets(),
            "subscribe_url": subscribe_url(self.page),
            "static_export": self.static_export,
            "language": state.language or "",
            "languages": [] if self.static_export else [(code, language_name(code)) for code in languages],
            "html_lang": ui_language(state.language),
        }
        return render_to_string(template, {**base, **context}).encode()

    def assets(self):
        if self.static_export:
            return {
                name: f"/status/assets/{asset_file_name(name)}?v={digest}" for name, digest in asset_digests().items()
            }
        return {name: staticfiles_storage.url(path) for name, path in ASSETS.items()}

    def markdown(self, text):
        if text not in self._markdown:
            self._markdown[text] = render_markdown(text)
        return self._markdown[text]

    def incident_json(self, incident):
        if incident.pk not in self._incident_json:
            self._incident_json[incident.pk] = self.state.incident_json(incident)
        return self._incident_json[incident.pk]

    def incident_view(self, incident):
        data = self.incident_json(incident)
        languages = {u.public.public_id: self.state.update_language(u) for u in incident.updates}
        return {
            "id": data["id"],
            "name": data["name"],
            "status": data["status"],
            "status_label": STATUS_LABELS[data["status"]],
            "impact": data["impact"],
            "impact_label": IMPACT_LABELS[data["impact"]],
            "url": self.path("incident", data["id"]),
            "created": when(data["created_at"]),
            "started": when(data["started_at"]),
            "resolved": when(data["resolved_at"]),
            "components": [self.component_name(c["id"], c["name"]) for c in data["components"]],
            "updates": [
                {
                    "id": u["id"],
                    "status": u["status"],
                    "status_label": STATUS_LABELS[u["status"]],
                    "body": self.markdown(u["body"]),
                    "at": when(u["display_at"]),
                    "language": languages.get(u["id"], ""),
                }
                for u in data["incident_updates"]
            ],
        }

    def maintenance_view(self, m):
        components = [self.component_name(c.id) for s in m.services.all() if (c := self.state.by_service.get(s.pk))]
        return {
            "id": m.public_id,
            "name": m.title,
            "status": m.current_status,
            "status_label": STATUS_LABELS[m.current_status],
            "body": self.markdown(m.body),
            "url": self.path("maintenance", m.public_id),
            "starts": when(m.scheduled_for),
            "ends": when(m.scheduled_until),
            "components": components,
        }

    def component_rows(self):
        """Top-level rows: a group with its components, or a component on its own; each leaf
        with its 90-day bar."""
        start, bars = self.state.history()
        rows = []
        for c in self.state.components:
            if c.group_id:
                continue  # shown inside its group
            if c.is_group:
                children = [self.component_view(child, start, bars) for child in c.children]
                rows.append({"component": self.component_view(c), "children": children})
            else:
                rows.append({"component": self.component_view(c, start, bars), "children": []})
        return rows

    def component_name(self, component_id, default=""):
        """A component's name in the page's language (the service's translated name), else as
        the catalog names it; the JSON documents always use the catalog's name."""
        c = self._components.get(component_id)
        if c is None:
            return default
        return c.service.name_in(self.state.language) if c.service is not None and self.state.language else c.name

    def component_view(self, c, start=None, bars=None):
        view = {
            "id": c.id,
            "name": self.component_name(c.id),
            "status": c.status,
            "status_label": LEVEL_LABELS[c.status],
            "description": c.description,
            "feed": self.path("component_feed", c.id),
            "bar": "",
            "uptime": None,
        }
        if bars is not None:
            view["bar"] = self.bar(start, bars[c.id], self.state.uptime.days.get(c.id, {}))
        if c.uptime is not None:
            view["uptime"] = {name: uptime_text(value) for name, value in c.uptime.items()}
        return view

    def bar(self, start, days, uptime=None):
        """The 90-day bar as HTML: one focusable element per day, its aria-label giving the day,
        the worst level, the day's uptime (statuspage.uptime) and the incidents (CSS shows it on
        hover and focus), linking that day on the history page. Built here rather than in a
        template: 90 days times every component is thousands of elements, and this keeps both
        the page and its build small."""
        cells = []
        history = self.path("history")
        uptime = uptime or {}
        for offset, (level, incidents) in enumerate(days):
            date = start + timedelta(days=offset)
            day = date.isoformat()
            label = f"{day}: {LEVEL_LABELS[level]}"
            if date in uptime:
                label += ", " + _("%(percent)s uptime") % {"percent": uptime_text(uptime[date])}
            css = LEVEL_CODES[level]
            if incidents:
                label = escape(label + " – " + ", ".join(self.state.incident_name(i) for i in incidents))
                cells.append(f'<li class="{css}"><a href="{history}#d{day}" aria-label="{label}"></a></li>')
            else:
                cells.append(f'<li class="{css}" tabindex="0" aria-label="{escape(label)}"></li>')
        return mark_safe("".join(cells))  # noqa: S308 - every text in it is escaped above

    def index_context(self):
        state = self.state
        maintenances = [self.maintenance_view(m) for m in state.maintenances]
        return {
            "rows": self.component_rows(),
            "incidents": [self.incident_view(i) for i in state.unresolved],
            "resolved_incidents": [self.incident_view(i) for i in state.recently_resolved],
            "mitigations": [
                {"body": self.markdown(state.mitigation_text(m)), "since": when(m["since"])} for m in state.mitigations
            ],
            "active_maintenance": [m for m in maintenances if m["status"] in ("in_progress", "verifying")],
            "upcoming_maintenance": sorted(
                (m for m in maintenances if m["status"] == "scheduled"), key=lambda m: m["starts"]["iso"]
            ),
        }

    def history_context(self):
        """Past incidents, newest day first: each day lists the incidents that touched it (an
        impact on that day, or their first update), so every history-bar link lands on its day."""
        state = self.state
        start, bars = state.history()
        days = {}
        for cells in bars.values():
            for offset, (_level, incidents) in enumerate(cells):
                if incidents:
                    days.setdefault(start + timedelta(days=offset), []).extend(incidents)
        for incident in state.incidents:
            if incident.updates:
                first = timezone.localtime(incident.updates[-1].published_at, timezone.get_default_timezone()).date()
                days.setdefault(first, []).append(incident)
        listed = []
        for day in sorted(days, reverse=True):
            seen = []
            for incident in days[day]:
                if incident not in seen:
                    seen.append(incident)
            seen.sort(key=lambda i: (i.started_at, i.pk), reverse=True)  # newest first within the day too
            listed.append(
                {
                    "anchor": f"d{day.isoformat()}",
                    "day": day,
                    "incidents": [self.incident_view(i) for i in seen],
                }
            )
        return {
            "days": listed,
            "maintenances": [self.maintenance_view(m) for m in state.maintenances if m.current_status == "completed"],
        }

    # Atom --------------------------------------------------------------------------------------

    def feed(self, component=None):
        """All published updates of the shown incidents, and the maintenance, newest first (of
        one component or group when given)."""
        state = self.state
        site = self.site
        name = pages.display_name(self.page)
        title, self_path = name, self.path("feed")
        if component is not None:
            title = f"{name}: {component.name}"
            self_path = self.path("component_feed", component.id)
        feed = StatusFeed(
            title=title,
            link=site + self.path("index"),
            description=state.status()["description"],
            feed_url=site + self_path,
            feed_guid=site + self_path,
            author_name=name,
            language=state.language or settings.LANGUAGE_CODE,
        )
        wanted = None
        if component is not None:
            wanted = {component.id} | {c.id for c in component.children}
        entries = []
        for incident in state.incidents:
            data = self.incident_json(incident)
            if wanted is not None and not wanted & {c["id"] for c in data["components"]}:
                continue
            url = site + self.path("incident", data["id"])
            for update in data["incident_updates"]:
                published = datetime.fromisoformat(update["display_at"])
                entries.append(
                    {
                        "title": f"{data['name']}: {STATUS_LABELS[update['status']]}",
                        "link": url,
                        "unique_id": f"{url}#update-{update['id']}",
                        "updateddate": published,
                        "pubdate": published,
                        "content": self.markdown(update["body"]),
                        "description": None,
                    }
                )
        for m in state.maintenances:
            services = {s.pk for s in m.services.all()}
            ids = {state.by_service[pk].id for pk in services if pk in state.by_service}
            if wanted is not None and not wanted & ids:
                continue
            view = self.maintenance_view(m)
            url = site + view["url"]
            entries.append(
                {
                    "title": _("Maintenance: %(name)s (%(status)s)")
                    % {"name": m.title, "status": view["status_label"]},
                    "link": url,
                    "unique_id": url,
                    "updateddate": m.updated_at,
                    "pubdate": m.created_at,
                    "content": self.markdown(
                        f"{view['starts']['text']} – {view['ends']['text']}\n\n{m.body or ''}".strip()
                    ),
                    "description": None,
                }
            )
        entries.sort(key=lambda e: (e["updateddate"], e["unique_id"]), reverse=True)
        for entry in entries:
            feed.add_item(**entry)
        return feed.writeString("utf-8").encode()


class StatusFeed(Atom1Feed):
    """Atom 1.0 with the update itself as each entry's <content type="html">."""

    def add_item_elements(self, handler, item):
        super().add_item_elements(handler, item)
        if item.get("content"):
            handler.addQuickElement("content", item["content"], {"type": "html"})


# The static files the pages use: template name -> path under static/ (the export copies each
# to /status/assets/<its file name>).
ASSETS = {
    "status_css": "statuspage/status.css",
    "status_js": "statuspage/status.js",
    "favicon_svg": "warroom/favicon.svg",
}


def asset_source(name):
    from django.contrib.staticfiles import finders

    return finders.find(ASSETS[name])


def asset_file_name(name):
    return ASSETS[name].rsplit("/", 1)[-1]


@lru_cache(maxsize=1)
def asset_digests():
    digests = {}
    for name in ASSETS:
        with open(asset_source(name), "rb") as f:
            digests[name] = hashlib.sha256(f.read()).hexdigest()[:10]
    return digests


# Language ----------------------------------------------------------------------------------------


def language_name(code):
    """A language as its speakers write it ("简体中文", "Deutsch") for the language switch; the
    code itself only for a language Django does not know."""
    info = LANG_INFO.get(code.lower())
    if info and "fallback" in info:
        info = LANG_INFO.get(info["fallback"][0])
    info = info or LANG_INFO.get(primary_subtag(code))
    return info["name_local"] if info and "name_local" in info else code


def ui_language(language):
    """The language of the page's own strings for a chosen update language."""
    for code in UI_LANGUAGES:
        if language and (code == language or primary_subtag(code) == primary_subtag(language)):
            return code
    return UI_LANGUAGES[0]


def visitor_language(request, available):
    """The visitor's language among those the page can show (the page's strings, update
    translations): ?lang= first, then Accept-Language; "" means the originals. Always one of a
    small known set, so it is safe in a cache key."""
    asked = request.GET.get("lang", "") if "lang=" in request.META.get("QUERY_STRING", "") else ""
    accept = request.META.get("HTTP_ACCEPT_LANGUAGE", "")[:200]
    return _choose_language(asked[:40], accept, tuple(available))


@lru_cache(maxsize=512)
def _choose_language(asked, accept, available):
    candidates = list(dict.fromkeys([*available, *UI_LANGUAGES]))
    wanted = [asked] if asked else []
    wanted += [code for code, _q in parse_accept_lang_header(accept)]
    for code in wanted[:10]:
        code = code.lower().replace("_", "-")
        if code == "*":
            continue
        for candidate in candidates:
            if candidate == code:
                return candidate
        for candidate in candidates:
            if primary_subtag(candidate) == primary_subtag(code):
                return candidate
    return ""


# Caching -----------------------------------------------------------------------------------------


def _settings_fingerprint():
    try:
        css = staticfiles_storage.url(ASSETS["status_css"])  # changes with a deploy that changes the CSS
    except ValueError:  # manifest storage before collectstatic
        css = ""
    names = ("STATUSPAGE_NAME", "STATUSPAGE_PAGE_ID", "SITE_URL", "TIME_ZONE", "LANGUAGE_CODE")
    return "|".join([*(str(getattr(settings, name)) for name in names), css])


def content_version():
    """The version of everything public: a digest of the public content itself
    (statuspage.public.content_digest, a few small queries that read no private data) and of
    the settings the documents are built with. The live page's caches and the
    static export both key on it, so they change together, and only when the public content
    does."""
    raw = content_digest() + "|" + _settings_fingerprint()
    return hashlib.sha256(raw.encode()).hexdigest()[:20]


class _RecentVersion:
    """The content version as this process last read it, trusted for STATUSPAGE_VERSION_SECONDS
    (default 1): a hot request then costs no query at all. Responses are cacheable for 30 s
    anyway, so a second more is invisible; changes made in this process forget it at once
    (signals below), changes made elsewhere show within the second.

    Once the time is up, one request of the process reads the version again while the others
    (gunicorn's threads) keep answering with the one read a moment ago: left to themselves,
    every thread that came in during the read (a few milliseconds, longer while a writer holds
    SQLite's lock) ran the same queries too, each second, which cost the page more than all
    its other work. A forgotten version is never served: after forget(), requests wait for a
    fresh read, and a read that began before forget() is not kept."""

    def __init__(self):
        self.value = None
        self.read_at = 0.0
        self.generation = 0  # forget() counts up: a read begun before it is not kept
        self.lock = threading.Lock()  # guards the three fields above
        self.reading = threading.Lock()  # held by the one request reading a stale version again

    def get(self):
        seconds = getattr(settings, "STATUSPAGE_VERSION_SECONDS", 1.0)
        now = time.monotonic()
        with self.lock:
            value, read_at, generation = self.value, self.read_at, self.generation
        if value is not None and now - read_at < seconds:
            return value
        if value is None:
            # Never read, or forgotten after a change: nothing may be served before a fresh read.
            return self._read(now, generation)
        if not self.reading.acquire(blocking=False):
            return value  # another thread is reading it right now
        try:
            return self._read(now, generation)
        finally:
            self.reading.release()

    def _read(self, now, generation):
        value = content_version()
        with self.lock:
            if self.generation == generation:
                self.value, self.read_at = value, now
        return value

    def forget(self, **kwargs):
        with self.lock:
            self.value = None
            self.generation += 1


recent_version = _RecentVersion()
# The models the public page is built from: a change to any of them in this process forgets
# the content version at once, and asks for an export check (statuspage.receivers).
WATCHED_MODELS = (
    Incident,
    Communication,
    CommunicationTranslation,
    Service,
    Impact,
    Maintenance,
    Mitigation,
    StatusPage,
)


class _Memo:
    """A small per-process LRU in front of the shared cache: entries are keyed by content
    version, so they can never be served for data they were not built from. It also remembers
    the last good copy of each document, served when the database is unreachable."""

    def __init__(self, size=256):
        self.size = size
        self.entries = OrderedDict()
        self.last = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key):
        with self.lock:
            entry = self.entries.get(key)
            if entry is None:
                return None
            if entry[0] <= time.time():
                del self.entries[key]
                return None
            self.entries.move_to_end(key)
            return entry[1]

    def set(self, key, expires, value, last_key):
        with self.lock:
            for store, k, v in ((self.entries, key, (expires, value)), (self.last, last_key, value)):
                store[k] = v
                store.move_to_end(k)
                while len(store) > self.size:
                    store.popitem(last=False)

    def get_last(self, last_key):
        with self.lock:
            return self.last.get(last_key)

    def clear(self):
        with self.lock:
            self.entries.clear()
            self.last.clear()


memo = _Memo()


def clear_cache():
    """Forget every document this process built. Entries in the shared cache are keyed by
    content version and expire by themselves within LONGEST_REUSE seconds."""
    memo.clear()
    recent_version.forget()
    pages.recent_pages.forget()


class _Build:
    """One PublicState for the whole request, made only if something is not cached."""

    def __init__(self, page):
        self.page = page
        self._documents = None
        self.language = ""

    @property
    def documents(self):
        if self._documents is None:
            self._documents = Documents(PublicState(page=self.page))
        self._documents.state.language = self.language or None
        return self._documents


def _page_key(page):
    """The page's part of a cache key: nothing for the default page (its keys are as they were
    before there were several pages), else its primary key."""
    return "" if page is None or page.is_default else f"p{page.pk}:"


def _cached(version, language, name, make, page=None):
    key = f"statuspage:{version}:{_page_key(page)}{language or '-'}:{name}"
    last_key = f"statuspage:last:{_page_key(page)}{language or '-'}:{name}"
    value = memo.get(key)
    if value is not None:
        return value
    # The shared cache may be down (Redis outage): then it is a miss, the document is built from
    # the database and kept in the memo, and the page answers with current content all the same.
    stored = shared_cache.run(cache.get, key)
    if stored is not None:
        expires, value = stored
        if expires > time.time():
            memo.set(key, expires, value, last_key)
            return value
    value, valid_until = make()
    expires = min(time.time() + LONGEST_REUSE, valid_until.timestamp())
    timeout = max(1, int(expires - time.time()))
    shared_cache.run(cache.set, key, (expires, value), timeout)
    if not isinstance(caches["default"], DatabaseCache):  # a database cache is down with the database: no use
        shared_cache.run(cache.set, last_key, (expires, value), LAST_GOOD_SECONDS)
    memo.set(key, expires, value, last_key)
    return value


def _last_good(language, name, page=None):
    last_key = f"statuspage:last:{_page_key(page)}{language or '-'}:{name}"
    value = memo.get_last(last_key)
    if value is None:
        try:
            stored = shared_cache.run(cache.get, last_key)
        except Exception:  # noqa: BLE001 - the database cache is down with the database
            stored = None
        value = stored[1] if stored else None
    return value


def _check_public_id(path, ids):
    kind, _sep, rest = path.partition("/")
    if kind in ("incidents", "maintenance", "components"):
        public_id = rest.split("/")[0]
        if not PUBLIC_ID.match(public_id) or public_id not in ids[kind]:
            raise Http404("No such incident, maintenance or component on this status page.")


def serve(request, path, page=None, version=None):
    """Serve one document of `page` (the default page when None; the caller resolved it and
    checked access: statuspage.pages.resolve). When the database is unreachable, the last good
    copy of a public page is served instead of an error: the status page must stay up when the
    product does not."""
    page = page or pages.default_page()  # the pages as last read when the database is down
    try:
        return _serve_current(request, path, page, version)
    except DatabaseError:
        if page.is_private:
            raise
        ids = _last_good("", "ids", page)
        if ids is None:
            raise
        _check_public_id(path, ids)
        language = page_language(request, page, ids["languages"])
        document = _last_good(language, path, page) or _last_good("", path, page)
        if document is None:
            raise
        log.warning("Database unreachable: serving the last good copy of %s%s", pages.base_path(page), path)
        return respond(request, document, language, page)


def page_language(request, page, available):
    """The visitor's language on this page: ?lang=, then the page's own default language, then
    Accept-Language (statuspage.views.visitor_language)."""
    if page.language and "lang=" not in request.META.get("QUERY_STRING", ""):
        chosen = _choose_language(page.language[:40], "", tuple(available))
        if chosen:
            return chosen
    return visitor_language(request, available)


def _serve_current(request, path, page, version=None):
    version = version or recent_version.get()
    build = _Build(page)

    def make_ids():
        documents = build.documents
        return documents.ids(), documents.state.valid_until()

    ids = _cached(version, "", "ids", make_ids, page)
    _check_public_id(path, ids)
    build.language = page_language(request, page, ids["languages"])

    def make_document():
        documents = build.documents
        with timezone.override(timezone.get_default_timezone()), translation.override(ui_language(build.language)):
            body, content_type = documents.render(path)
        return Document.of(body, content_type), documents.state.valid_until()

    document = _cached(version, build.language, path, make_document, page)
    return respond(request, document, build.language, page)


def respond(request, document, language="", page=None):
    use_gzip = document.gzipped is not None and "gzip" in request.META.get("HTTP_ACCEPT_ENCODING", "")
    etag = document.gzip_etag if use_gzip else document.etag
    if_none_match = request.META.get("HTTP_IF_NONE_MATCH")
    asked = {tag.removeprefix("W/") for tag in parse_etags(if_none_match)} if if_none_match else ()
    if asked and asked & {"*", document.etag, document.gzip_etag}:
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(document.gzipped if use_gzip else document.body, content_type=document.content_type)
        if use_gzip:
            response["Content-Encoding"] = "gzip"
    response["ETag"] = etag
    private = page is not None and page.is_private
    response["Cache-Control"] = PRIVATE_CACHE_CONTROL if private else CACHE_CONTROL
    response["Vary"] = "Accept-Language, Accept-Encoding, Cookie" if private else "Accept-Language, Accept-Encoding"
    # The page's own choice, not the staff UI's (LocaleMiddleware would otherwise say which
    # language the visitor's cookie or Accept-Language picked for the staff pages).
    response["Content-Language"] = ui_language(language)
    if document.content_type.startswith("application/json") and not private:
        response["Access-Control-Allow-Origin"] = "*"
    return response


# Views ---------------------------------------------------------------------------------------------


@require_safe
def document(request, path="", public_id=None, page_slug=None):
    """Any document of the page this request is for (statuspage.pages.resolve: by host, then
    /status/p/<page_slug>/; a private page only for whoever may see it, else 404); `path` is its
    path under the page's base with {id} for the public id."""
    try:
        version = recent_version.get()
    except DatabaseError:  # serve() answers with the last good copy of a public page
        version = None
    page = pages.resolve(request, page_slug, version)
    if public_id is not None:
        path = path.replace("{id}", public_id)
    return serve(request, path, page, version)
