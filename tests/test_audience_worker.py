"""Customer, regulator and partner messages through a real Celery worker on the real broker
(Redis in CI): publishing delivers to each recipient; a worker killed (SIGKILL) while it talks
to the mail server loses nothing and the e-mail arrives exactly once after a new worker starts;
a worker killed while a webhook receiver holds its request sends it again with the same
X-Warroom-Delivery, so the receiver keeps it once.

The worker is another process with the real clock; the test moves only its own clock, for the
sweep it runs itself (tests/worker.py explains the fixture)."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from incidents import outbox
from incidents.comms import recipients, tasks
from incidents.comms import services as communications
from incidents.models import AudienceDelivery, Communication
from tests.conftest import make_user
from tests.test_reminder_worker import smtp_workers  # noqa: F401
from tests.webhook_receiver import webhook_receiver  # noqa: F401
from tests.worker import celery_worker, wait_until  # noqa: F401

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def worker_knobs(monkeypatch):
    """For the workers these tests start (they inherit the environment): receivers listen on
    127.0.0.1, and retries come after 1 s, 2 s ... instead of 30 s, 60 s ..."""
    monkeypatch.setenv("WARROOM_ALLOW_PRIVATE_WEBHOOKS", "True")
    monkeypatch.setenv("WARROOM_NOTIFY_RETRY_BASE_SECONDS", "1")


@pytest.fixture
def people(django_user_model):
    return make_user(django_user_model, "alice", "comms"), make_user(django_user_model, "bob", "comms")


@pytest.fixture
def approved(declare, people, settings):
    """approved(members) -> an approved customer message to a list of these members."""
    settings.WARROOM_ALLOW_PRIVATE_WEBHOOKS = True
    alice, bob = people
    incident = declare(title="Chat replies time out", severity=2)

    def _approved(*members):
        customers = recipients.create_list(alice, name="Customers", audience="customers")
        added = [recipients.add_member(customers, alice, **member) for member in members]
        comm = communications.draft(
            incident, alice, audience="customers", title="Slow replies", body="We are on it.",
            recipient_lists=[customers],
        )  # fmt: skip
        communications.submit(comm, alice)
        comm = communications.approve(comm, bob, Communication.objects.get(pk=comm.pk).content_version)
        return comm, added

    return _approved


def rows(comm):
    return list(AudienceDelivery.objects.filter(communication=comm).order_by("pk"))


def test_a_worker_killed_while_it_emails_a_customer_delivers_it_exactly_once_after_a_new_one_starts(
    smtp_workers,  # noqa: F811
    approved,
    people,
):
    sink, start = smtp_workers
    worker = start()
    sink.hold = release = threading.Event()  # the mail server's first connection hangs
    comm, _ = approved({"kind": "email", "email": "ops@acme.example"})

    communications.request_publish(comm, people[0])
    wait_until(sink.connected.is_set, worker=worker, message="the worker to reach the mail server")
    worker.kill()
    release.set()
    [row] = rows(comm)
    assert row.status == "sending" and sink.about(row) == []  # claimed by the dead worker, never sent

    worker = start()
    with time_machine.travel(timezone.now() + outbox.LEASE + timedelta(seconds=1)):
        result = tasks.sweep_audience_deliveries()  # the beat's next sweep, under a minute after the kill
    assert result == {"stuck": 1, "requeued": 1}

    wait_until(
        lambda: AudienceDelivery.objects.filter(pk=row.pk, status="sent").exists(), worker=worker, message="the e-mail"
    )
    row.refresh_from_db()
    assert row.attempts == 2
    [message] = sink.about(row)
    assert "ops@acme.example" in message and "Subject: Slow replies" in message
    assert tasks.sweep_audience_deliveries() == {"stuck": 0, "requeued": 0}  # later sweeps change nothing
    assert len(sink.about(row)) == 1 and len(rows(comm)) == 1


def test_a_worker_killed_mid_webhook_sends_it_again_with_the_same_delivery_id(
    celery_worker,  # noqa: F811
    approved,
    people,
    webhook_receiver,  # noqa: F811
):
    receiver = webhook_receiver([200])
    comm, [hook] = approved({"kind": "webhook", "webhook_url": receiver.url})
    receiver.secret = hook.secret
    receiver.hold = release = threading.Event()  # the first request hangs until released

    communications.request_publish(comm, people[0])
    wait_until(receiver.received.is_set, worker=celery_worker, message="the first request")
    celery_worker.current.kill()
    release.set()
    [row] = rows(comm)
    assert row.status == "sending"

    celery_worker.start_another()
    with time_machine.travel(timezone.now() + outbox.LEASE + timedelta(seconds=1)):
        assert tasks.sweep_audience_deliveries() == {"stuck": 1, "requeued": 1}

    row = wait_until(
        lambda: AudienceDelivery.objects.filter(pk=row.pk, status="sent").first(),
        worker=celery_worker,
        message="the redelivery",
    )
    assert row.attempts == 2
    # At least once on the wire, once for the receiver: the same delivery id both times.
    assert [r["headers"]["x-warroom-delivery"] for r in receiver.requests] == [str(row.pk)] * 2
    assert all(r["verified"] for r in receiver.requests)
    assert Communication.objects.get(pk=comm.pk).status == "published"
