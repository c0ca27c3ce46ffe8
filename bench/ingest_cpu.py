"""What one alert delivery costs the web process, counted rather than timed (issue #11): through
the whole middleware stack (Django's test Client, as a request from gunicorn takes), against
/healthz the same way. Not part of `make bench` (bench/run.py leaves it out): a tool for
comparing two versions of the code back to back.

    DATABASE_URL=postgres://... CACHE_URL=redis://.../<n> python bench/ingest_cpu.py [N]

posts N deliveries (default 2000) and N /healthz requests, each after a warm-up, on a test
database it creates and drops (test_<name>), and prints the Python function calls per request
(cProfile: the same on every run) and the CPU milliseconds per request (time.process_time,
without the profiler: varies with the machine). NO_HIREDIS=1 hides hiredis from redis-py;
TOP=tottime (or cumulative) prints the delivery's profile so sorted.
"""

import cProfile
import json
import os
import pstats
import sys
import time

if os.environ.get("NO_HIREDIS"):
    sys.modules["hiredis"] = None
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "False")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("SECURE_HTTPS", "False")
os.environ.setdefault("ALLOWED_HOSTS", "testserver")
os.environ.setdefault("CELERY_BROKER_URL", "memory://")
import django  # noqa: E402

django.setup()
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
setup_test_environment()
from django.conf import settings  # noqa: E402

settings.WARROOM_ALERT_RATE_LIMIT = 10**9
old = connection.creation.create_test_db(verbosity=0)
try:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from incidents.alerts import services as alerts
    from incidents.models import Service

    user, _ = get_user_model().objects.get_or_create(username="bench-cmd")
    user.groups.add(Group.objects.get_or_create(name="commander")[0])
    svc, _ = Service.objects.get_or_create(slug="api", defaults={"name": "API"})
    source, secret, _ = alerts.create_source(user, name="Bench", kind="alertmanager", services=[svc])
    body = json.dumps(
        {
            "version": "4",
            "groupKey": "{}",
            "status": "firing",
            "receiver": "w",
            "groupLabels": {},
            "commonLabels": {},
            "commonAnnotations": {},
            "externalURL": "http://am",
            "truncatedAlerts": 0,
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": "X", "service": "api", "severity": "critical"},
                    "annotations": {"summary": "X"},
                    "startsAt": "2026-03-02T08:58:00Z",
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "http://p/g",
                    "fingerprint": "f1",
                }
            ],
        }
    )
    client = Client()
    url = f"/api/v1/alerts/{source.pk}/"

    def post():
        r = client.post(url, data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {secret}")
        assert r.status_code == 202, r.content

    def health():
        assert client.get("/healthz").status_code == 200

    for name, call in (("delivery", post), ("healthz", health)):
        for _ in range(50):
            call()
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(N):
            call()
        profile.disable()
        calls = pstats.Stats(profile).total_calls / N
        started = time.process_time()
        for _ in range(N):
            call()
        cpu = (time.process_time() - started) / N * 1000
        print(f"{name:10} {calls:8.0f} calls/request {cpu:6.3f} ms CPU/request", flush=True)
        if os.environ.get("TOP") and name == "delivery":
            pstats.Stats(profile).sort_stats(os.environ.get("TOP")).print_stats(45)
finally:
    connection.creation.destroy_test_db(old, verbosity=0)
