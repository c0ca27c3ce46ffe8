"""Liveness and readiness for load balancers and orchestrators (no authentication, no session)."""

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache


@never_cache
def healthz(request):
    return JsonResponse({"status": "ok"})


def _database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _broker():
    from config.celery import app

    # Ask for the broker named by the settings now (the app caches its configuration once
    # read). No retries: a probe answers now, and the orchestrator asks again.
    with app.connection_for_write(url=settings.CELERY_BROKER_URL, connect_timeout=2) as conn:
        conn.ensure_connection(max_retries=0, timeout=2)


def _cache():
    cache.get("readyz:probe")


# What readiness depends on. The cache is reported but not among them: a web process answers
# without it (incidents.shared_cache), and taking every process out of rotation for a Redis
# outage would take the status page down with it.
REQUIRED = ("database", "broker")


@never_cache
def readyz(request):
    checks = {}
    for name, probe in (("database", _database), ("broker", _broker), ("cache", _cache)):
        try:
            probe()
        except Exception as exc:  # noqa: BLE001 - any failure is "down"; say which and why
            checks[name] = f"down: {exc.__class__.__name__}: {exc}"[:300] if settings.DEBUG else "down"
        else:
            checks[name] = "ok"
    ready = all(checks[name] == "ok" for name in REQUIRED)
    return JsonResponse({"status": "ok" if ready else "unavailable", **checks}, status=200 if ready else 503)
