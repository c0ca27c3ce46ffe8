"""The public status page's documents, answered ahead of the middleware that only staff need.

A public document (statuspage.views.document) is the same for everyone and reads nothing of
the visitor but the path, the language and the encoding asked for. For a visitor without a
session cookie (the public, a CDN, a monitor polling summary.json) this answers it before the
session, language, CSRF, sign-in, two-factor, audit, message and time-zone middleware run:
together they cost more than the document view itself, about a fifth of what a gunicorn worker
spends on the request (issue #15: the page at >= 0.9x of /healthz while responders write).

It sits below every middleware that sets a security or caching header
(PrivateResponsesMiddleware, SecurityMiddleware, ContentSecurityPolicyMiddleware,
XFrameOptionsMiddleware), so the response carries exactly the headers the whole stack gives it
(tests/statuspage/test_hot_path.py compares them). It does the two things of CommonMiddleware
a document needs: the Host header checked against ALLOWED_HOSTS, and a Content-Length.
Everything else takes the whole stack as before: a visitor with a session cookie (signed-in
staff), the subscription forms (sessions, CSRF), the staff pages under manage/, other methods,
and a 404 (its page speaks the visitor's language, which LocaleMiddleware picks).
"""

from django.conf import settings
from django.http import Http404
from django.urls import Resolver404, resolve

from . import views

# Where config/urls.py mounts statuspage.urls: only paths under it are looked at.
PREFIX = "/status/"


class PublicDocumentsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if (
            request.method in ("GET", "HEAD")
            and request.path_info.startswith(PREFIX)
            and settings.SESSION_COOKIE_NAME not in request.COOKIES
        ):
            response = self._document(request)
            if response is not None:
                return response
        return self.get_response(request)

    @staticmethod
    def _document(request):
        try:
            match = resolve(request.path_info, getattr(request, "urlconf", None))
        except Resolver404:
            return None
        if match.func is not views.document:
            return None
        request.get_host()  # DisallowedHost (a 400) for a host not in ALLOWED_HOSTS, as CommonMiddleware
        request.resolver_match = match
        try:
            response = match.func(request, *match.args, **match.kwargs)
        except Http404:
            return None  # the whole stack answers it again, with the 404 page in the visitor's language
        if not response.has_header("Content-Length"):  # as CommonMiddleware: no chunked encoding
            response.headers["Content-Length"] = str(len(response.content))
        return response
