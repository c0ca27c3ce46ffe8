"""Notification delivery: the outbox rows after_publication writes, and how statuspage.delivery
sends them by e-mail (Django's locmem backend, in this process) and webhook (a receiver on
127.0.0.1 in this process). tests/test_worker.py runs the same paths through a real worker."""

import json
import smtplib
import threading
import time
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from incidents.models import Communication, Impact
from statuspage import delivery, tasks
from statuspage.delivery import backoff, claim, sign, verify_signature
from statuspage.models import Maintenance, Notification, Subscriber
from tests.statuspage.page_factories import approver, author, internal_service, make_service, publish  # noqa: F401
from tests.statuspage.subscription_factories import (  # noqa: F401
    eager_celery,
    email_subscriber,
    notifications,
    private_webhooks,
    webhook_subscriber,
)
from tests.webhook_receiver import webhook_receiver  # noqa: F401

pytestmark = pytest.mark.django_db

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"


def fan_out_and_deliver(comm):
    """What the worker does after a publish, run here: write the rows, then send them."""
    tasks.after_publication(comm.pk)
    ids = list(Notification.objects.filter(status=PENDING).values_list("pk", flat=True))
    return delivery.deliver(ids)


@pytest.fixture
def outage(declare, publish, api_service, web_chat):  # noqa: F811
    incident = declare(title="Chat replies time out", severity=2)
    comm = publish(incident, "We are looking into **slow replies**.", affected={"web-chat": "partial_outage"})
    return incident, comm


# E-mail -----------------------------------------------------------------------------------


def test_it_emails_an_update_to_confirmed_subscribers_only(outage):
    incident, comm = outage
    confirmed = email_subscriber("ana@example.com")
    unconfirmed = email_subscriber("bo@example.com", confirmed=False)
    gone = email_subscriber("cy@example.com")
    gone.unsubscribed_at = timezone.now()
    gone.save()

    result = fan_out_and_deliver(comm)

    assert [m.to for m in mail.outbox] == [["ana@example.com"]]
    assert notifications(unconfirmed) == [] and notifications(gone) == []
    [row] = notifications(confirmed)
    assert (row.status, row.attempts, row.sent_at is not None) == (SENT, 1, True)
    assert result.sent == [row.pk]


def test_update_email_speaks_each_subscribers_language(outage, settings):
    incident, comm = outage
    settings.STATUSPAGE_NAME = "Chatly status"
    email_subscriber("ana@example.com")
    email_subscriber("li@example.com", language="zh-CN")

    fan_out_and_deliver(comm)

    by_address = {m.to[0]: m for m in mail.outbox}
    english, chinese = by_address["ana@example.com"], by_address["li@example.com"]
    assert "Affected:" in english.body and "Unsubscribe:" in english.body
    assert "Web chat: Partial outage" in english.body
    assert "受影响：" in chinese.body and "退订：" in chinese.body and "关注此事件：" in chinese.body
    assert "Web chat: 部分中断" in chinese.body
    assert "Unsubscribe" not in chinese.body and "Affected" not in chinese.body
    chinese_html = chinese.alternatives[0][0]
    assert '<html lang="zh-hans">' in chinese_html and "更改关注内容" in chinese_html


def test_update_email_has_subject_text_html_and_one_click_unsubscribe(outage, settings):
    incident, comm = outage
    settings.STATUSPAGE_NAME = "Chatly status"
    sub = email_subscriber("ana@example.com")

    fan_out_and_deliver(comm)

    [message] = mail.outbox
    assert message.subject == "[Chatly status] Chat replies time out — Investigating"
    assert "We are looking into **slow replies**." in message.body
    assert "Web chat: Partial outage" in message.body
    [(html, mimetype)] = message.alternatives
    assert mimetype == "text/html"
    assert "<strong>slow replies</strong>" in html
    unsubscribe = f"{settings.SITE_URL}/status/unsubscribe/{sub.token}/"
    assert message.extra_headers["List-Unsubscribe"] == f"<{unsubscribe}>"
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert unsubscribe in message.body and unsubscribe in html
    assert f"/status/subscribe/manage/{sub.token}/" in message.body


