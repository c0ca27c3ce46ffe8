"""Concurrent deliveries (PostgreSQL: several connections really at once): the same alert,
or several alerts of one service, delivered by many workers at the same moment open exactly
one incident."""

import threading

import pytest
from django.db import connection, connections

from incidents.alerts import services as alerts
from incidents.alerts.models import Alert
from incidents.models import Incident
from tests.alerts.conftest import alertmanager_payload, am_alert

needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="writers at once need PostgreSQL (SQLite runs one at a time)"
)
pytestmark = [needs_postgresql, pytest.mark.django_db(transaction=True)]
WORKERS = 8


def _process_at_once(delivery_ids):
    barrier = threading.Barrier(len(delivery_ids))
    errors = []

    def run(pk):
        try:
            barrier.wait()
            alerts.process_delivery(pk)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(pk,)) for pk in delivery_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors


def test_concurrent_deliveries_of_one_alert_open_one_incident(source, ingest):
    ids = [ingest(source, alertmanager_payload()).data["delivery"] for _ in range(WORKERS)]
    _process_at_once(ids)
    assert Incident.objects.count() == 1
    assert Alert.objects.count() == 1
    assert Incident.objects.get().timeline.filter(kind="alert").count() == 1


def test_concurrent_alerts_of_one_service_open_one_incident(source, ingest):
    ids = [
        ingest(source, alertmanager_payload(am_alert(f"Alert{i}", fingerprint=f"fp{i}"))).data["delivery"]
        for i in range(WORKERS)
    ]
    _process_at_once(ids)
    assert Incident.objects.count() == 1
    assert Incident.objects.get().alerts.count() == WORKERS


def test_the_same_delivery_processed_by_many_workers_at_once_applies_once(source, ingest):
    pk = ingest(source, alertmanager_payload(*[am_alert(f"A{i}", fingerprint=f"fp{i}") for i in range(5)])).data[
        "delivery"
    ]
    _process_at_once([pk] * WORKERS)
    incident = Incident.objects.get()
    assert incident.timeline.filter(kind="alert").count() == 5
