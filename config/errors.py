"""The answer to a request that failed because the database could not be reached.

During a PostgreSQL restart or failover every query raises OperationalError (connection
refused, "terminating connection due to administrator command", "the database system is
shutting down") or InterfaceError (a connection that died under the request). Django would
answer 500 and a client could not tell a bug from an outage. Here it is a 503 with Retry-After:
load balancers and API clients retry, and an API client that sent an Idempotency-Key resends
the same request safely (incidents/idempotency.py). The transaction was rolled back, so
nothing is half written; the next request opens a new connection (CONN_HEALTH_CHECKS), so
Warroom recovers by itself once the database is back. docs/operations.md describes the run.
"""

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.template import loader
from django.utils.translation import gettext as _
from django.views.decorators.csrf import requires_csrf_token
from django.views.defaults import server_error as django_server_error

RETRY_AFTER_SECONDS = 5


def database_unavailable(exc):
    return isinstance(exc, OperationalError | InterfaceError)


def wants_json(request):
    return request.path.startswith("/api/") or "application/json" in request.headers.get("Accept", "")


@requires_csrf_token
def server_error(request, template_name="500.html"):
    """handler500: a 503 when the exception under way is the database being out of reach,
    Django's 500 otherwise. Renders nothing that needs the database (no user, no session)."""
    exc = sys.exc_info()[1]
    if not database_unavailable(exc):
        return django_server_error(request, template_name)
    message = _("Warroom cannot reach its database. Retry in a few seconds; what you just sent may not be saved.")
    if wants_json(request):
        response = JsonResponse({"detail": message}, status=503)
    else:
        body = loader.get_template("503.html").render({"message": message, "retry_after": RETRY_AFTER_SECONDS})
        response = HttpResponse(body, status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
