"""Customer, regulator and partner messages are delivered (issue #13): recipient lists of
e-mail addresses and signed webhooks; publishing an approved message writes one outbox row per
recipient in the publishing transaction and delivers it exactly once, retried, with its status
on the communication; bad addresses are refused; a regulator message marked as a clock stage's
notification records the submission when it is published."""

from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from incidents.comms import delivery, recipients, tasks
from incidents.comms import services as communications
from incidents.models import (
    AudienceDelivery,
    Communication,
    Incident,
    Obligation,
    Submission,
    TimelineEntry,
)
from incidents.security import audit as audit_trail
from incidents.security import clocks
from incidents.webhooks import verify_signature
from tests.audience_factories import approved, deliveries, mail_subjects, publish, sent_mail
from tests.statuspage.subscription_factories import eager_celery  # noqa: F401
from tests.webhook_receiver import webhook_receiver  # noqa: F401

pytestmark = pytest.mark.django_db

Status = Communication.Status


@pytest.fixture
def customers(customers, alice):
    """The shared customer list, with a second member who reads Chinese."""
    recipients.add_member(customers, alice, kind="email", email="it@globex.example", language="zh-hans")
    return customers


@pytest.fixture
def published_unsent(incident, alice, bob, customers, django_capture_on_commit_callbacks):
    """A message to the customer list, published: its delivery rows are written and no worker
    has sent them yet."""
    comm = approved(incident, alice, bob, lists=[customers])
    return publish(comm, alice, django_capture_on_commit_callbacks, deliver=False)


# Publishing delivers ------------------------------------------------------------------------