def test_each_subscriber_gets_their_own_unsubscribe_link(outage):
    incident, comm = outage
    subs = [email_subscriber(f"s{n}@example.com") for n in range(3)]

    fan_out_and_deliver(comm)

    by_address = {m.to[0]: m for m in mail.outbox}
    for sub in subs:
        message = by_address[sub.email]
        assert sub.token in message.extra_headers["List-Unsubscribe"]
        others = [s.token for s in subs if s != sub]
        assert not any(token in message.body for token in others)


def test_subscriber_reads_the_update_in_their_language(declare, publish, web_chat):  # noqa: F811
    incident = declare(title="Slow replies")
    comm = publish(incident, "We are investigating.", translations={"zh-hans": "我们正在调查。"})
    email_subscriber("li@example.com", language="zh-hans")
    email_subscriber("ann@example.com", language="fr")

    fan_out_and_deliver(comm)

    bodies = {m.to[0]: m.body for m in mail.outbox}
    assert "我们正在调查。" in bodies["li@example.com"]
    assert "We are investigating." in bodies["ann@example.com"]  # no French: the original


def test_publishing_again_or_rerunning_the_task_notifies_nobody_twice(outage):
    incident, comm = outage
    sub = email_subscriber("ana@example.com")

    fan_out_and_deliver(comm)
    fan_out_and_deliver(comm)
    tasks.after_publication(comm.pk)

    assert len(notifications(sub)) == 1
    assert len(mail.outbox) == 1


def test_a_claimed_row_is_never_claimed_again(outage):
    incident, comm = outage
    email_subscriber("ana@example.com")
    tasks.after_publication(comm.pk)
    [pk] = Notification.objects.values_list("pk", flat=True)

    assert claim([pk]) == [pk]
    assert claim([pk]) == []
    assert delivery.deliver([pk]).claimed == []
    assert mail.outbox == []


def test_a_row_waiting_for_its_retry_time_is_not_claimed(outage):
    incident, comm = outage
    email_subscriber("ana@example.com")
    tasks.after_publication(comm.pk)
    Notification.objects.update(next_attempt_at=timezone.now() + timedelta(minutes=5))
    [pk] = Notification.objects.values_list("pk", flat=True)

    assert claim([pk]) == []
    assert claim([pk], now=timezone.now() + timedelta(minutes=6)) == [pk]


def test_an_address_that_unsubscribed_after_the_update_was_written_gets_nothing(outage):
    incident, comm = outage
    sub = email_subscriber("ana@example.com")
    tasks.after_publication(comm.pk)
    Subscriber.objects.filter(pk=sub.pk).update(unsubscribed_at=timezone.now())

    delivery.deliver(Notification.objects.values_list("pk", flat=True))

    assert mail.outbox == []
    [row] = notifications(sub)
    assert row.status == FAILED and "Unsubscribed" in row.last_error


class RefusingBackend(LocmemBackend):
    """A mail server that refuses one address for good and drops the line on another."""

    def send_messages(self, messages):
        for message in messages:
            if message.to == ["nobody@example.com"]:
                raise smtplib.SMTPRecipientsRefused({"nobody@example.com": (550, b"No such user")})
            if message.to == ["later@example.com"]:
                raise smtplib.SMTPResponseException(451, b"Try again later")
        return super().send_messages(messages)


def test_mail_server_errors_are_permanent_or_retried_by_their_code(outage, settings):
    incident, comm = outage
    settings.EMAIL_BACKEND = f"{__name__}.RefusingBackend"
    ok = email_subscriber("ana@example.com")
    refused = email_subscriber("nobody@example.com")
    later = email_subscriber("later@example.com")

    fan_out_and_deliver(comm)

    assert notifications(ok)[0].status == SENT
    assert (notifications(refused)[0].status, "refused" in notifications(refused)[0].last_error) == (FAILED, True)
    retry = notifications(later)[0]
    assert (retry.status, retry.attempts, "451" in retry.last_error) == (PENDING, 1, True)
    assert [m.to for m in mail.outbox] == [["ana@example.com"]]


# Who is told, and what ---------------------------------------------------------------------


