"""Routing in batches (incidents.alerts.services.route_source): a burst of deliveries is routed
a batch at a time, and leaves the alerts, incidents and timeline lines that routing each
delivery on its own leaves, in a bounded number of queries; routers at once (PostgreSQL) split
the waiting deliveries instead of queueing on each other's rows."""

import threading

import pytest
from django.db import connection, connections, transaction

from incidents.alerts import services as alerts
from incidents.alerts.models import Alert, AlertDelivery
from incidents.models import Incident, TimelineEntry
from tests.alerts.conftest import alertmanager_payload, am_alert

needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="routers at once need PostgreSQL (SQLite runs one writer at a time)"
)


def flapping(source, ingest, n, fingerprint="f1"):
    """n deliveries of one alert, firing and resolved in turn (firing first): their ids."""
    statuses = ("firing", "resolved")
    return [
        ingest(source, alertmanager_payload(am_alert(status=statuses[i % 2], fingerprint=fingerprint))).data["delivery"]
        for i in range(n)
    ]


def what_users_see():
    """The alert and its incident's alert lines, without the ids that differ between runs."""
    alert = Alert.objects.get()
    lines = [
        (entry.body, {k: v for k, v in entry.data.items() if k != "alert"})
        for entry in TimelineEntry.objects.filter(kind="alert").order_by("id")
    ]
    incidents = list(Incident.objects.values_list("title", "severity", "status"))
    return (alert.status, alert.fired_count, alert.resolved_count, alert.title), lines, incidents


@pytest.mark.django_db
def test_a_batch_of_a_flapping_alert_leaves_what_routing_one_by_one_leaves(source, ingest):
    ids = flapping(source, ingest, 50)
    for pk in ids:
        alerts.process_delivery(pk)
    one_by_one = what_users_see()
    Incident.objects.all().delete()
    Alert.objects.all().delete()
    AlertDelivery.objects.update(processed_at=None)

    assert alerts.route_source(source.pk) == 50

    assert what_users_see() == one_by_one
    status, lines, incidents = one_by_one
    assert status == ("resolved", 25, 25, "HighErrorRate on the API")
    assert [body.split("\n")[0] for body, _data in lines] == [
        "Alert firing: HighErrorRate on the API (Prometheus).",
        "Alert resolved: HighErrorRate on the API (Prometheus).",
        "Alert flapping: HighErrorRate on the API (Prometheus): fired 25 times, resolved 25 times; resolved now.",
    ]
    assert lines[-1][1]["fired"] == 25 and lines[-1][1]["resolved"] == 25
    assert len(incidents) == 1
    assert not AlertDelivery.objects.filter(processed_at__isnull=True).exists()


@pytest.mark.django_db
def test_a_flapping_line_already_on_the_timeline_is_updated_once_per_batch(source, ingest, deliver):
    for status in ("firing", "resolved", "firing"):
        deliver(source, alertmanager_payload(am_alert(status=status)))
    line = TimelineEntry.objects.get(kind="alert", data__state="flapping")
    incident = Incident.objects.get()
    version = incident.version
    flapping(source, ingest, 20)  # the first (firing) changes nothing: 9 more firings, 10 more resolutions

    alerts.route_source(source.pk)

    line.refresh_from_db()
    incident.refresh_from_db()
    assert "fired 11 times, resolved 11 times; resolved now" in line.body
    assert line.revisions.count() == 1  # one edit for the batch, not one per change
    assert incident.version == version + 1 and line.seq == incident.version
    assert TimelineEntry.objects.filter(kind="alert").count() == 3


@pytest.mark.django_db
def test_a_burst_of_fifty_alerts_is_routed_in_a_bounded_number_of_queries(
    source, ingest, django_assert_max_num_queries
):
    for i in range(50):
        assert ingest(source, alertmanager_payload(am_alert(f"Alert{i}", fingerprint=f"fp{i}"))).status_code == 202
    # Opening the incident takes a dozen; routing each delivery on its own took about 20 per alert.
    with django_assert_max_num_queries(40):
        assert alerts.route_source(source.pk) == 50
    incident = Incident.objects.get()
    assert incident.alerts.count() == 50
    assert incident.timeline.filter(kind="alert").count() == 50
    assert not AlertDelivery.objects.filter(processed_at__isnull=True).exists()


