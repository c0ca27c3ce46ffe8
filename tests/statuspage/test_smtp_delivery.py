# ruff: noqa: F811 - fixtures imported from the factories are redefined as test arguments
"""Subscriber e-mail through a real SMTP server on loopback (aiosmtpd): what a mail server
receives, not what Django's locmem backend keeps. Subjects long, Chinese and with emoji
must arrive whole and decode to what was written; one message that cannot be sent fails
alone, after its retries, and shows on the deliveries page with its error."""

import email
import email.policy
import socket
from datetime import timedelta

import pytest
import time_machine
from aiosmtpd.controller import Controller
from django.urls import reverse
from django.utils import timezone

from statuspage import delivery, tasks
from statuspage.models import Notification, Subscriber
from tests.conftest import make_user
from tests.statuspage.page_factories import approver, author, publish  # noqa: F401
from tests.statuspage.subscription_factories import email_subscriber, notifications

pytestmark = pytest.mark.django_db


class Inbox:
    """An aiosmtpd handler keeping every message it accepts, parsed."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        self.messages.append((envelope.rcpt_tos, message))
        return "250 OK"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server(settings):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 10
    yield inbox
    controller.stop()


def publish_and_deliver(declare, publish, title):
    incident = declare(title=title, severity=2)
    comm = publish(incident, "We are looking into it.")
    tasks.after_publication(comm.pk)
    ids = list(Notification.objects.filter(status="pending").values_list("pk", flat=True))
    return delivery.deliver(ids)


@pytest.mark.parametrize(
    "title",
    [
        "Elevated error rates on login for users in every region, web and mobile apps alike",
        "深度求索线上服务受到大规模恶意攻击，注册可能繁忙，已注册用户可正常登录",
        "🔥 Chat replies time out 🔥 and the mobile app cannot reach the servers at all 📱",
    ],
    ids=["long-ascii", "chinese", "emoji"],
)
def test_subscribers_receive_a_subject_that_decodes_to_the_title(smtp_server, settings, declare, publish, title):
    settings.STATUSPAGE_NAME = "Chatly status"
    ana = email_subscriber("ana@example.com")
    bo = email_subscriber("bo@example.com")

    result = publish_and_deliver(declare, publish, title)

    assert sorted(rcpt for rcpts, _ in smtp_server.messages for rcpt in rcpts) == ["ana@example.com", "bo@example.com"]
    for _, message in smtp_server.messages:
        assert str(message["Subject"]) == f"[Chatly status] {title} — Investigating"
        assert "\n" not in str(message["Subject"])
        raw_lines = message.as_string().split("\n\n", 1)[0].splitlines()
        assert all(len(line) <= 998 for line in raw_lines)
    assert [row.status for row in notifications(ana) + notifications(bo)] == ["sent", "sent"]
    assert len(result.sent) == 2


def test_one_message_that_cannot_be_sent_fails_alone_after_its_retries(
    smtp_server, declare, publish, client, commander
):
    good = email_subscriber("ana@example.com")
    # A row written before address checks existed (or by hand): Django refuses to put a
    # newline in a header, whatever the mail server would say.
    bad = Subscriber.objects.create(
        kind="email", email="eve@example.com\nBcc: all@example.com", confirmed_at=timezone.now()
    )
    later = email_subscriber("zed@example.com")

    publish_and_deliver(declare, publish, "Elevated error rates on login for users in every region")

    received = sorted(rcpt for rcpts, _ in smtp_server.messages for rcpt in rcpts)
    assert received == ["ana@example.com", "zed@example.com"]
    assert [notifications(s)[0].status for s in (good, later)] == ["sent", "sent"]
    [row] = notifications(bad)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error

    # Each retry fails the same way; after the last one the row is failed, with its error.
    with time_machine.travel(timezone.now(), tick=False) as clock:
        for _ in range(delivery.MAX_ATTEMPTS + 2):
            clock.shift(delivery.BACKOFF_CAP + timedelta(seconds=1))
            delivery.deliver([row.pk])
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("failed", delivery.MAX_ATTEMPTS)
    assert row.last_error.startswith(f"Gave up after {delivery.MAX_ATTEMPTS} attempts")
    assert len(smtp_server.messages) == 2  # nobody got anything twice, nobody got the bad one

    client.force_login(commander)
    page = client.get(reverse("statuspage:manage_deliveries"))
    assert page.status_code == 200
    text = page.content.decode()
    assert f'data-testid="problem-{row.pk}"' in text
    assert "Gave up after" in text
    assert "Elevated error rates on login" in text


def test_a_row_that_kills_its_worker_every_time_is_failed_not_retried_forever(declare, publish):
    sub = email_subscriber("ana@example.com")
    incident = declare(title="Chat replies time out", severity=2)
    tasks.after_publication(publish(incident, "Looking into it.").pk)
    [row] = notifications(sub)
    Notification.objects.filter(pk=row.pk).update(
        status="sending", attempts=delivery.MAX_ATTEMPTS, next_attempt_at=timezone.now() - timedelta(seconds=1)
    )

    tasks.release_stuck(timezone.now())

    row.refresh_from_db()
    assert row.status == "failed"
    assert "Gave up" in row.last_error


def test_deliveries_page_is_for_comms_and_commanders_with_bounded_queries(
    client,
    django_user_model,
    commander,
    responder,
    declare,
    publish,
    django_assert_max_num_queries,
):
    for n in range(30):
        email_subscriber(f"user{n}@example.com")
    for n in range(3):
        incident = declare(title=f"Outage {n}", severity=2)
        tasks.after_publication(publish(incident, "Looking into it.").pk)
    Notification.objects.filter(pk__in=Notification.objects.values("pk")[:5]).update(
        status="failed", last_error="Mail server said 550"
    )

    client.force_login(responder)
    assert client.get(reverse("statuspage:manage_deliveries")).status_code == 403

    client.force_login(make_user(django_user_model, "comms-lead", "comms"))
    with django_assert_max_num_queries(12):
        page = client.get(reverse("statuspage:manage_deliveries"))
    assert page.status_code == 200
    text = page.content.decode()
    assert text.count('data-testid="delivery-update:') == 3
    assert text.count("Mail server said 550") == 5
    assert "Outage 2" in text