def test_confidential_incidents_never_produce_notifications(declare, publish, api_service):  # noqa: F811
    email_subscriber("ana@example.com")
    secret = declare(title="Database exposed", kind="data_exposure", confidential=True, severity=1)
    comm = publish(secret, "The logs bucket was public.", affected={"public-api": "major_outage"})

    assert tasks.after_publication(comm.pk) == 0
    assert tasks.fan_out(comm.pk) == 0  # even called past the task's own check
    assert Notification.objects.count() == 0


def test_an_incident_made_confidential_before_delivery_is_not_sent(outage):
    incident, comm = outage
    sub = email_subscriber("ana@example.com")
    hook = webhook_subscriber("https://203.0.113.9/hook")
    tasks.after_publication(comm.pk)
    incident.confidential = True
    incident.save()

    delivery.deliver(Notification.objects.values_list("pk", flat=True))

    assert mail.outbox == []
    assert {n.status for n in notifications(sub) + notifications(hook)} == {FAILED}


def test_internal_services_are_never_named_in_payloads_or_messages(declare, publish, internal_service, api_service):  # noqa: F811
    incident = declare(title="Slow sign-in", severity=3)
    Impact.objects.create(incident=incident, service=internal_service, level="major_outage")
    affected = {internal_service.slug: "major_outage", "public-api": "degraded_performance"}
    comm = publish(incident, "Sign-in is slow.", affected=affected)
    email_subscriber("ana@example.com")
    follows_internal = email_subscriber("eve@example.com", all_components=False, components=[internal_service])

    fan_out_and_deliver(comm)

    [row] = Notification.objects.all()
    stored = json.dumps(row.payload)
    for word in ("Billing ledger", "billing-ledger", "Internal"):
        assert word not in stored
        assert all(word not in m.body and word not in m.alternatives[0][0] for m in mail.outbox)
    assert "Public API" in stored
    assert notifications(follows_internal) == []  # an internal service is no way in


def test_payload_holds_the_update_and_the_statuspage_incident(outage):
    incident, comm = outage
    email_subscriber("ana@example.com")
    tasks.after_publication(comm.pk)

    [row] = Notification.objects.all()
    payload = row.payload
    update = payload["incident"]["incident_updates"][0]
    assert row.key == f"update:{update['id']}"
    assert payload["incident"]["name"] == "Chat replies time out"
    assert update["body"] == comm.body
    assert update["affected_components"][0]["new_status"] == "partial_outage"
    assert set(payload["page"]) == {"id", "name", "url", "time_zone", "updated_at"}


def test_fan_out_takes_the_same_number_of_queries_for_3_or_60_subscribers(outage):
    incident, comm = outage
    tasks.after_publication(comm.pk)  # the first build gives components and updates their public ids
    for n in range(3):
        email_subscriber(f"a{n}@example.com")
    with CaptureQueriesContext(connection) as few:
        tasks.after_publication(comm.pk)
    Notification.objects.all().delete()
    for n in range(57):
        email_subscriber(f"b{n}@example.com")
    with CaptureQueriesContext(connection) as many:
        tasks.after_publication(comm.pk)

    assert Notification.objects.count() == 60
    assert len(many) == len(few)


def test_a_mail_batch_costs_two_queries_per_fifty_emails_beyond_a_fixed_number(outage):
    """Rendering and loading are per batch; what grows is recording progress (sent rows and the
    lease of the rest), once per MAIL_FLUSH_EVERY messages."""
    incident, comm = outage
    for n in range(60):
        email_subscriber(f"a{n}@example.com")
    tasks.after_publication(comm.pk)
    ids = list(Notification.objects.order_by("pk").values_list("pk", flat=True))

    with CaptureQueriesContext(connection) as few:
        delivery.deliver(ids[:3])
    with CaptureQueriesContext(connection) as many:
        delivery.deliver(ids[3:])

    assert len(mail.outbox) == 60
    flushes = (57 - 1) // delivery.MAIL_FLUSH_EVERY
    assert len(many) <= len(few) + 2 * flushes


# Webhooks ---------------------------------------------------------------------------------


