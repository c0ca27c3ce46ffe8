import time
import zoneinfo

from django.conf import settings
from django.contrib.auth import SESSION_KEY, logout
from django.middleware.gzip import GZipMiddleware
from django.utils import timezone, translation

from incidents import languages
from incidents.credentials import SIGNED_IN_AT

# The session key holding when the signed-in user was last seen (epoch seconds).
LAST_SEEN_AT = "warroom_last_seen_at"

# Pages load scripts and styles from our own origin only. The API docs page (Swagger UI)
# styles elements inline, so it alone may use inline styles.
STRICT_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
DOCS_POLICY = STRICT_POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            policy = DOCS_POLICY if request.path.startswith("/api/docs") else STRICT_POLICY
            response["Content-Security-Policy"] = policy
        return response


# Browser features no page of Warroom uses: a script that slipped in still cannot ask for them.
# (FLoC's `interest-cohort` is gone from browsers, and Chromium logs an error for features it
# does not know; `browsing-topics` is its successor.)
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "browsing-topics",
        "camera",
        "display-capture",
        "geolocation",
        "gyroscope",
        "magnetometer",
        "microphone",
        "payment",
        "usb",
    )
)

# Paths whose responses are the same for everyone and keep the caching they set themselves: the
# public status page (documents say `public`, its forms `no-store`), its Statuspage v2 JSON at
# the host root (statuspage/urls_root.py) and static assets.
STATIC_PREFIX = "/static/"
PUBLIC_PREFIX = ("/status/", "/api/v2/")
STAFF_UNDER_PUBLIC = "/status/manage/"
PRIVATE = "private, no-store"


class PrivateResponsesMiddleware:
    """Keep what Warroom shows staff out of shared caches and disk caches: a confidential war
    room, the audit CSV or a review download must never be stored by a proxy on the way.

    Every response gets `Cache-Control: private, no-store`, unless it is public (a status-page
    document or asset marked `public` by its view, or any public path asked anonymously) or
    already says `no-store`. Also sends the Permissions-Policy header on every response.
    Sits first in MIDDLEWARE, so it also sees the static files WhiteNoise answers."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        if not self._may_be_stored(request, response):
            response["Cache-Control"] = PRIVATE
        return response

    @staticmethod
    def _may_be_stored(request, response):
        existing = response.get("Cache-Control", "")
        if "no-store" in existing:
            return True  # already kept out of every cache (never_cache and friends)
        if request.path.startswith(STATIC_PREFIX):
            return True  # the same files for everyone
        if not request.path.startswith(PUBLIC_PREFIX) or request.path.startswith(STAFF_UNDER_PUBLIC):
            return False
        if "public" in existing:
            return True  # the status page's own choice, made for everyone alike
        # Checked last: reading the user costs a session lookup the public documents skip.
        user = getattr(request, "user", None)
        return not (user is not None and user.is_authenticated)


class ViewerTimezoneMiddleware:
    """Show times in the viewer's zone: static/warroom/app.js stores it in the `tz` cookie."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        name = request.COOKIES.get("tz", "")
        try:
            timezone.activate(zoneinfo.ZoneInfo(name)) if name else timezone.deactivate()
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.deactivate()
        return self.get_response(request)


class PersonLanguageMiddleware:
    """The signed-in person's language, when they chose one (incidents/languages.py). Not on
    the public status page: it picks its own, and reading the session there would make its
    shared documents vary by cookie."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        session = getattr(request, "session", None)
        language = ""
        if session is not None and session.session_key and self._staff_page(request.path):
            language = languages.supported(session.get(languages.SESSION_KEY))
        if language:
            translation.activate(language)
            request.LANGUAGE_CODE = language
        response = self.get_response(request)
        if language and request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME) != language:
            languages.set_cookie(response, language)
        return response

    @staticmethod
    def _staff_page(path):
        return not path.startswith((STATIC_PREFIX, *PUBLIC_PREFIX)) or path.startswith(STAFF_UNDER_PUBLIC)


class SessionLifetimeMiddleware:
    """Sessions end after SESSION_IDLE_TIMEOUT without a request (the cookie's and the database
    row's age, SESSION_COOKIE_AGE) and, however busy, SESSION_MAX_LIFETIME after signing in: a
    stolen or forgotten session does not last for weeks.

    The idle clock is pushed back by saving the session, at most every few minutes rather than on
    every request (SESSION_SAVE_EVERY_REQUEST would write the session row on each timeline poll).
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.refresh_every = min(300, settings.SESSION_IDLE_TIMEOUT // 12)

    def __call__(self, request):
        if not request.path.startswith((STATIC_PREFIX, *PUBLIC_PREFIX)) or request.path.startswith(STAFF_UNDER_PUBLIC):
            self._enforce(request)
        return self.get_response(request)

    def _enforce(self, request):
        session = request.session
        if SESSION_KEY not in session:
            return
        now = int(time.time())
        signed_in_at = session.get(SIGNED_IN_AT)
        if signed_in_at is None:
            # Signed in before lifetimes were kept: the lifetime counts from now.
            session[SIGNED_IN_AT] = signed_in_at = now
        if now - signed_in_at >= settings.SESSION_MAX_LIFETIME:
            logout(request)  # ends the session row too; the view sees an anonymous user
            return
        if now - session.get(LAST_SEEN_AT, signed_in_at) >= self.refresh_every:
            session[LAST_SEEN_AT] = now  # a modified session is saved with a fresh expiry


class StaffGZipMiddleware(GZipMiddleware):
    """Compress HTML and JSON (the war room, lists, the API): a long page is a tenth of its
    size on the wire. Django's GZipMiddleware pads each response with random bytes, and CSRF
    tokens are masked per request, which is the BREACH mitigation. Responses that chose their
    encoding themselves are left alone: the public status page keeps precompressed documents
    with their own ETags, serves small ones as they are, and says so with `Vary:
    Accept-Encoding`. So is everything else (files, feeds): whitenoise compresses static files
    ahead of time."""

    def process_response(self, request, response):
        content_type = response.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != "text/html" and not content_type.endswith("json"):
            return response
        if "accept-encoding" in response.get("Vary", "").lower():
            return response
        return super().process_response(request, response)
