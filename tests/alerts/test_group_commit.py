"""Deliveries that arrive together share one commit (incidents/alerts/intake.py): each caller is
answered once its own delivery is stored, with its own id; a row its source no longer vouches
for, or one the database refuses, fails alone."""

import hashlib
import json
import threading
import time

import pytest
from django.db import connection, connections, transaction
from django.test import Client

from incidents.alerts import intake
from incidents.alerts import services as alerts
from incidents.alerts.models import AlertDelivery, AlertSource
from tests.alerts.conftest import alertmanager_payload, am_alert
from tests.conftest import needs_postgresql

pytestmark = [needs_postgresql, pytest.mark.django_db(transaction=True)]
TABLE = AlertDelivery._meta.db_table


@pytest.fixture(autouse=True)
def patient_queue(monkeypatch):
    """The tests hold a group up on purpose while others queue behind it: on a slow machine
    the queue must not give up on it first (the one test of that sets its own)."""
    monkeypatch.setattr(intake, "STALLED_AFTER", 30)


def body(n):
    return json.dumps(alertmanager_payload(am_alert(fingerprint=f"f{n}"))).encode()


def post_in_thread(source, payload, answers, key):
    def run():
        try:
            # Not re-raised: the test client hears every thread's error (a signal), not its own.
            response = Client(raise_request_exception=False).post(
                f"/api/v1/alerts/{source.pk}/",
                data=payload,
                content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {source.secret}",
            )
            answer = json.loads(response.content) if response["Content-Type"] == "application/json" else None
            answers[key] = (response.status_code, answer)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def wait_for(condition, seconds=20):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def queued():
    return len(alerts._deliveries._queue)


def inserts_waiting():
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # else a transaction sees its first look
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
            [f'INSERT INTO "{TABLE}"%'],
        )
        return cursor.fetchone()[0]


def storm_behind(hold, source_bodies):
    """Inside `hold` (a context that blocks INSERTs into the deliveries table), one delivery
    starts storing and waits; the others of `source_bodies` ([(source, body)]) queue behind it.
    Returns {index: (status, answer)} once every thread answered after `hold` ends."""
    answers, threads = {}, []
    with hold():
        first_source, first_body = source_bodies[0]
        threads.append(post_in_thread(first_source, first_body, answers, 0))
        wait_for(lambda: inserts_waiting() == 1)
        for i, (source, payload) in enumerate(source_bodies[1:], start=1):
            threads.append(post_in_thread(source, payload, answers, i))
        wait_for(lambda: queued() == len(source_bodies) - 1)
        assert not answers  # nobody is answered before its delivery is stored
    for thread in threads:
        thread.join(30)
    return answers


def table_locked():
    """INSERTs into the deliveries table wait while this holds (SHARE mode blocks them)."""
    atomic = transaction.atomic()

    class Hold:
        def __enter__(self):
            atomic.__enter__()
            with connection.cursor() as cursor:
                cursor.execute(f'LOCK TABLE "{TABLE}" IN SHARE MODE')

        def __exit__(self, *exc):
            return atomic.__exit__(*exc)

    return Hold()


def test_deliveries_that_arrive_while_one_is_stored_share_the_next_commit(source):
    alerts._deliveries.largest_group = 0
    answers = storm_behind(table_locked, [(source, body(n)) for n in range(10)])
    assert sorted(status for status, _ in answers.values()) == [202] * 10
    ids = [answer["delivery"] for _, answer in answers.values()]
    assert len(set(ids)) == 10
    assert set(AlertDelivery.objects.values_list("pk", flat=True)) == set(ids)
    # What each answer says it stored is what the row holds.
    for i, (_, answer) in answers.items():
        stored = AlertDelivery.objects.get(pk=answer["delivery"])
        assert stored.alerts[0]["fingerprint"] == f"f{i}"
        assert stored.body_hash == hashlib.sha256(body(i)).hexdigest()
    # The first alone; the nine that queued behind it in one transaction.
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(DISTINCT xmin::text) FROM "{TABLE}"')  # noqa: S608
        assert cursor.fetchone()[0] == 2
    assert alerts._deliveries.largest_group == 9


def test_a_source_paused_while_its_delivery_waits_in_a_group_refuses_only_that_delivery(source, commander):
    other, other_secret, _key = alerts.create_source(commander, name="Grafana", kind="alertmanager")
    other.secret = other_secret
    mixed = [(source, body(0)), (source, body(1)), (other, body(2)), (source, body(3)), (other, body(4))]

    class PauseOtherMeanwhile:
        def __enter__(self):
            self.hold = table_locked()
            self.hold.__enter__()

        def __exit__(self, *exc):
            # In the same transaction as the lock: the queued INSERTs see it when they run.
            AlertSource.objects.filter(pk=other.pk).update(paused=True)
            return self.hold.__exit__(*exc)

    # The other source is known to this process (a delivery went in) before it is paused.
    assert (
        Client()
        .post(
            f"/api/v1/alerts/{other.pk}/",
            data=body(9),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {other_secret}",
        )
        .status_code
        == 202
    )
    answers = storm_behind(PauseOtherMeanwhile, mixed)
    assert {i: status for i, (status, _) in answers.items()} == {0: 202, 1: 202, 2: 423, 3: 202, 4: 423}
    assert AlertDelivery.objects.filter(source=source).count() == 3
    assert AlertDelivery.objects.filter(source=other).count() == 1  # the one before the pause