def test_publishing_a_customer_message_emails_each_recipient_of_its_lists_once(
    incident,
    alice,
    bob,
    customers,
    eager_celery,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    other = recipients.create_list(alice, name="Resellers", audience="customers")
    recipients.add_member(other, alice, kind="email", email="ops@ACME.example")  # also on the first list
    comm = approved(
        incident, alice, bob, lists=[customers, other],
        translations={"zh-hans": ("我们正在处理回复缓慢的问题。", "聊天回复超时 — 处理中")},
    )  # fmt: skip

    publish(comm, alice, django_capture_on_commit_callbacks)

    rows = deliveries(comm)
    assert [(r.address, r.status, r.attempts) for r in rows] == [
        ("it@globex.example", "sent", 1),
        ("ops@acme.example", "sent", 1),
    ]
    assert sorted(m.to[0] for m in mail.outbox) == ["it@globex.example", "ops@acme.example"]
    by_to = {m.to[0]: m.message() for m in mail.outbox}
    english, chinese = sent_mail()["ops@acme.example"], sent_mail()["it@globex.example"]
    assert english["Subject"] == "Chat replies time out"
    assert chinese["Subject"] == "聊天回复超时 — 处理中"  # RFC 2047 on the wire, whole when decoded
    assert "=?utf-8?" in by_to["it@globex.example"]["Subject"]
    assert english["X-Warroom-Notification"] == str(rows[1].pk)
    assert "<strong>slow replies</strong>" in english.get_body(("html",)).get_content()
    assert "我们正在处理" in chinese.get_body(("plain",)).get_content()
    # Published again (a retried task): nothing new is written or sent.
    assert communications.publish_now(comm.pk, alice.pk) is False
    assert delivery.fan_out(comm) == 0 and len(mail.outbox) == 2


def test_a_message_without_a_subject_goes_out_under_the_public_title_never_the_internal_one(
    declare,
    alice,
    bob,
    customers,
    eager_celery,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    incident = declare(title="SEV1: [demo] db-7 primary melted", public_title="Chat replies delayed")
    Incident.objects.filter(pk=incident.pk).update(public_titles={"zh-hans": "聊天回复延迟"})
    chinese = {"zh-hans": ("我们正在处理回复缓慢的问题。", "")}  # the body only: the subject is the public title
    comm = approved(incident, alice, bob, lists=[customers], title="", translations=chinese)
    publish(comm, alice, django_capture_on_commit_callbacks)

    assert mail_subjects() == {"ops@acme.example": "Chat replies delayed", "it@globex.example": "聊天回复延迟"}


def test_a_webhook_recipient_gets_the_message_signed_with_its_own_secret(
    incident,
    alice,
    bob,
    private_recipient_webhooks,
    webhook_receiver,  # noqa: F811
    eager_celery,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    receiver = webhook_receiver([200])
    partners = recipients.create_list(alice, name="Press", audience="partners")
    hook = recipients.add_member(partners, alice, kind="webhook", webhook_url=receiver.url)
    receiver.secret = hook.secret
    comm = approved(incident, alice, bob, audience="partners", lists=[partners])

    publish(comm, alice, django_capture_on_commit_callbacks)

    [row] = deliveries(comm)
    assert row.status == "sent"
    [request] = receiver.requests
    assert request["verified"]
    assert request["headers"]["x-warroom-delivery"] == str(row.pk)
    assert request["json"]["communication"]["body"] == "We are working on **slow replies**."
    assert request["json"]["incident"] == {"reference": incident.reference}
    assert not verify_signature("another secret", request["headers"]["x-warroom-timestamp"], request["body"],
                                request["headers"]["x-warroom-signature"])  # fmt: skip


def test_a_failing_webhook_is_retried_with_backoff_then_shows_failed_with_its_error(
    incident,
    alice,
    bob,
    private_recipient_webhooks,
    webhook_receiver,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    receiver = webhook_receiver([503])
    partners = recipients.create_list(alice, name="Press", audience="partners")
    recipients.add_member(partners, alice, kind="webhook", webhook_url=receiver.url)
    comm = approved(incident, alice, bob, audience="partners", lists=[partners])
    publish(comm, alice, django_capture_on_commit_callbacks, deliver=False)
    [row] = deliveries(comm)

    result = delivery.OUTBOX.deliver([row.pk])
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "HTTP 503")
    assert result.retry == {30: [row.pk]}
    assert delivery.OUTBOX.deliver([row.pk]).claimed == []  # not due yet: nothing sent twice

    now = timezone.now()
    for _attempt in range(2, delivery.OUTBOX.max_attempts + 1):
        now += timedelta(hours=2)
        with time_machine.travel(now):
            delivery.OUTBOX.deliver([row.pk])
    row.refresh_from_db()
    assert row.status == "failed" and row.attempts == delivery.OUTBOX.max_attempts
    assert row.last_error.startswith("Gave up after 8 attempts: HTTP 503")
    assert len(receiver.requests) == 8


def test_the_sweep_hands_back_a_dead_workers_delivery_and_it_is_sent_once(
    published_unsent,
    eager_celery,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    comm = published_unsent
    ids = [r.pk for r in deliveries(comm)]
    delivery.OUTBOX.claim(ids)  # ... and then the worker was killed

    with time_machine.travel(timezone.now() + timedelta(seconds=5)):
        assert tasks.sweep_audience_deliveries()["stuck"] == 0  # still leased
    with time_machine.travel(timezone.now() + timedelta(seconds=30)), django_capture_on_commit_callbacks(execute=True):
        result = tasks.sweep_audience_deliveries()

    assert result == {"stuck": 2, "requeued": 2}
    assert [(r.status, r.attempts) for r in deliveries(comm)] == [("sent", 2), ("sent", 2)]
    assert len(mail.outbox) == 2


def test_a_recipient_deactivated_before_delivery_is_not_sent_to(published_unsent, alice, customers):
    comm = published_unsent
    member = customers.members.get(email="ops@acme.example")
    recipients.update_member(member, alice, active=False)

    delivery.OUTBOX.deliver([r.pk for r in deliveries(comm)])

    assert [(r.address, r.status) for r in deliveries(comm)] == [
        ("it@globex.example", "sent"),
        ("ops@acme.example", "failed"),
    ]
    assert [m.to for m in mail.outbox] == [["it@globex.example"]]


def test_the_audit_export_says_who_received_what_and_when(
    incident,
    alice,
    bob,
    customers,
    eager_celery,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    comm = approved(incident, alice, bob, lists=[customers])
    publish(comm, alice, django_capture_on_commit_callbacks)

    rows = [r for r in audit_trail.audit_rows(incident, alice) if r["kind"] == "delivery"]

    assert sorted((r["new"]["to"], r["new"]["status"], r["new"]["list"]) for r in rows) == [
        ("it@globex.example", "sent", "Enterprise customers"),
        ("ops@acme.example", "sent", "Enterprise customers"),
    ]
    assert all(r["new"]["sent_at"] is not None and r["recorded_at"] == r["new"]["sent_at"] for r in rows)
    assert all(r["new"]["subject"] == "Chat replies time out" for r in rows)


def test_a_status_page_update_writes_no_audience_deliveries(incident, alice, bob, django_capture_on_commit_callbacks):
    comm = approved(incident, alice, bob, audience="status_page")
    publish(comm, alice, django_capture_on_commit_callbacks, deliver=False)
    assert deliveries(comm) == []


# Choosing lists ----------------------------------------------------------------------------------


def test_a_draft_is_sent_only_to_lists_of_its_own_audience(incident, alice, customers):
    regulators = recipients.create_list(alice, name="Authorities", audience="regulators")
    with pytest.raises(ValidationError) as refused:
        communications.draft(incident, alice, audience="customers", body="x", recipient_lists=[regulators])
    assert "recipient_lists" in refused.value.message_dict
    with pytest.raises(ValidationError) as refused:
        communications.draft(incident, alice, audience="status_page", body="x", recipient_lists=[customers.pk])
    assert "recipient_lists" in refused.value.message_dict
    with pytest.raises(ValidationError) as refused:
        communications.draft(incident, alice, audience="customers", body="x", recipient_lists=[987654])
    assert "recipient_lists" in refused.value.message_dict


def test_changing_the_lists_of_an_approved_message_sends_it_back_to_review(incident, alice, bob, customers):
    comm = approved(incident, alice, bob, lists=[customers])
    other = recipients.create_list(alice, name="Everyone", audience="customers")

    comm = communications.edit(comm, alice, recipient_lists=[customers.pk, other.pk])

    assert comm.status == Status.IN_REVIEW
    assert set(comm.recipient_lists.values_list("name", flat=True)) == {"Enterprise customers", "Everyone"}


# Bad addresses ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "email", "email": "not an address"}, "email"),
        ({"kind": "email", "email": ""}, "email"),
        ({"kind": "webhook", "webhook_url": "ftp://example.com/hook"}, "webhook_url"),
        ({"kind": "webhook", "webhook_url": "http://127.0.0.1:8000/hook"}, "webhook_url"),
        ({"kind": "webhook", "webhook_url": "http://10.0.0.5/hook"}, "webhook_url"),
        ({"kind": "webhook", "webhook_url": "http://user:pw@example.com/hook"}, "webhook_url"),
        ({"kind": "email", "email": "a@example.com", "language": "not a language"}, "language"),
        ({"kind": "pigeon"}, "kind"),
    ],
)
def test_bad_addresses_are_refused_naming_the_field(alice, customers, fields, field):
    with pytest.raises(ValidationError) as refused:
        recipients.add_member(customers, alice, **fields)
    assert field in refused.value.message_dict
    assert customers.members.count() == 2


def test_the_same_address_twice_on_a_list_is_refused(alice, customers):
    with pytest.raises(ValidationError) as refused:
        recipients.add_member(customers, alice, kind="email", email="ops@ACME.EXAMPLE")
    assert "email" in refused.value.message_dict


def test_only_comms_staff_and_commanders_manage_lists(responder, commander, customers):
    with pytest.raises(PermissionDenied):
        recipients.create_list(responder, name="Mine", audience="customers")
    with pytest.raises(PermissionDenied):
        recipients.add_member(customers, responder, kind="email", email="x@example.com")
    assert recipients.create_list(commander, name="Commander's", audience="partners").pk


# Regulator messages and legal clocks ----------------------------------------------------------


@pytest.fixture
def gdpr_clock(declare, commander):
    incident = declare(title="Database exposed", kind="data_exposure", severity=1)
    incident.aware_at = timezone.now() - timedelta(hours=2)
    incident.save(update_fields=["aware_at"])
    obligation = Obligation.objects.get(key="gdpr-33")
    return clocks.start_clock(incident, obligation, commander)


def test_publishing_a_regulator_notification_records_the_clock_submission(
    gdpr_clock, commander, alice, bob, django_capture_on_commit_callbacks
):
    incident = gdpr_clock.incident
    authorities = recipients.create_list(alice, name="Authorities", audience="regulators")
    recipients.add_member(authorities, alice, kind="email", email="breach@dpa.example")
    stage = gdpr_clock.obligation.stages[0]["name"]
    comm = communications.draft(
        incident, commander, audience="regulators", body="We report a breach.", title="Breach notification",
        recipient_lists=[authorities], notifies=(gdpr_clock.pk, stage),
    )  # fmt: skip
    communications.submit(comm, commander)
    comm = communications.approve(comm, bob, Communication.objects.get(pk=comm.pk).content_version)

    comm = publish(comm, alice, django_capture_on_commit_callbacks, deliver=False)

    [submission] = Submission.objects.filter(clock=gdpr_clock)
    assert (submission.stage, submission.communication_id, submission.submitted_at) == (
        stage,
        comm.pk,
        comm.published_at,
    )
    assert submission.submitted_by == commander  # alice (comms) may not record it; who marked it may
    assert incident.timeline.filter(kind=TimelineEntry.Kind.REGULATORY, data__field="submission").exists()


def test_only_someone_who_may_record_a_submission_marks_a_message_as_the_notification(gdpr_clock, alice):
    stage = gdpr_clock.obligation.stages[0]["name"]
    with pytest.raises(ValidationError) as refused:
        communications.draft(
            gdpr_clock.incident, alice, audience="regulators", body="x", notifies=(gdpr_clock.pk, stage)
        )
    assert "notifies_stage" in refused.value.message_dict


def test_a_customer_message_cannot_be_a_clock_notification(gdpr_clock, commander):
    stage = gdpr_clock.obligation.stages[0]["name"]
    with pytest.raises(ValidationError) as refused:
        communications.draft(
            gdpr_clock.incident, commander, audience="customers", body="x", notifies=(gdpr_clock.pk, stage)
        )
    assert "notifies_stage" in refused.value.message_dict


def test_a_stage_submitted_by_hand_meanwhile_is_not_recorded_twice(
    gdpr_clock, commander, bob, django_capture_on_commit_callbacks
):
    stage = gdpr_clock.obligation.stages[0]["name"]
    comm = communications.draft(
        gdpr_clock.incident, commander, audience="regulators", body="x", notifies=(gdpr_clock.pk, stage)
    )
    communications.submit(comm, commander)
    comm = communications.approve(comm, bob, Communication.objects.get(pk=comm.pk).content_version)
    clocks.record_submission(gdpr_clock, stage, commander, reference="by phone")

    publish(comm, commander, django_capture_on_commit_callbacks, deliver=False)

    assert Communication.objects.get(pk=comm.pk).status == Status.PUBLISHED
    [submission] = Submission.objects.filter(clock=gdpr_clock)
    assert submission.reference == "by phone"
    note = gdpr_clock.incident.timeline.filter(kind=TimelineEntry.Kind.REGULATORY).latest("id")
    assert "record it by hand" in note.body


def test_an_operator_sends_a_failed_delivery_again_from_the_admin(
    admin_client,
    published_unsent,
    eager_celery,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    failed = deliveries(published_unsent)[0]
    AudienceDelivery.objects.filter(pk=failed.pk).update(status="failed", last_error="Mail server said 550", attempts=8)
    assert admin_client.get("/admin/incidents/audiencedelivery/").status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/incidents/audiencedelivery/", {"action": "send_again", "_selected_action": [failed.pk]}
        )

    assert response.status_code == 302
    failed.refresh_from_db()
    assert (failed.status, failed.last_error) == ("sent", "")
    assert [m.to for m in mail.outbox] == [[failed.address]]


def test_deactivating_a_webhook_member_does_not_check_its_address_again(alice, settings):
    settings.WARROOM_ALLOW_PRIVATE_WEBHOOKS = True
    partners = recipients.create_list(alice, name="Press", audience="partners")
    hook = recipients.add_member(partners, alice, kind="webhook", webhook_url="http://127.0.0.1:9/hook")
    settings.WARROOM_ALLOW_PRIVATE_WEBHOOKS = False

    assert recipients.update_member(hook, alice, active=False).active is False
    with pytest.raises(ValidationError) as refused:
        recipients.update_member(hook, alice, webhook_url="http://127.0.0.2:9/other")
    assert "webhook_url" in refused.value.message_dict
