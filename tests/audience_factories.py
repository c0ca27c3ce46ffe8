"""Builders for the tests of customer, regulator and partner messages (issue #13): a message
approved the way comms approve one, published the way the Celery task publishes it, and the
delivery rows it wrote and the e-mails they sent."""

import email
import email.policy

from django.core import mail

from incidents.comms import services as communications
from incidents.models import AudienceDelivery, Communication


def approved(incident, author, approver, audience="customers", lists=(), translations=None, **fields):
    """A message drafted and submitted by `author` and approved by `approver`; `translations`
    is {language: (body, title)}, written before it is submitted."""
    fields.setdefault("title", "Chat replies time out")
    fields.setdefault("body", "We are working on **slow replies**.")
    comm = communications.draft(incident, author, audience=audience, recipient_lists=lists, **fields)
    for language, (body, title) in (translations or {}).items():
        communications.set_translation(comm, author, language, body, title)
    communications.submit(comm, author)
    return communications.approve(comm, approver, Communication.objects.get(pk=comm.pk).content_version)


def publish(comm, by, capture, deliver=True):
    """Publish `comm` as `by`; `capture` is django_capture_on_commit_callbacks. With
    deliver=False the delivery rows are written but the work enqueued on commit does not run
    (no worker has picked them up yet)."""
    communications.request_publish(comm, by)
    with capture(execute=deliver):
        communications.publish_now(comm.pk, by.pk)
    return Communication.objects.get(pk=comm.pk)


def deliveries(comm):
    return list(AudienceDelivery.objects.filter(communication=comm).order_by("address"))


def sent_mail():
    """The e-mails sent so far (django.core.mail.outbox), by recipient, parsed as a mail client
    reads them (headers decoded)."""
    return {m.to[0]: email.message_from_bytes(m.message().as_bytes(), policy=email.policy.default) for m in mail.outbox}


def mail_subjects():
    """{recipient: subject, decoded} of the e-mails sent so far."""
    return {to: message["Subject"] for to, message in sent_mail().items()}
