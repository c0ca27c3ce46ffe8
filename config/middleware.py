import zoneinfo

from django.middleware.gzip import GZipMiddleware
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