def test_webhook_gets_signed_statuspage_json(outage, webhook_receiver, private_webhooks):  # noqa: F811
    incident, comm = outage
    receiver = webhook_receiver([200])
    hook = webhook_subscriber(receiver.url)
    receiver.secret = hook.secret

    fan_out_and_deliver(comm)

    [request] = receiver.requests
    assert request["verified"]
    assert request["headers"]["content-type"].startswith("application/json")
    [row] = notifications(hook)
    assert request["headers"]["x-warroom-delivery"] == str(row.pk)
    body = request["json"]
    assert set(body) == {"meta", "page", "incident"}
    assert body["meta"]["unsubscribe"].endswith(f"/status/unsubscribe/{hook.token}/")
    assert set(body["page"]) == {"id", "status_indicator", "status_description"}
    assert body["incident"]["name"] == "Chat replies time out"
    assert body["incident"]["incident_updates"][0]["status"] == "investigating"
    assert "communication" not in json.dumps(body)  # internal ids stay inside
    assert (row.status, row.attempts) == (SENT, 1)


def test_webhook_server_error_is_retried_with_backoff(outage, webhook_receiver, private_webhooks):  # noqa: F811
    incident, comm = outage
    receiver = webhook_receiver([500, 200])
    hook = webhook_subscriber(receiver.url)

    result = fan_out_and_deliver(comm)

    [row] = notifications(hook)
    assert (row.status, row.attempts, row.last_error) == (PENDING, 1, "HTTP 500")
    assert result.retry == {30: [row.pk]}
    assert timedelta(seconds=29) < row.next_attempt_at - timezone.now() <= timedelta(seconds=30)
    assert delivery.deliver([row.pk]).claimed == []  # not before its time

    with time_machine.travel(timezone.now() + timedelta(seconds=31)):
        delivery.deliver([row.pk])

    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == (SENT, 2, "")
    assert len(receiver.requests) == 2


def test_webhook_410_unsubscribes_and_stops(outage, webhook_receiver, private_webhooks):  # noqa: F811
    incident, comm = outage
    receiver = webhook_receiver([410])
    hook = webhook_subscriber(receiver.url)

    result = fan_out_and_deliver(comm)

    [row] = notifications(hook)
    hook.refresh_from_db()
    assert (row.status, result.retry) == (FAILED, {})
    assert "410" in row.last_error
    assert hook.unsubscribed_at is not None
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        tasks.sweep()
    assert len(receiver.requests) == 1


@pytest.mark.parametrize("code", [400, 401, 404, 302])
def test_webhook_client_errors_and_redirects_fail_without_retry(code, outage, webhook_receiver, private_webhooks):  # noqa: F811
    incident, comm = outage
    receiver = webhook_receiver([code])
    hook = webhook_subscriber(receiver.url)

    result = fan_out_and_deliver(comm)

    [row] = notifications(hook)
    hook.refresh_from_db()
    assert (row.status, result.retry, hook.unsubscribed_at) == (FAILED, {}, None)
    assert str(code) in row.last_error


@pytest.mark.parametrize("code", [429, 502, 503])
def test_webhook_busy_answers_are_retried(code, outage, webhook_receiver, private_webhooks):  # noqa: F811
    incident, comm = outage
    receiver = webhook_receiver([code])
    hook = webhook_subscriber(receiver.url)

    fan_out_and_deliver(comm)

    assert notifications(hook)[0].status == PENDING


def test_webhook_that_refuses_connections_is_retried(outage, private_webhooks):  # noqa: F811
    incident, comm = outage
    hook = webhook_subscriber("http://127.0.0.1:1/hook")  # nothing listens on port 1

    fan_out_and_deliver(comm)

    [row] = notifications(hook)
    assert row.status == PENDING and "Connection failed" in row.last_error


def test_webhook_that_does_not_answer_in_time_is_retried(outage, webhook_receiver, private_webhooks, monkeypatch):  # noqa: F811
    incident, comm = outage
    monkeypatch.setattr(delivery, "WEBHOOK_TIMEOUT", 0.3)
    receiver = webhook_receiver([200])
    receiver.hold = release = threading.Event()  # answers only when released
    hook = webhook_subscriber(receiver.url)

    fan_out_and_deliver(comm)
    release.set()

    [row] = notifications(hook)
    assert row.status == PENDING and "0.3 s" in row.last_error