def test_a_row_the_database_refuses_fails_alone_and_the_rest_of_its_group_is_stored(source):
    poisoned = hashlib.sha256(body(3)).hexdigest()

    class RefuseOneMeanwhile:
        """A constraint no other delivery breaks; adding it locks the table until it commits."""

        def __enter__(self):
            self.atomic = transaction.atomic()
            self.atomic.__enter__()
            with connection.cursor() as cursor:
                cursor.execute(
                    f'ALTER TABLE "{TABLE}" ADD CONSTRAINT test_refuse_one CHECK (body_hash <> %s)', [poisoned]
                )

        def __exit__(self, *exc):
            return self.atomic.__exit__(*exc)

    try:
        answers = storm_behind(RefuseOneMeanwhile, [(source, body(n)) for n in range(6)])
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'ALTER TABLE "{TABLE}" DROP CONSTRAINT IF EXISTS test_refuse_one')
    assert {i: status for i, (status, _) in answers.items()} == {0: 202, 1: 202, 2: 202, 3: 500, 4: 202, 5: 202}
    stored = {AlertDelivery.objects.get(pk=answers[i][1]["delivery"]).body_hash for i in (0, 1, 2, 4, 5)}
    assert stored == {hashlib.sha256(body(i)).hexdigest() for i in (0, 1, 2, 4, 5)}
    assert AlertDelivery.objects.count() == 5


def test_the_same_body_twice_in_one_group_is_stored_twice_with_an_id_each(source):
    answers = storm_behind(table_locked, [(source, body(0)), (source, body(1)), (source, body(1)), (source, body(2))])
    assert sorted(status for status, _ in answers.values()) == [202] * 4
    ids = {i: answer["delivery"] for i, (_, answer) in answers.items()}
    assert len(set(ids.values())) == 4
    for i, n in ((1, 1), (2, 1), (3, 2)):
        assert AlertDelivery.objects.get(pk=ids[i]).body_hash == hashlib.sha256(body(n)).hexdigest()


def test_a_delivery_on_a_connection_the_database_closed_is_stored_on_a_new_one(source):
    """After a database restart or failover, a web process's kept connection is closed: the
    first delivery on it is stored all the same, not answered 503 (the monitoring system would
    resend, but a storm would lose a delivery per thread)."""
    client = Client(raise_request_exception=False)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {source.secret}"}
    url = f"/api/v1/alerts/{source.pk}/"
    assert client.post(url, data=body(0), content_type="application/json", **headers).status_code == 202
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:  # as the database's restart does
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    finally:
        other.close()
    response = client.post(url, data=body(1), content_type="application/json", **headers)
    assert response.status_code == 202, response.content
    assert AlertDelivery.objects.count() == 2


def test_a_group_held_up_by_one_sources_lock_does_not_hold_up_another_sources_deliveries(
    source, commander, monkeypatch
):
    """While a source is being deleted its row is locked, and a delivery of it waits: deliveries
    of other sources, queued behind it, are stored by their own threads after a moment, and
    those that come meanwhile at once."""
    monkeypatch.setattr(intake, "STALLED_AFTER", 0.3)
    other, other_secret, _key = alerts.create_source(commander, name="Grafana", kind="alertmanager")
    other.secret = other_secret
    answers, threads = {}, []
    with transaction.atomic():
        with connection.cursor() as cursor:  # as a DELETE of the source does
            cursor.execute(f'SELECT 1 FROM "{AlertSource._meta.db_table}" WHERE id = %s FOR UPDATE', [source.pk])
        threads.append(post_in_thread(source, body(0), answers, "locked"))
        wait_for(lambda: inserts_waiting() == 1)
        threads.append(post_in_thread(other, body(1), answers, "queued"))
        wait_for(lambda: "queued" in answers, seconds=10)
        threads.append(post_in_thread(other, body(2), answers, "after"))
        wait_for(lambda: "after" in answers, seconds=10)
        assert "locked" not in answers
    for thread in threads:
        thread.join(30)
    assert {key: status for key, (status, _) in answers.items()} == {"locked": 202, "queued": 202, "after": 202}
    assert AlertDelivery.objects.filter(source=other).count() == 2
    assert AlertDelivery.objects.filter(source=source).count() == 1
