"""What the ingestion endpoint leaves for the workers: a burst of deliveries from one source
shares one routing task on the broker (with the shared cache), and a real worker routes every
delivery of the burst, in order."""

import json
import os

import pytest
from django.conf import settings

from config.celery import app as celery_app
from incidents.alerts.models import Alert, AlertDelivery
from incidents.models import Incident
from tests.alerts.conftest import alertmanager_payload, am_alert
from tests.worker import celery_worker, wait_until  # noqa: F401

LOCAL_CACHE = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "routing-tests"}}


def queued_tasks():
    """The names of the tasks waiting on the test broker's queue (Redis)."""
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        if os.environ.get("CI") == "true":
            pytest.fail("CI runs the broker on Redis")
        pytest.skip("needs the broker on Redis (CELERY_BROKER_URL)")
    with celery_app.connection_for_write() as conn:
        client = conn.default_channel.client
        return [json.loads(message)["headers"]["task"] for message in client.lrange("celery", 0, -1)]


def purge():
    with celery_app.connection_for_write() as conn:
        conn.default_channel.queue_purge("celery")


def burst(source, ingest, n=6):
    """n deliveries of one alert, firing and resolved in turn."""
    for i in range(n):
        status = "firing" if i % 2 == 0 else "resolved"
        assert ingest(source, alertmanager_payload(am_alert(status=status))).status_code == 202


@pytest.mark.django_db
def test_a_burst_from_one_source_queues_one_routing_task(source, ingest, settings, django_capture_on_commit_callbacks):
    settings.CACHES = LOCAL_CACHE  # shared by every process in production (Redis)
    queued_tasks()
    purge()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            burst(source, ingest)
        assert queued_tasks() == ["incidents.alerts.route_source"]
    finally:
        purge()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_worker_routes_every_delivery_of_a_burst_in_order(source, ingest, celery_worker):  # noqa: F811
    burst(source, ingest)
    wait_until(
        lambda: not AlertDelivery.objects.filter(processed_at__isnull=True).exists(),
        timeout=60,
        worker=celery_worker,
        message="every delivery routed",
    )
    alert = Alert.objects.get()
    assert (alert.status, alert.fired_count, alert.resolved_count) == ("resolved", 3, 3)
    assert Incident.objects.count() == 1