def test_webhook_gives_up_after_eight_attempts(outage, webhook_receiver, private_webhooks):  # noqa: F811
    incident, comm = outage
    receiver = webhook_receiver([500])
    hook = webhook_subscriber(receiver.url)
    tasks.after_publication(comm.pk)
    Notification.objects.update(attempts=7)

    result = delivery.deliver(Notification.objects.values_list("pk", flat=True))

    [row] = notifications(hook)
    assert (row.status, row.attempts, result.retry) == (FAILED, 8, {})
    assert row.last_error == "Gave up after 8 attempts: HTTP 500"


def test_webhook_to_a_private_address_is_refused_at_send_time(outage, webhook_receiver, settings):  # noqa: F811
    incident, comm = outage
    settings.STATUSPAGE_ALLOW_PRIVATE_WEBHOOKS = False
    receiver = webhook_receiver([200])
    hook = webhook_subscriber(receiver.url)  # e.g. a name re-pointed at 127.0.0.1 after subscribing

    fan_out_and_deliver(comm)

    [row] = notifications(hook)
    assert row.status == FAILED and "private or local" in row.last_error
    assert receiver.requests == []


def test_backoff_doubles_from_30_seconds_up_to_an_hour():
    assert [backoff(n).total_seconds() for n in range(1, 9)] == [30, 60, 120, 240, 480, 960, 1920, 3600]


# Signatures ---------------------------------------------------------------------------------


def test_verify_signature_accepts_what_was_signed():
    now = int(time.time())
    body = b'{"incident": {"name": "x"}}'
    signature = sign("s3cret", now, body)
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert verify_signature("s3cret", str(now), body, signature)
    assert verify_signature("s3cret", now, body.decode(), signature)


@pytest.mark.parametrize(
    "secret,timestamp_offset,body,signature_for",
    [
        ("wrong", 0, b"{}", None),  # another secret
        ("s3cret", 0, b'{"x": 1}', None),  # a changed body
        ("s3cret", -301, b"{}", "same"),  # replayed after five minutes
        ("s3cret", 301, b"{}", "same"),  # from the future
    ],
)
def test_verify_signature_rejects_forgeries_and_replays(secret, timestamp_offset, body, signature_for):
    now = int(time.time())
    sent_at = now + timestamp_offset
    signature = sign("s3cret", sent_at if signature_for else now, b"{}")
    assert not verify_signature(secret, sent_at, body, signature, now=now)


@pytest.mark.parametrize("timestamp,signature", [(None, "sha256=00"), ("soon", "sha256=00"), ("1", None)])
def test_verify_signature_rejects_garbage_headers(timestamp, signature):
    assert not verify_signature("s3cret", timestamp, b"{}", signature)


# The sweep -----------------------------------------------------------------------------------


def test_sweep_delivers_what_a_lost_task_left_pending(outage, eager_celery, django_capture_on_commit_callbacks):  # noqa: F811
    incident, comm = outage
    sub = email_subscriber("ana@example.com")
    tasks.after_publication(comm.pk)  # its delivery tasks are "lost": on_commit never runs here

    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.sweep()["requeued"] == 0  # within the grace: its own task may still come
    later = timezone.now() + timedelta(seconds=61)
    with time_machine.travel(later), django_capture_on_commit_callbacks(execute=True):
        assert tasks.sweep()["requeued"] == 1

    assert notifications(sub)[0].status == SENT
    assert len(mail.outbox) == 1


def test_sweep_hands_back_rows_of_a_worker_that_died_mid_send(outage, eager_celery, django_capture_on_commit_callbacks):  # noqa: F811
    incident, comm = outage
    sub = email_subscriber("ana@example.com")
    tasks.after_publication(comm.pk)
    claim(Notification.objects.values_list("pk", flat=True))  # ... and then the worker was killed

    with time_machine.travel(timezone.now() + timedelta(seconds=20)):
        assert tasks.sweep()["stuck"] == 0
    later = timezone.now() + timedelta(seconds=30)
    with time_machine.travel(later), django_capture_on_commit_callbacks(execute=True):
        result = tasks.sweep()

    assert (result["stuck"], result["requeued"]) == (1, 1)
    [row] = notifications(sub)
    assert (row.status, row.attempts) == (SENT, 2)
    assert len(mail.outbox) == 1


