"""The pages people get when a request fails: 400, 403, 404, 500, and the 503 of a database outage.

They are drawn for the worst day, so they need nothing that may be down: no database query, no
session, no user (templates/error_base.html). Each takes the look of where it was asked:

- the public status page's (templates/statuspage/error.html) under /status/ (not its staff
  pages under /status/manage/) and on a host that names a status page: no staff link, nothing of
  any incident, and the same bytes for a private page the visitor may not see (a revoked access
  link) as for a page that never existed (statuspage.pages.resolve answers both with Http404);
- JSON ({"detail": message}, in DRF's words) under /api/ and for the status page's JSON
  documents: what DRF answers inside its views is untouched, this only covers what never reaches
  one (no such endpoint, a bug, an outage);
- the staff UI's everywhere else.

A database outage: during a PostgreSQL restart or failover every query raises OperationalError
(connection refused, "terminating connection due to administrator command", "the database
system is shutting down") or InterfaceError (a connection that died under the request). Django
would answer 500 and a client could not tell a bug from an outage. Here it is a 503 with
Retry-After: load balancers and API clients retry, and an API client that sent an
Idempotency-Key resends the same request safely (incidents/idempotency.py). The transaction was
rolled back, so nothing is half written; the next request opens a new connection
(CONN_HEALTH_CHECKS), so Warroom recovers by itself once the database is back. Each such
request is logged as one line, not a traceback: a minute of outage is thousands of them, all
with the same cause. docs/operations.md describes the run.
"""

import logging
import sys
from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.template import loader
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import requires_csrf_token
from django.views.defaults import ERROR_PAGE_TEMPLATE
from rest_framework import exceptions as api_exceptions

from statuspage import pages as status_pages
from statuspage import views as status_views

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
STATUS_PREFIX = "/status/"
STATUS_STAFF_PREFIX = "/status/manage/"


def database_unavailable(exc):
    return isinstance(exc, OperationalError | InterfaceError)


def wants_json(request):
    path = request.path
    return (
        path.startswith("/api/")
        or (path.startswith(STATUS_PREFIX) and path.endswith(".json"))
        or "application/json" in request.headers.get("Accept", "")
    )


def for_status_page(request, read_pages=True):
    """Is this request for the public status page: under /status/ (its staff pages aside), or on a
    host that names a status page? `read_pages=False` looks only at the pages this process has
    already read (a 500 or an outage must not query); else they may be read, but an unreachable
    database only means the answer is no."""
    path = request.path
    if path.startswith(STATUS_PREFIX):
        return not path.startswith(STATUS_STAFF_PREFIX)
    try:
        host = status_pages.request_host(request)
    except DisallowedHost:  # the 400 of a host the site does not serve
        return False
    return status_pages.names_host(host, read=read_pages)


def status_page_error(request, status):
    """The error in the status page's look and language (?lang=, then Accept-Language, as the page
    itself): the same for every page, so it tells nothing about which pages exist."""
    language = status_views.ui_language(status_views.visitor_language(request, ()))
    context = {"status": status, "html_lang": language, "page_name": settings.STATUSPAGE_NAME}
    with translation.override(language):
        return HttpResponse(draw("statuspage/error.html", context, status), status=status)


def staff_error(template_name, status, context=None):
    """The error in the staff UI's look (templates/error_base.html), rendered without a request:
    no context processor runs, so nothing reads the session, the user or the database."""
    return HttpResponse(draw(template_name, context or {}, status), status=status)


def draw(template_name, context, status):
    """The error page, or Django's plain one if it cannot be drawn: an error page must not fail
    itself (a deployment without `collectstatic` has no static manifest for {% static %})."""
    try:
        return loader.get_template(template_name).render(context)
    except Exception:
        log.exception("The error page %s could not be drawn: answering a plain one", template_name)
        return ERROR_PAGE_TEMPLATE % {"title": HTTPStatus(status).phrase, "details": ""}


def error_response(request, status, json_message, template_name, read_pages=True):
    if wants_json(request):
        return JsonResponse({"detail": str(json_message)}, status=status)
    if for_status_page(request, read_pages):
        return status_page_error(request, status)
    return staff_error(template_name, status)


def page_not_found(request, exception):
    """handler404. A private status page the visitor may not see is a 404 like any other."""
    return error_response(request, 404, api_exceptions.NotFound.default_detail, "404.html")


def permission_denied(request, exception):
    """handler403. The reason (a refusal such as "Only the incident's commander may ...") is shown
    on staff pages, where it was written for the person asking."""
    message = str(exception) if exception is not None else ""
    if wants_json(request):
        return JsonResponse({"detail": message or str(api_exceptions.PermissionDenied.default_detail)}, status=403)
    if for_status_page(request):
        return status_page_error(request, 403)
    return staff_error("403.html", 403, {"reason": message})


def bad_request(request, exception):
    """handler400, also for a host not in ALLOWED_HOSTS (DisallowedHost): no query, since what
    sends them (scanners, a misconfigured proxy) often sends many."""
    return error_response(request, 400, api_exceptions.ParseError.default_detail, "400.html", read_pages=False)


@requires_csrf_token
def server_error(request, template_name="500.html"):
    """handler500: a 503 when the exception under way is the database being out of reach, a 500
    otherwise. Makes no database query either way."""
    exc = sys.exc_info()[1]
    if not database_unavailable(exc):
        return error_response(request, 500, api_exceptions.APIException.default_detail, template_name, read_pages=False)
    message = _("Warroom cannot reach its database. Retry in a few seconds; what you just sent may not be saved.")
    if wants_json(request):
        response = JsonResponse({"detail": message}, status=503)
    elif for_status_page(request, read_pages=False):
        response = status_page_error(request, 503)
    else:
        response = staff_error("503.html", 503, {"message": message, "retry_after": RETRY_AFTER_SECONDS})
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    # One line instead of Django's traceback per request: django.utils.log.log_response, which
    # Django calls after this handler, skips a response marked as logged.
    cause = str(exc).strip().splitlines()
    log.warning(
        "Database unreachable: %s %s answered 503 (%s: %s)",
        request.method,
        request.path,
        type(exc).__name__,
        cause[0] if cause else "",
    )
    response._has_been_logged = True
    return response