@pytest.mark.django_db
def test_the_sweep_routes_a_delivery_whose_task_was_lost(source, ingest, time_machine):
    from datetime import timedelta

    from django.utils import timezone

    from incidents.alerts.tasks import sweep

    time_machine.move_to(timezone.now(), tick=False)
    ingest(source, alertmanager_payload())
    time_machine.move_to(timezone.now() + timedelta(minutes=2), tick=False)
    assert sweep() == 1
    assert Alert.objects.get().incident == Incident.objects.get()
    assert sweep() == 0


class Router:
    """Another router, in a thread with its own connection, that has claimed the oldest batch
    of a source and holds it (its transaction open) until `release()`."""

    def __init__(self, source_pk):
        self.claimed, self.ready, self.done = [], threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._run, args=(source_pk,))
        self.thread.start()
        assert self.ready.wait(30)

    def _run(self, source_pk):
        try:
            with transaction.atomic():
                pending = AlertDelivery.objects.filter(source_id=source_pk, processed_at__isnull=True)
                batch = pending.select_for_update(skip_locked=True).order_by("pk")[: alerts.ROUTING_BATCH]
                self.claimed = list(batch.values_list("pk", flat=True))
                self.ready.set()
                self.done.wait(60)
        finally:
            self.ready.set()
            connections.close_all()

    def release(self):
        self.done.set()
        self.thread.join(60)


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_router_takes_the_next_batch_instead_of_waiting_for_the_one_another_holds(source, ingest):
    ids = [
        ingest(source, alertmanager_payload(am_alert(f"Alert{i}", fingerprint=f"fp{i:03d}"))).data["delivery"]
        for i in range(2 * alerts.ROUTING_BATCH)
    ]
    other = Router(source.pk)
    try:
        assert other.claimed == ids[: alerts.ROUTING_BATCH]
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '5s'")  # waiting on the other router's rows fails the test
        assert alerts.route_batch(source.pk) == alerts.ROUTING_BATCH
        routed = set(AlertDelivery.objects.filter(processed_at__isnull=False).values_list("pk", flat=True))
        assert routed == set(ids[alerts.ROUTING_BATCH :])
    finally:
        other.release()
    assert alerts.route_source(source.pk) == alerts.ROUTING_BATCH
    assert not AlertDelivery.objects.filter(processed_at__isnull=True).exists()
    assert Incident.objects.count() == 1 and Alert.objects.filter(incident__isnull=False).count() == len(ids)


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_an_alert_takes_its_states_in_order_when_another_router_holds_the_older_ones(source, ingest):
    flapping(source, ingest, 2 * alerts.ROUTING_BATCH)
    other = Router(source.pk)
    try:
        alerts.route_batch(source.pk)  # the newer half, with the older half's states first
    finally:
        other.release()
    alerts.route_source(source.pk)  # the older half: applied already, marked routed
    alert = Alert.objects.get()
    assert (alert.status, alert.fired_count, alert.resolved_count) == ("resolved", 50, 50)
    assert "fired 50 times, resolved 50 times; resolved now" in alert.entry.body
    assert not AlertDelivery.objects.filter(processed_at__isnull=True).exists()


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_routers_at_once_route_every_delivery_exactly_once(source, ingest):
    total = 4 * alerts.ROUTING_BATCH
    for i in range(total):
        ingest(source, alertmanager_payload(am_alert(f"Alert{i % 40}", fingerprint=f"fp{i % 40:02d}")))
    barrier, routed, errors = threading.Barrier(3), [], []

    def route():
        try:
            barrier.wait()
            routed.append(alerts.route_source(source.pk))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=route) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    assert sum(routed) == total  # each delivery claimed by one router
    assert not AlertDelivery.objects.filter(processed_at__isnull=True).exists()
    assert Incident.objects.count() == 1 and Alert.objects.count() == 40
    assert set(Alert.objects.values_list("fired_count", "incident")) == {(1, Incident.objects.get().pk)}
    assert TimelineEntry.objects.filter(kind="alert").count() == 40


@pytest.mark.django_db
def test_a_batch_takes_at_most_its_share_of_alerts_however_many_a_delivery_carries(source, ingest):
    many = [am_alert(f"A{i}", fingerprint=f"fp{i:03d}") for i in range(300)]
    ids = [ingest(source, alertmanager_payload(*many)).data["delivery"] for _ in range(3)]
    assert alerts.route_batch(source.pk) == 300  # two deliveries would be 600, over 500
    assert list(AlertDelivery.objects.filter(processed_at__isnull=False).values_list("pk", flat=True)) == ids[:1]
    assert alerts.route_source(source.pk) == 600
    assert Alert.objects.count() == 300 and Incident.objects.count() == 1
