"""Reminder delivery through a real Celery worker on the real broker (Redis in CI): the beat's
sweep task sends a reminder end to end; a worker killed (SIGKILL) while it talks to the mail
server loses nothing and the e-mail arrives exactly once after a new worker starts; a webhook
answering 500 then 200 is delivered once with two attempts; a 410 is never retried and
disables the target.

The worker is another process with the real clock, so incidents are made to look old by
moving their times back, not by moving the clock (tests/worker.py explains the fixture).
"""

import socketserver
import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone

from incidents import services
from incidents.models import Incident, IncidentWebhook, NotificationDelivery, UserNotification
from incidents.reminders import delivery as notify
from incidents.reminders import sweep as reminders
from incidents.reminders import tasks
from incidents.security import mitigations as security
from tests.conftest import make_user
from tests.webhook_receiver import webhook_receiver  # noqa: F401
from tests.worker import Worker, _check_broker, celery_worker, database_url, wait_until, worker_env  # noqa: F401

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def worker_knobs(monkeypatch):
    """For the workers these tests start (they inherit the environment): receivers listen on
    127.0.0.1, and retries come after 1 s, 2 s ... instead of 30 s, 60 s ..."""
    monkeypatch.setenv("WARROOM_ALLOW_PRIVATE_WEBHOOKS", "True")
    monkeypatch.setenv("WARROOM_NOTIFY_RETRY_BASE_SECONDS", "1")


@pytest.fixture
def overdue_update(declare, commander):
    """A SEV1 incident, acknowledged, declared 31 minutes ago without a public update since:
    its next public update is a minute overdue (the commander is reminded; no comms lead)."""
    incident = declare(title="Chat replies time out", severity=1)
    services.acknowledge(incident, commander)
    Incident.objects.filter(pk=incident.pk).update(declared_at=timezone.now() - timedelta(minutes=31))
    return incident


@pytest.fixture
def review_due(declare, commander, responder):
    """A SEV3 incident, acknowledged, whose one due reminder is a mitigation past its review
    time (the responder owns it): nothing else falls due for hours, even with the clock moved
    on to hand back a dead worker's rows."""
    responder.email = "resp@example.com"
    responder.save(update_fields=["email"])
    incident = declare(title="Sign-ups flooded by bots", severity=3)
    services.acknowledge(incident, commander)
    mitigation = security.add_mitigation(
        incident, commander, title="Sign-ups limited to one country", description="Phone numbers of one country only.",
        owner=responder, review_by=timezone.now() + timedelta(seconds=1),
    )  # fmt: skip
    wait_until(lambda: timezone.now() > mitigation.review_by, timeout=5)
    return incident


def webhook_rows(target):
    return list(NotificationDelivery.objects.filter(webhook=target).order_by("pk"))


def drained(worker, django_user_model):
    """Wait until the worker has worked through everything queued so far: the queue is first
    in, first out and the worker takes one task at a time, so once a marker e-mail queued now
    is sent, every earlier task has run."""
    marker = make_user(django_user_model, f"marker-{timezone.now().timestamp()}", email="marker@example.com")
    with transaction.atomic():
        notify.send([notify.Message(user_id=marker.pk, key="queue-marker", title="Queue marker", url="http://x/")])
    wait_until(
        lambda: NotificationDelivery.objects.filter(notification__user=marker, status="sent").exists(),
        worker=worker,
        message="the queue",
    )


def test_the_beat_sweep_sends_a_due_reminder_through_the_worker(
    celery_worker,  # noqa: F811
    overdue_update,
    commander,
    webhook_receiver,  # noqa: F811
    django_user_model,
):
    receiver = webhook_receiver([200])
    target = IncidentWebhook.objects.create(incident=overdue_update, url=receiver.url, format="slack")

    tasks.sweep_reminders.delay()

    [row] = wait_until(
        lambda: [r for r in webhook_rows(target) if r.status == "sent"], worker=celery_worker, message="the webhook"
    )
    [note] = UserNotification.objects.filter(user=commander)
    assert note.kind == "update_due" and note.url.endswith(overdue_update.get_absolute_url())
    assert len(receiver.requests) == 1 and overdue_update.reference in receiver.requests[0]["json"]["text"]
    tasks.sweep_reminders.delay()  # the next beat tick: the same window, nothing new
    drained(celery_worker, django_user_model)
    assert len(receiver.requests) == 1 and UserNotification.objects.filter(user=commander).count() == 1


def test_webhook_answering_500_then_200_is_delivered_once_with_two_attempts(
    celery_worker,  # noqa: F811
    overdue_update,
    commander,
    webhook_receiver,  # noqa: F811
    django_user_model,
):
    receiver = webhook_receiver([500, 200])
    target = IncidentWebhook.objects.create(incident=overdue_update, url=receiver.url)
    receiver.secret = target.secret

    reminders.sweep()

    [row] = wait_until(
        lambda: [r for r in webhook_rows(target) if r.status == "sent"], worker=celery_worker, message="the retry"
    )
    assert row.attempts == 2 and row.last_error == ""
    assert len(receiver.requests) == 2 and all(r["verified"] for r in receiver.requests)
    assert {r["headers"]["x-warroom-delivery"] for r in receiver.requests} == {str(row.pk)}
    drained(celery_worker, django_user_model)
    assert len(receiver.requests) == 2


