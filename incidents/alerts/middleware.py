"""Alert deliveries answered ahead of the middleware that only staff need (issue #11: ingestion
at >= 0.5x of /healthz's request rate).

A delivery (incidents.alerts.api.ingest) carries its own credential, the source's secret: it
reads no session, no signed-in user, no CSRF token, no message and no time zone. So a POST to
the ingestion endpoint is answered here, before the session, CSRF, sign-in, two-factor, audit,
message and time-zone middleware, which together cost about as much as the view itself.

It sits where statuspage's PublicDocumentsMiddleware sits, below every middleware that sets a
security or caching header (PrivateResponsesMiddleware, SecurityMiddleware,
ContentSecurityPolicyMiddleware, XFrameOptionsMiddleware), so the answer carries exactly the
headers the whole stack gives it (tests/alerts/test_hot_path.py compares them), but
`Vary: Cookie`, which the session middleware adds when it looks at a session; this answer reads
no cookie (and, as every API answer, says `private, no-store`). It does what
the skipped middleware would do to this answer: the Host header checked against ALLOWED_HOSTS
and a Content-Length (CommonMiddleware), and the caller's language for the few translated
messages, with `Content-Language` and `Vary: Accept-Language` (LocaleMiddleware). Any other
method, or a path that is not the endpoint, takes the whole stack as before.
"""

from django.urls import Resolver404, resolve
from django.utils import translation
from django.utils.cache import patch_vary_headers

from . import api

# Where config/urls.py mounts the ingestion endpoint: only POSTs under it are looked at.
PREFIX = "/api/v1/alerts/"
VIEWS = (api.ingest_with_bearer, api.ingest_with_secret_in_path)


class AlertIngestMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method == "POST" and request.path_info.startswith(PREFIX):
            response = self._delivery(request)
            if response is not None:
                return response
        return self.get_response(request)

    @staticmethod
    def _delivery(request):
        try:
            match = resolve(request.path_info, getattr(request, "urlconf", None))
        except Resolver404:
            return None
        if match.func not in VIEWS:
            return None
        request.get_host()  # DisallowedHost (a 400) for a host not in ALLOWED_HOSTS, as CommonMiddleware
        request.resolver_match = match
        translation.activate(translation.get_language_from_request(request))  # as LocaleMiddleware
        request.LANGUAGE_CODE = translation.get_language()
        response = match.func(request, *match.args, **match.kwargs)
        patch_vary_headers(response, ("Accept-Language",))
        response.headers.setdefault("Content-Language", request.LANGUAGE_CODE)
        if not response.has_header("Content-Length"):  # as CommonMiddleware
            response.headers["Content-Length"] = str(len(response.content))
        return response
