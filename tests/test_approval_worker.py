"""An approval request through a real Celery worker on the real broker (Redis in CI): comms A
submits a status-page update; once the submission commits, the worker e-mails comms B and posts
to the incident's chat channel, each once."""

import pytest
from django.utils import timezone

from incidents import services
from incidents.comms import services as communications
from incidents.models import IncidentWebhook, NotificationDelivery, UserNotification
from tests.conftest import make_user
from tests.test_reminder_worker import drained
from tests.webhook_receiver import webhook_receiver  # noqa: F401
from tests.worker import Worker, _check_broker, celery_worker, database_url, wait_until, worker_env  # noqa: F401

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def worker_knobs(monkeypatch):
    # The receiver listens on 127.0.0.1 (the worker inherits the environment).
    monkeypatch.setenv("WARROOM_ALLOW_PRIVATE_WEBHOOKS", "True")


def test_submitting_an_update_reaches_the_approver_by_email_and_the_channel_once(
    celery_worker,  # noqa: F811
    commander,
    webhook_receiver,  # noqa: F811
    django_user_model,
):
    sam = make_user(django_user_model, "sam", "comms", email="sam@example.com")
    kim = make_user(django_user_model, "kim", "comms", email="kim@example.com")
    incident = services.declare(commander, title="Chat replies time out", severity=1)
    receiver = webhook_receiver([200])
    IncidentWebhook.objects.create(incident=incident, url=receiver.url, format="slack")
    comm = communications.draft(
        incident, sam, audience="status_page", body="We are investigating time-outs.", public_title="Slow replies"
    )
    before = timezone.now()

    communications.submit(comm, sam)

    [email] = wait_until(
        lambda: list(NotificationDelivery.objects.filter(notification__user=kim, status="sent")),
        worker=celery_worker,
        message="the approver's e-mail",
    )
    assert email.sent_at >= before
    wait_until(lambda: receiver.requests, worker=celery_worker, message="the channel")
    assert "awaits your approval" in receiver.requests[0]["json"]["text"]
    drained(celery_worker, django_user_model)
    assert len(receiver.requests) == 1
    assert UserNotification.objects.filter(kind="approval_requested").count() == 1  # kim's; not sam's
