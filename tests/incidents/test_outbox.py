"""The one outbox mechanism (incidents/outbox.py), on an outbox table of the core: claiming,
recording outcomes with backoff, the sweep's share. Each side's own rules (who is refused,
what a message looks like) are tested with it: tests/incidents/test_reminders.py and
tests/statuspage/test_delivery.py."""

import sqlite3
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from incidents import outbox
from incidents.models import IncidentWebhook, NotificationDelivery
from incidents.webhooks import Permanent, Transient

pytestmark = pytest.mark.django_db


class ScriptedOutbox(outbox.Outbox):
    """The mechanism over the reminders' delivery table, sending nothing: each row's outcome is
    what the test scripted for its key."""

    model = NotificationDelivery
    task = "incidents.reminders.tasks.deliver_notifications"
    retry_base_setting = "WARROOM_NOTIFY_RETRY_BASE_SECONDS"
    group_by = "channel"
    batches = {"webhook": 2, "email": 100}

    def __init__(self, outcomes=None):
        self.outcomes = outcomes or {}
        self.failures = []

    def send(self, rows, outcomes):
        for row in rows:
            outcome = self.outcomes.get(row.key)
            if isinstance(outcome, type) and issubclass(outcome, Exception):
                raise outcome("the transport broke")
            outcomes[row.pk] = outcome

    def after_failure(self, row, outcome, error, now):
        self.failures.append((row.pk, error))


@pytest.fixture
def target(db):
    return IncidentWebhook.objects.create(url="https://hooks.example.com/all")


def rows(target, count, **fields):
    made = NotificationDelivery.objects.bulk_create(
        NotificationDelivery(channel="webhook", webhook=target, key=f"k{n}", **fields) for n in range(count)
    )
    return [row.pk for row in made]


def test_a_claimed_row_is_not_claimed_again(target):
    box = ScriptedOutbox()
    ids = rows(target, 3)
    now = timezone.now()

    assert box.claim(ids, now) == ids
    assert box.claim(ids, now) == []
    # Past the deadline too: only the sweep hands a row back.
    assert box.claim(ids, now + outbox.LEASE) == []
    row = NotificationDelivery.objects.get(pk=ids[0])
    assert (row.status, row.attempts, row.next_attempt_at) == ("sending", 1, now + outbox.LEASE)


def test_a_row_waiting_for_its_retry_is_not_claimed_before_it_is_due(target):
    box = ScriptedOutbox()
    now = timezone.now()
    [pk] = rows(target, 1, next_attempt_at=now + timedelta(minutes=5))

    assert box.claim([pk], now) == []
    assert box.claim([pk], now + timedelta(minutes=5)) == [pk]


def test_ids_above_the_databases_parameter_limit_are_claimed_in_chunks(target, monkeypatch):
    """SQLite caps the parameters of one statement (999 on older builds): the claim keeps each
    chunk within the live connection's limit. PostgreSQL's limit is far above the claim's chunk,
    so there the chunk itself is made that small."""
    box = ScriptedOutbox()
    ids = rows(target, 2500)
    connection.ensure_connection()
    raw = connection.connection
    if connection.vendor == "sqlite":
        limit = raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 999)
    else:
        monkeypatch.setattr(outbox, "CLAIM_CHUNK", 999)
    try:
        with CaptureQueriesContext(connection) as queries:
            claimed = box.claim(ids)
    finally:
        if connection.vendor == "sqlite":
            raw.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, limit)

    assert claimed == ids
    assert sum(q["sql"].startswith("UPDATE") for q in queries) == 3
    assert NotificationDelivery.objects.filter(status="sending", attempts=1).count() == 2500


def test_each_row_is_claimed_once_across_chunks(target, monkeypatch):
    monkeypatch.setattr(outbox, "CLAIM_CHUNK", 3)
    box = ScriptedOutbox()
    ids = rows(target, 10)
    box.claim(ids[:4])

    assert box.claim(ids) == ids[4:]
    assert NotificationDelivery.objects.filter(attempts=1).count() == 10


def test_backoff_doubles_from_the_setting_and_stops_at_the_cap(settings):
    settings.WARROOM_NOTIFY_RETRY_BASE_SECONDS = 30
    box = ScriptedOutbox()

    delays = [box.backoff(attempts).total_seconds() for attempts in range(1, 9)]

    assert delays == [30, 60, 120, 240, 480, 960, 1920, outbox.BACKOFF_CAP.total_seconds()]


def test_a_transient_error_puts_the_row_back_after_the_backoff(target, settings, time_machine):
    settings.WARROOM_NOTIFY_RETRY_BASE_SECONDS = 30
    time_machine.move_to(timezone.now(), tick=False)
    box = ScriptedOutbox({"k0": Transient("HTTP 503")})
    [pk] = rows(target, 1)

    first = box.deliver([pk])
    row = NotificationDelivery.objects.get(pk=pk)
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "HTTP 503")
    assert row.next_attempt_at == timezone.now() + timedelta(seconds=30)
    assert first.retry == {30: [pk]}

    time_machine.shift(timedelta(seconds=30))
    second = box.deliver([pk])
    assert second.retry == {60: [pk]}


def test_the_last_transient_error_fails_the_row(target):
    box = ScriptedOutbox({"k0": Transient("HTTP 503")})
    [pk] = rows(target, 1, attempts=outbox.MAX_ATTEMPTS - 1)

    result = box.deliver([pk])

    row = NotificationDelivery.objects.get(pk=pk)
    assert (row.status, row.attempts) == ("failed", outbox.MAX_ATTEMPTS)
    assert row.last_error == f"Gave up after {outbox.MAX_ATTEMPTS} attempts: HTTP 503"
    assert (result.failed, result.retry) == ([pk], {})
    assert box.failures == [(pk, row.last_error)]


