"""Which status page a request is for, and whether the visitor may see it: the one place every
status page view (HTML, JSON, feeds, subscribing) asks.

`resolve(request, slug=None)` returns the page or raises Http404:

1. The Host header first: a page with that host name is served at /status/ of its host (and at
   /status/p/<its slug>/ there); any other slug on that host is a 404, so one page's host never
   shows another page.
2. Then the path: /status/p/<slug>/ is that page; /status/ is the default page. A host that no
   page names (ALLOWED_HOSTS has already refused hosts the site does not serve) gets the
   default page, exactly as before there were several pages.
3. A private page the visitor may not see (incidents.access.can_view_status_page) is a 404, like
   a page that does not exist: a wrong or revoked access link says nothing more.

The pages themselves are part of the content version (statuspage.public.content_digest): this
process reads them again (one query and a prefetch) only when the version changes, so resolving
costs a hot request no query of its own. Access to a private page (its allowed groups, its
access links) is checked against the database on every request.
"""

import threading
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.http import Http404
from django.http.request import split_domain_port

from incidents import access

from .models import StatusPage

ACCESS_PARAMETER = "access"  # ?access=<token> of a private page's access link
SESSION_KEY = "statuspage_access"  # {page pk: token}, so links followed on the page keep access


class _RecentPages:
    """The pages as of a content version (statuspage.views.recent_version) when the caller has
    read one, else as read at most STATUSPAGE_VERSION_SECONDS ago."""

    def __init__(self):
        self.pages = None
        self.version = None
        self.read_at = 0.0
        self.lock = threading.Lock()

    def get(self, version=None):
        with self.lock:
            stale, known, read_at = self.pages, self.version, self.read_at
        if stale is not None:
            if version is not None and version == known:
                return stale
            seconds = getattr(settings, "STATUSPAGE_VERSION_SECONDS", 1.0)
            if version is None and time.monotonic() - read_at < seconds:
                return stale
        try:
            pages = _load()
        except DatabaseError:
            if stale is None:
                raise
            return stale  # the database is down: the pages as last read (public pages serve last good copies)
        with self.lock:
            self.pages, self.version, self.read_at = pages, version, time.monotonic()
        return pages

    def forget(self, **kwargs):
        with self.lock:
            self.pages = None


recent_pages = _RecentPages()


class PageList(list):
    """The pages, with what resolving looks up on every request made ready once."""

    def __init__(self, pages):
        super().__init__(pages)
        self.default = next(p for p in self if p.is_default)
        self.by_host = {p.host: p for p in self if p.host}
        self.by_slug = {p.slug: p for p in self}


def _load():
    pages = list(StatusPage.objects.prefetch_related("services"))
    if not any(p.is_default for p in pages):
        pages.insert(0, _create_default())
    return PageList(pages)


def _create_default():
    """The default page, should it be missing (a database flushed by a test, a restored dump):
    every public component, public, as the migration makes it."""
    try:
        with transaction.atomic():
            page = StatusPage.objects.create(
                name="", slug="default", is_default=True, all_components=True, visibility="public"
            )
    except IntegrityError:  # made meanwhile by another process (or "default" is taken)
        page = StatusPage.objects.filter(is_default=True).first()
        if page is None:
            with transaction.atomic():
                page = StatusPage.objects.create(
                    name="", slug=f"default-{int(time.time())}", is_default=True, all_components=True
                )
    return StatusPage.objects.prefetch_related("services").get(pk=page.pk)


def all_pages(version=None):
    return recent_pages.get(version)


def default_page(version=None):
    return all_pages(version).default


def public_pages():
    return [p for p in all_pages() if not p.is_private]


def by_slug(slug):
    return all_pages().by_slug.get(slug)


def by_pk(pk):
    return next((p for p in all_pages() if p.pk == pk), None)


def request_host(request):
    """The request's host name without the port (validated against ALLOWED_HOSTS by Django)."""
    host, _port = split_domain_port(request.get_host())
    return host


def names_host(host, read=True):
    """Does a status page have this host name? For the error pages (config/errors.py), which take
    the status page's look there. `read=False`: only the pages this process has already read, no
    query (a 500, an outage); else read as all_pages() does, and no when the database is down."""
    if not read:
        known = recent_pages.pages
        return known is not None and host in known.by_host
    try:
        return host in all_pages().by_host
    except DatabaseError:
        return False


def resolve_page(request, slug=None, version=None):
    """The page this request is for, before any access check; Http404 if none."""
    pages = all_pages(version)
    hosted = pages.by_host.get(request_host(request)) if pages.by_host else None  # no host: no work
    if hosted is not None:
        if slug is not None and slug != hosted.slug:
            raise Http404("No such status page.")
        return hosted
    if slug is None:
        return pages.default
    page = pages.by_slug.get(slug)
    if page is None or page.is_default:
        raise Http404("No such status page.")  # the default page has one address: /status/
    return page


def access_token(request, page):
    """The access-link token this visitor presents for `page`: ?access= (remembered in the
    session, so the page's own links keep working), else the one remembered."""
    token = request.GET.get(ACCESS_PARAMETER, "")[:100]
    session = getattr(request, "session", None)
    if token:
        return token
    if session is not None:
        return (session.get(SESSION_KEY) or {}).get(str(page.pk), "")
    return ""


def remember_token(request, page, token):
    session = getattr(request, "session", None)
    if session is None or not token:
        return
    stored = dict(session.get(SESSION_KEY) or {})
    if stored.get(str(page.pk)) != token:
        stored[str(page.pk)] = token
        session[SESSION_KEY] = stored


def resolve(request, slug=None, version=None):
    """The page this request is for, if the visitor may see it; else Http404. `version`: the
    content version the caller read (saves reading it twice)."""
    page = resolve_page(request, slug, version)
    if page.is_private:
        if not hasattr(request, "user"):
            # Answered ahead of the session and sign-in middleware (statuspage.middleware): a
            # private page needs them, so the whole stack answers it instead.
            raise Http404("No such status page.")
        token = access_token(request, page)
        if not access.can_view_status_page(request.user, page, token):
            raise Http404("No such status page.")
        if token and request.GET.get(ACCESS_PARAMETER):
            remember_token(request, page, token)
    return page


# What a page shows and where -------------------------------------------------------------------


def shows_service(page, service):
    """Does `page` show this (public) service as a component?"""
    if not service.public:
        return False
    if page.all_components or service.pk in page.service_ids:
        return True
    return bool(service.group) and service.group in page.group_names


def display_name(page):
    return page.name or settings.STATUSPAGE_NAME


def base_path(page):
    """Where the page's documents live: /status/ for the default page, else /status/p/<slug>/."""
    return "/status/" if page.is_default else f"/status/p/{page.slug}/"


def site_url(page):
    """The page's origin for absolute links: its own host name (with SITE_URL's scheme) or SITE_URL."""
    if page.host:
        scheme = urlsplit(settings.SITE_URL).scheme or "https"
        return f"{scheme}://{page.host}"
    return settings.SITE_URL


def url(page):
    return site_url(page) + base_path(page)