def test_sweep_fans_out_an_update_whose_after_publication_was_lost(outage):
    incident, comm = outage
    sub = email_subscriber("ana@example.com")
    an_hour_ago = timezone.now() - timedelta(hours=1)
    Subscriber.objects.filter(pk=sub.pk).update(created_at=an_hour_ago, confirmed_at=an_hour_ago)

    assert tasks.sweep()["rescued"] == 0  # too early: after_publication is probably queued
    with time_machine.travel(timezone.now() + timedelta(minutes=3)):
        assert tasks.sweep()["rescued"] == 1
        assert tasks.sweep()["rescued"] == 0
    assert len(notifications(sub)) == 1


def test_sweep_moves_maintenance_through_its_statuses(api_service):
    start = timezone.now() + timedelta(minutes=10)
    m = Maintenance.objects.create(
        title="Database upgrade", scheduled_for=start, scheduled_until=start + timedelta(hours=1), verify_minutes=15
    )
    cancelled = Maintenance.objects.create(
        title="Cancelled", scheduled_for=start, scheduled_until=start + timedelta(hours=1), cancelled=True
    )
    seen = []
    for offset in (timedelta(0), timedelta(minutes=11), timedelta(minutes=75), timedelta(minutes=90)):
        with time_machine.travel(timezone.now() + offset):
            tasks.sweep()
            tasks.sweep()  # twice: no harm
            m.refresh_from_db()
            seen.append(m.status)
            if offset:
                assert m.updated_at >= start - timedelta(minutes=1)
    assert seen == ["scheduled", "in_progress", "verifying", "completed"]
    cancelled.refresh_from_db()
    assert cancelled.status == "scheduled"


def test_after_publication_reexports_the_static_page(outage, settings, tmp_path, monkeypatch):
    incident, comm = outage
    settings.STATUSPAGE_EXPORT_DIR = str(tmp_path / "status")

    tasks.after_publication(comm.pk)

    assert "slow replies" in (tmp_path / "status" / "index.html").read_text()


def test_a_failed_export_does_not_stop_notifications(outage, settings, tmp_path, monkeypatch):
    incident, comm = outage
    settings.STATUSPAGE_EXPORT_DIR = str(tmp_path)

    def broken(path):
        raise OSError("disk full")

    monkeypatch.setattr(tasks.export, "export_if_changed", broken)
    email_subscriber("ana@example.com")

    assert tasks.after_publication(comm.pk) == 1


def test_after_publication_ignores_other_audiences_and_unpublished_updates(declare, author):  # noqa: F811
    from incidents.comms import services as communications

    incident = declare()
    draft = communications.draft(incident, author, audience="status_page", body="Not yet.")
    internal = communications.draft(incident, author, audience="internal", body="Internal only.")
    Communication.objects.filter(pk=internal.pk).update(status="published", published_at=timezone.now())
    email_subscriber("ana@example.com")

    assert tasks.after_publication(draft.pk) == 0
    assert tasks.after_publication(internal.pk) == 0
    assert tasks.after_publication(999_999) == 0
    assert Notification.objects.count() == 0


def test_subscribers_of_other_components_are_not_told(declare, publish, api_service, web_chat):  # noqa: F811
    incident = declare()
    comm = publish(incident, "API errors.", affected={"public-api": "partial_outage"})
    api_fan = email_subscriber("api@example.com", all_components=False, components=[api_service])
    chat_fan = email_subscriber("chat@example.com", all_components=False, components=[web_chat])
    make_service("Mobile app", group="Product")
    product_fan = email_subscriber("product@example.com", all_components=False, groups=["Product"])

    fan_out_and_deliver(comm)

    assert [m.to[0] for m in mail.outbox] == ["api@example.com"]
    assert notifications(chat_fan) == [] and notifications(product_fan) == []
    assert len(notifications(api_fan)) == 1