def test_a_permanent_error_fails_the_row_at_once_with_a_truncated_error(target):
    box = ScriptedOutbox({"k0": Permanent("x" * 5000), "k1": None})
    failing, fine = rows(target, 2)

    result = box.deliver([failing, fine])

    assert (result.sent, result.failed) == ([fine], [failing])
    row = NotificationDelivery.objects.get(pk=failing)
    assert (row.status, row.last_error) == ("failed", "x" * outbox.ERROR_LENGTH)
    assert NotificationDelivery.objects.get(pk=fine).status == "sent"


def test_a_broken_transport_leaves_no_row_sending(target):
    box = ScriptedOutbox({"k0": None, "k1": RuntimeError})
    sent, broken = rows(target, 2)

    result = box.deliver([sent, broken])

    assert result.sent == [sent]
    row = NotificationDelivery.objects.get(pk=broken)
    assert (row.status, row.last_error) == ("pending", "RuntimeError: the transport broke")


def test_rows_whose_lease_ran_out_come_back_and_are_requeued_by_the_same_sweep(
    target, django_capture_on_commit_callbacks
):
    box = ScriptedOutbox()
    [pk] = rows(target, 1)
    claimed_at = timezone.now()
    box.claim([pk], claimed_at)  # ... and the worker dies

    assert outbox.LEASE.total_seconds() <= 30  # with the sweep every 30 s: back within a minute
    assert box.release_stuck(claimed_at + outbox.LEASE - timedelta(seconds=1)) == 0
    released_at = claimed_at + outbox.LEASE
    assert box.release_stuck(released_at) == 1
    row = NotificationDelivery.objects.get(pk=pk)
    assert (row.status, row.attempts) == ("pending", 1)
    with django_capture_on_commit_callbacks() as queued:
        assert box.requeue_due(released_at) == 1
    assert len(queued) == 1
    assert box.claim([pk], released_at) == [pk]


class SlowOutbox(ScriptedOutbox):
    """Sends each row after looking at what the table says of the rows before it."""

    def send(self, rows, outcomes):
        self.seen = []
        for row in rows:
            self.seen.append(
                dict(NotificationDelivery.objects.filter(pk__in=[r.pk for r in rows]).values_list("pk", "status"))
            )
            outcomes[row.pk] = None


def test_each_row_is_recorded_as_sent_as_it_goes_so_a_dead_worker_resends_only_the_rest(target):
    box = SlowOutbox()
    ids = rows(target, 3)

    box.deliver(ids)

    # While the third row was being sent, the first two were already recorded as sent.
    assert box.seen[2] == {ids[0]: "sent", ids[1]: "sent", ids[2]: "sending"}
    assert list(NotificationDelivery.objects.filter(pk__in=ids).values_list("status", flat=True)) == ["sent"] * 3


def test_a_worker_renews_the_lease_of_the_rows_it_has_still_to_send(target, time_machine):
    box = SlowOutbox()
    ids = rows(target, 2)
    start = timezone.now()
    time_machine.move_to(start, tick=False)
    [first, second] = box.claim(ids, start)
    progress = outbox.Progress(box, list(NotificationDelivery.objects.filter(pk__in=ids).order_by("pk")))

    time_machine.move_to(start + timedelta(seconds=20), tick=False)
    progress[first] = None  # sent, twenty seconds into the batch

    row = NotificationDelivery.objects.get(pk=second)
    assert (row.status, row.next_attempt_at) == ("sending", start + timedelta(seconds=20) + outbox.LEASE)
    assert box.release_stuck(start + outbox.LEASE + timedelta(seconds=1)) == 0


def test_a_stuck_row_out_of_attempts_fails_instead_of_coming_back(target):
    box = ScriptedOutbox()
    [pk] = rows(target, 1, attempts=outbox.MAX_ATTEMPTS - 1)
    claimed_at = timezone.now()
    box.claim([pk], claimed_at)

    assert box.release_stuck(claimed_at + outbox.LEASE) == 1
    row = NotificationDelivery.objects.get(pk=pk)
    assert row.status == "failed"
    assert row.last_error.startswith(f"Gave up after {outbox.MAX_ATTEMPTS} attempts")


def test_requeue_enqueues_pending_rows_due_past_the_grace_in_batches(target, django_capture_on_commit_callbacks):
    box = ScriptedOutbox()
    now = timezone.now()
    rows(target, 5, next_attempt_at=now - outbox.SWEEP_GRACE)
    NotificationDelivery.objects.filter(key="k4").update(next_attempt_at=now)  # its own task may still come
    NotificationDelivery.objects.filter(key="k3").update(status="sent")

    with django_capture_on_commit_callbacks() as callbacks:
        assert box.requeue_due(now) == 3

    assert len(callbacks) == 2  # webhook batches of 2


def test_retry_now_makes_failed_rows_due(target, django_capture_on_commit_callbacks):
    box = ScriptedOutbox()
    later = timezone.now() + timedelta(hours=1)
    failed, sent = rows(target, 2, status="failed", next_attempt_at=later)
    NotificationDelivery.objects.filter(pk=sent).update(status="sent")

    with django_capture_on_commit_callbacks() as callbacks:
        assert box.retry_now([failed, sent]) == 1

    assert len(callbacks) == 1
    assert box.claim([failed, sent]) == [failed]
