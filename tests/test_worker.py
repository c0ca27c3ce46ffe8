"""Publishing and notifying through a real Celery worker on the real broker (Redis in CI):
scheduled publishing on time, a double click publishing once, webhook retries with backoff,
410 Gone, and a worker killed mid-delivery losing nothing."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from incidents import outbox
from incidents.comms import services as communications
from incidents.comms.tasks import publish_due_communications
from incidents.models import Communication, TimelineEntry
from statuspage import tasks
from statuspage.models import Maintenance, Notification
from tests.statuspage.page_factories import approver, author  # noqa: F401
from tests.statuspage.subscription_factories import email_subscriber, notifications, webhook_subscriber
from tests.webhook_receiver import webhook_receiver  # noqa: F401
from tests.worker import celery_worker, wait_until  # noqa: F401

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def approved(declare, author, approver, web_chat):  # noqa: F811
    """approved(body) -> an approved status-page update on a public incident."""
    incident = declare(title="Chat replies time out", severity=2)

    def _approved(body="We are looking into slow replies.", level="partial_outage"):
        comm = communications.draft(
            incident,
            author,
            audience="status_page",
            body=body,
            public_status="investigating",
            affected=[{"service": "web-chat", "level": level}],
        )
        communications.submit(comm, author)
        return communications.approve(comm, approver, comm.content_version)

    return _approved


def drained(worker):
    """Wait until the worker has worked through everything queued so far: the queue is first
    in, first out and the worker takes one task at a time, so once a sweep queued now has
    moved a maintenance on, every earlier task has run."""
    now = timezone.now()
    marker = Maintenance.objects.create(
        title="Queue marker", scheduled_for=now - timedelta(minutes=1), scheduled_until=now + timedelta(hours=1)
    )
    tasks.sweep.delay()
    wait_until(
        lambda: Maintenance.objects.get(pk=marker.pk).status == "in_progress", worker=worker, message="the queue"
    )
    marker.delete()


def published_entries(comm):
    return TimelineEntry.objects.filter(data__communication=comm.pk, data__new="published").count()


def test_worker_publishes_a_scheduled_update_on_time_and_notifies(celery_worker, approved):  # noqa: F811
    sub = email_subscriber("ana@example.com")
    comm = approved()
    when = timezone.now() + timedelta(seconds=2)
    communications.schedule(comm, comm.author, when)

    publish_due_communications.delay()  # a beat tick before its time: nothing to do
    drained(celery_worker)
    assert Communication.objects.get(pk=comm.pk).status == "scheduled"

    wait_until(lambda: timezone.now() >= when, timeout=5)
    publish_due_communications.delay()  # the next beat tick (every 15 s in production)

    comm = wait_until(
        lambda: Communication.objects.filter(pk=comm.pk, status="published").first(),
        worker=celery_worker,
        message="the scheduled publish",
    )
    assert timedelta(0) <= comm.published_at - when < timedelta(minutes=1)
    [row] = wait_until(
        lambda: [n for n in notifications(sub) if n.status == "sent"], worker=celery_worker, message="the e-mail"
    )
    assert row.attempts == 1


def test_double_click_publishes_once_and_notifies_each_subscriber_once(
    celery_worker,  # noqa: F811
    approved,
    webhook_receiver,  # noqa: F811
):
    receiver = webhook_receiver([200])
    hook = webhook_subscriber(receiver.url)
    receiver.secret = hook.secret
    people = [email_subscriber(f"s{n}@example.com") for n in range(3)]
    comm = approved()

    communications.request_publish(comm, comm.author)
    communications.request_publish(comm, comm.author)  # the second click, before the first task ran

    everyone = [hook, *people]
    wait_until(
        lambda: Notification.objects.filter(status="sent").count() == len(everyone),
        worker=celery_worker,
        message="every subscriber notified",
    )
    drained(celery_worker)
    assert Communication.objects.get(pk=comm.pk).status == "published"
    assert published_entries(comm) == 1
    assert [len(notifications(s)) for s in everyone] == [1] * len(everyone)
    assert len(receiver.requests) == 1 and receiver.requests[0]["verified"]


def test_webhook_answering_500_then_200_is_delivered_once_with_two_attempts(
    celery_worker,  # noqa: F811
    approved,
    webhook_receiver,  # noqa: F811
):
    receiver = webhook_receiver([500, 200])
    hook = webhook_subscriber(receiver.url)
    receiver.secret = hook.secret

    comm = approved()
    communications.request_publish(comm, comm.author)

    [row] = wait_until(
        lambda: [n for n in notifications(hook) if n.status == "sent"], worker=celery_worker, message="the retry"
    )
    assert row.attempts == 2
    assert len(receiver.requests) == 2
    assert all(r["verified"] for r in receiver.requests)
    assert {r["headers"]["x-warroom-delivery"] for r in receiver.requests} == {str(row.pk)}
    drained(celery_worker)
    assert len(receiver.requests) == 2


def test_webhook_answering_410_is_not_retried_and_is_unsubscribed(
    celery_worker,  # noqa: F811
    approved,
    webhook_receiver,  # noqa: F811
):
    receiver = webhook_receiver([410])
    hook = webhook_subscriber(receiver.url)
    receiver.secret = hook.secret

    comm = approved()
    communications.request_publish(comm, comm.author)

    [row] = wait_until(
        lambda: [n for n in notifications(hook) if n.status == "failed"], worker=celery_worker, message="the 410"
    )
    hook.refresh_from_db()
    assert hook.unsubscribed_at is not None
    assert row.attempts == 1 and "410" in row.last_error

    second = approved("A fix is rolling out.", "degraded_performance")
    communications.request_publish(second, second.author)
    wait_until(
        lambda: Communication.objects.filter(status="published").count() == 2,
        worker=celery_worker,
        message="the second update",
    )
    drained(celery_worker)
    assert len(receiver.requests) == 1
    assert len(notifications(hook)) == 1


def test_a_worker_killed_mid_delivery_loses_nothing(
    celery_worker,  # noqa: F811
    approved,
    webhook_receiver,  # noqa: F811
):
    receiver = webhook_receiver([200])
    hook = webhook_subscriber(receiver.url)
    receiver.secret = hook.secret
    receiver.hold = release = threading.Event()  # the first request hangs until released

    comm = approved()
    communications.request_publish(comm, comm.author)
    wait_until(receiver.received.is_set, worker=celery_worker, message="the first request")
    celery_worker.current.kill()
    release.set()
    [row] = notifications(hook)
    assert row.status == "sending"  # claimed by the dead worker, never recorded

    celery_worker.start_another()
    # Ten minutes later the beat's sweep hands the row back and enqueues it.
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        result = tasks.sweep()
    assert (result["stuck"], result["requeued"]) == (1, 1)

    row = wait_until(
        lambda: Notification.objects.filter(pk=row.pk, status="sent").first(),
        worker=celery_worker,
        message="the redelivery",
    )
    assert row.attempts == 2
    # At least once: the receiver saw it twice, with the same delivery id to drop the repeat.
    assert [r["headers"]["x-warroom-delivery"] for r in receiver.requests] == [str(row.pk)] * 2
    assert all(r["verified"] for r in receiver.requests)


def test_a_worker_killed_mid_batch_resends_only_what_it_had_not_sent_and_resumes_within_a_minute(
    celery_worker,  # noqa: F811
    approved,
    webhook_receiver,  # noqa: F811
):
    receiver = webhook_receiver([200])
    hooks = [webhook_subscriber(receiver.url) for _ in range(4)]
    release = threading.Event()
    receiver.hold_at = (3, release)  # the third call hangs: the worker dies during it

    comm = approved()
    communications.request_publish(comm, comm.author)
    wait_until(lambda: len(receiver.requests) >= 3, worker=celery_worker, message="the third call")
    celery_worker.current.kill()
    release.set()
    # What the dead worker had sent is recorded as sent; the rest waits for its lease to run out.
    assert [notifications(hook)[0].status for hook in hooks] == ["sent", "sent", "sending", "sending"]

    celery_worker.start_another()
    with time_machine.travel(timezone.now() + timedelta(seconds=5)):
        assert tasks.sweep()["stuck"] == 0  # still leased: the worker might be alive
    with time_machine.travel(timezone.now() + outbox.LEASE + timedelta(seconds=1)):
        result = tasks.sweep()  # the beat's next sweep, under a minute after the kill
    assert (result["stuck"], result["requeued"]) == (2, 2)

    wait_until(
        lambda: Notification.objects.filter(status="sent").count() == 4,
        worker=celery_worker,
        message="the rest of the batch",
    )
    ids = [notifications(hook)[0].pk for hook in hooks]
    calls = [int(r["headers"]["x-warroom-delivery"]) for r in receiver.requests]
    # The two sent before the kill are not sent again; the one in flight is (at least once,
    # with the same delivery id); the last one once.
    assert sorted(calls) == sorted([ids[0], ids[1], ids[2], ids[2], ids[3]])
