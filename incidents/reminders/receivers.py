"""What the reminders wing does when the core signals (loaded by incidents.apps)."""

import time
from datetime import UTC

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.dispatch import receiver
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_noop

from incidents import access
from incidents.models import Communication, Incident, UserNotification
from incidents.reminders import delivery as notify
from incidents.signals import communication_moved, signin_locked_out
from incidents.timeline_text import Line, choice, phrase

User = get_user_model()


def message(*, title, body, **fields):
    """A notify.Message whose title and body are timeline lines: text in the site's language
    (e-mail), lines for the inbox (in its reader's language)."""
    return notify.Message(
        title=title.english(),
        body=body.english(),
        line={"title": title.as_data(), "body": body.as_data()},
        **fields,
    )


@receiver(signin_locked_out, dispatch_uid="reminders.signin_locked_out")
def tell_of_signin_lockout(sender, users, address, window, **kwargs):
    """The person whose sign-in is paused (someone may be guessing their password, or it was
    them) and the security group hear of it in their inbox, and by e-mail if they want e-mail.
    Once per pause: the key names the window, and the inbox keeps a key once per person."""
    period = int(time.time() // window)
    security = list(
        User.objects.filter(groups__name=settings.WARROOM_SECURITY_GROUP, is_active=True).values_list("pk", flat=True)
    )
    url = settings.SITE_URL + "/inbox/"
    minutes = window // 60 or 1
    messages = []
    for user in users:
        key = f"signin-lockout:{user.pk}:{address}:{period}"
        messages.append(
            message(
                user_id=user.pk,
                key=key,
                kind=UserNotification.Kind.SIGNIN_LOCKOUT,
                title=Line(gettext_noop("Sign-in to your account paused after failed attempts")),
                body=Line(
                    gettext_noop(
                        "There were too many failed sign-in attempts for your account from {address}, so sign-in "
                        "from that address is paused for {minutes} min. Sign-in from other addresses still works. "
                        "If this was not you, tell the security team and change your password."
                    ),
                    address=address,
                    minutes=minutes,
                ),
                url=url,
            )
        )
        told = Line(
            gettext_noop("Sign-in of {person} paused after failed attempts from {address}"),
            person=user.get_username(),
            address=address,
        )
        why = Line(
            gettext_noop(
                "Too many failed sign-in attempts for {person} from {address}: sign-in from that address is "
                "paused for {minutes} min (logger warroom.auth has each attempt)."
            ),
            person=user.get_username(),
            address=address,
            minutes=minutes,
        )
        messages.extend(
            message(user_id=pk, key=key, kind=UserNotification.Kind.SIGNIN_LOCKOUT, title=told, body=why, url=url)
            for pk in security
            if pk != user.pk
        )
    with transaction.atomic():
        notify.send(messages)


def review_key(communication):
    """The inbox key of one submission for review: the same submission (however often the
    signal comes) reaches each approver once; a new one (after a change sent it back) again."""
    moment = communication.updated_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"review:{communication.pk}:v{communication.content_version}:{moment}"


@receiver(communication_moved, dispatch_uid="reminders.communication_moved")
def tell_approvers(sender, communication, old, new, by, **kwargs):
    """A communication went into review: those who may approve it (access.approvers_to_tell)
    find it in their inbox, by e-mail if they want e-mail, and the incident's webhook targets
    hear of it, in the transaction that submitted it. Its review ended (approved, sent back,
    discarded): their entries about it are marked read, so the badge counts only what waits."""
    comm = communication
    if new == Communication.Status.IN_REVIEW:
        incident = comm.incident
        url = settings.SITE_URL + reverse("incidents:comms:detail", args=[incident.key, comm.pk])
        who = by.get_username() if by is not None else phrase(gettext_noop("the scheduler"))
        audience = choice(Communication.Audience, comm.audience)
        title_line = Line(
            gettext_noop("{reference}: {audience} update awaits your approval"),
            reference=incident.reference,
            audience=audience,
        )
        body_line = Line(
            gettext_noop(
                "{person} submitted a {audience} update on {reference} “{title}” for review. "
                "Read it and approve it, or send it back."
            ),
            person=who,
            audience=choice(Communication.Audience, comm.audience, lower=True),
            reference=incident.reference,
            title=incident.title,
        )
        title, body = title_line.english(), body_line.english()
        line = {"title": title_line.as_data(), "body": body_line.as_data()}
        key = review_key(comm)
        people = list(access.approvers_to_tell(comm).values_list("pk", "username"))
        messages = [
            notify.Message(
                user_id=pk,
                key=key,
                kind=UserNotification.Kind.APPROVAL_REQUESTED,
                title=title,
                body=body,
                line=line,
                url=url,
                incident_id=incident.pk,
            )
            for pk, _ in people
        ]
        hook = notify.WebhookMessage(
            incident_id=incident.pk,
            confidential=incident.confidential,
            key=key,
            payload=lambda: {
                "kind": UserNotification.Kind.APPROVAL_REQUESTED,
                "title": title,
                "body": body,
                "url": url,
                "to": [name for _, name in people],
                "incident": {
                    "reference": incident.reference,
                    "title": incident.title,
                    "severity": incident.severity,
                    "status": incident.status,
                    "url": settings.SITE_URL + incident.get_absolute_url(),
                },
            },
        )
        notify.send(messages, [hook], incidents=Incident.objects.filter(pk=incident.pk))
    elif old == Communication.Status.IN_REVIEW:
        UserNotification.objects.filter(
            incident_id=comm.incident_id,  # the foreign key's index finds the incident's few rows
            kind=UserNotification.Kind.APPROVAL_REQUESTED,
            key__startswith=f"review:{comm.pk}:",
            read_at__isnull=True,
        ).update(read_at=timezone.now())
