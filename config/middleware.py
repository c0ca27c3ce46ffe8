import zoneinfo

from django.utils import timezone

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
# public status page (documents say `public`, its forms `no-store`) and static assets.
STATIC_PREFIX = "/static/"
PUBLIC_PREFIX = "/status/"
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