def test_webhook_answering_410_is_not_retried_and_the_target_is_disabled(
    celery_worker,  # noqa: F811
    overdue_update,
    commander,
    webhook_receiver,  # noqa: F811
    django_user_model,
):
    receiver = webhook_receiver([410])
    target = IncidentWebhook.objects.create(incident=overdue_update, url=receiver.url)

    reminders.sweep()

    [row] = wait_until(
        lambda: [r for r in webhook_rows(target) if r.status == "failed"], worker=celery_worker, message="the 410"
    )
    assert row.attempts == 1 and "410" in row.last_error
    target.refresh_from_db()
    assert not target.active

    # The next reminder about the incident is not sent to the disabled target.
    security.add_mitigation(
        overdue_update, commander, title="Rate limit", description="10 requests a second.",
        review_by=timezone.now() + timedelta(seconds=1),
    )  # fmt: skip
    wait_until(lambda: timezone.now() > overdue_update.mitigations.get().review_by, timeout=5)
    assert reminders.sweep()["fired"] == 1
    drained(celery_worker, django_user_model)
    assert len(receiver.requests) == 1 and len(webhook_rows(target)) == 1


def test_a_worker_killed_mid_webhook_loses_nothing(
    celery_worker,  # noqa: F811
    review_due,
    webhook_receiver,  # noqa: F811
):
    receiver = webhook_receiver([200])
    target = IncidentWebhook.objects.create(incident=review_due, url=receiver.url)
    receiver.secret = target.secret
    receiver.hold = release = threading.Event()  # the first request hangs until released

    reminders.sweep()
    wait_until(receiver.received.is_set, worker=celery_worker, message="the first request")
    celery_worker.current.kill()
    release.set()
    [row] = webhook_rows(target)
    assert row.status == "sending"  # claimed by the dead worker, never recorded

    celery_worker.start_another()
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        result = reminders.sweep()  # the beat's sweep, after the claim's deadline
    assert (result["fired"], result["stuck"]) == (0, 1) and result["requeued"] >= 1

    row = wait_until(
        lambda: NotificationDelivery.objects.filter(pk=row.pk, status="sent").first(),
        worker=celery_worker,
        message="the redelivery",
    )
    assert row.attempts == 2 and len(webhook_rows(target)) == 1
    # At least once for webhooks: the receiver saw it twice, with one delivery id to drop the repeat.
    assert [r["headers"]["x-warroom-delivery"] for r in receiver.requests] == [str(row.pk)] * 2


# E-mail through a real (tiny) SMTP server ------------------------------------------------------


class SMTPSink:
    """Just enough SMTP on 127.0.0.1 to take messages. With `hold` set, the next connection
    gets no greeting until the event is set, then is dropped: a sender killed meanwhile has
    delivered nothing."""

    def __init__(self):
        self.messages = []
        self.hold = None
        self.connected = threading.Event()
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line):
                self.wfile.write(line.encode() + b"\r\n")

            def handle(self):
                sink.connected.set()
                hold, sink.hold = sink.hold, None
                if hold is not None:
                    hold.wait(30)
                    return
                self.reply("220 sink ESMTP")
                while line := self.rfile.readline():
                    command = line.decode(errors="replace").strip().upper()
                    if command.startswith("EHLO"):
                        self.reply("250-sink")
                        self.reply("250 8BITMIME")
                    elif command.startswith("DATA"):
                        self.reply("354 go on")
                        data = []
                        while (part := self.rfile.readline()) not in (b".\r\n", b""):
                            data.append(part)
                        sink.messages.append(b"".join(data).decode(errors="replace"))
                        self.reply("250 queued")
                    elif command.startswith("QUIT"):
                        self.reply("221 bye")
                        return
                    else:  # HELO, MAIL, RCPT, RSET, NOOP
                        self.reply("250 ok")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def port(self):
        return self.server.server_address[1]

    def about(self, notification):
        return [m for m in self.messages if f"X-Warroom-Notification: {notification.pk}" in m]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def smtp_workers(transactional_db):
    """(sink, start) where start() starts a worker that sends e-mail to the sink over SMTP."""
    database_url()
    _check_broker()
    sink = SMTPSink()
    started = []

    def start():
        env = worker_env(
            DJANGO_SETTINGS_MODULE="tests.reminder_worker_settings",
            EMAIL_HOST="127.0.0.1",
            EMAIL_PORT=str(sink.port),
            EMAIL_USE_TLS="False",
        )
        started.append(Worker(env))
        return started[-1]

    yield sink, start
    for worker in started:
        worker.stop()
    sink.stop()


def test_a_worker_killed_while_it_sends_an_email_delivers_it_exactly_once_after_a_new_one_starts(
    smtp_workers, review_due, responder
):
    sink, start = smtp_workers
    worker = start()
    incident = review_due
    sink.hold = release = threading.Event()

    reminders.sweep()
    [note] = UserNotification.objects.filter(user=responder, kind="mitigation_review")
    wait_until(sink.connected.is_set, worker=worker, message="the worker to reach the mail server")
    worker.kill()
    release.set()
    [row] = NotificationDelivery.objects.filter(notification=note)
    assert row.status == "sending" and sink.about(note) == []

    worker = start()
    with time_machine.travel(timezone.now() + timedelta(minutes=11)):
        result = reminders.sweep()
    assert (result["fired"], result["stuck"]) == (0, 1)

    wait_until(
        lambda: NotificationDelivery.objects.filter(pk=row.pk, status="sent").exists(),
        worker=worker,
        message="the e-mail",
    )
    row.refresh_from_db()
    assert row.attempts == 2
    [message] = sink.about(note)
    assert "resp@example.com" in message and incident.get_absolute_url() in message
    reminders.sweep()  # later sweeps change nothing
    assert len(sink.about(note)) == 1 and NotificationDelivery.objects.filter(notification=note).count() == 1
