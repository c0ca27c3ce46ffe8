"""Delivery of customer, regulator and partner messages to their recipient lists, through the
one outbox (incidents/outbox.py: claim with a lease, record each row as sent, retries with
backoff, failed with its error, the sweep's hand-back of a dead worker's rows).

Publishing such a communication (incidents.comms.services.publish_now) calls `fan_out` inside
the publishing transaction: one `AudienceDelivery` row per recipient of the lists it names
(unique per communication and address, so someone on two lists hears it once), enqueued on
commit. This module keeps what is the audiences' own: who is on a list (`members_of`), who is
refused at sending time (a recipient or list deactivated or removed since), the e-mail in the
recipient's language and the signed webhook body.

E-mails carry `X-Warroom-Notification: <row id>` and webhooks `X-Warroom-Delivery: <row id>`
(signed like every Warroom webhook: incidents/webhooks.py, with the recipient's secret), the
same on a redelivery, so receivers can drop the repeat of a message a killed worker sent
just before it died.
"""

import json
from dataclasses import dataclass
from functools import cache
from importlib import import_module

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from incidents import access, outbox, webhooks
from incidents.markup import render_markdown
from incidents.models import (
    AudienceDelivery,
    Communication,
    CommunicationTranslation,
    Recipient,
    RecipientList,
    TimelineEntry,
)
from incidents.services import notify_changed, record_event
from incidents.timeline_text import Line, choice

Status = AudienceDelivery.Status
Kind = Recipient.Kind

BATCH = {Kind.EMAIL: 100, Kind.WEBHOOK: 10}  # rows per delivery task
WEBHOOK_TIMEOUT = 10  # seconds, for connect and for each read


def private_webhooks_allowed():
    return settings.DEBUG or settings.WARROOM_ALLOW_PRIVATE_WEBHOOKS


# Who is on a list ------------------------------------------------------------------------------


@dataclass
class ListMember:
    """Someone a list's message goes to: one of its own members (`recipient`), or a subscriber
    of the private status page it follows (`ref`, e.g. "subscriber:12", read again through the
    page subscribers' source when sending)."""

    kind: str
    address: str
    name: str = ""
    language: str = ""
    secret: str = ""
    recipient: Recipient | None = None
    ref: str = ""
    page: int | None = None  # the followed page's id
    recipient_list: RecipientList | None = None


@cache
def _page_source(path):
    return import_module(path) if path else None


def page_subscribers():
    """The module named by settings.WARROOM_LIST_PAGE_SUBSCRIBERS (the status pages' own), or
    None. It offers `pages()`: [(id, name)] of the private pages a list may follow;
    `members(page_ids)`: {page id: [ListMember]} of their confirmed subscribers who may still
    see them; `resolve(refs)`: {ref: ListMember} of those of these refs still such members;
    `gone(ref)`: the subscriber's webhook answered 410 Gone (it unsubscribes, as on its page)."""
    return _page_source(getattr(settings, "WARROOM_LIST_PAGE_SUBSCRIBERS", ""))


def followable_pages():
    """[(id, name)] of the private status pages a recipient list may follow."""
    source = page_subscribers()
    return list(source.pages()) if source else []


def members_of(lists):
    """Who the messages to these recipient lists (those of them that are active) go to: their
    active members, then the confirmed subscribers (still allowed to see it) of the private
    status page each follows, as ListMember, the lists in name order. The one place that reads
    who is on a list."""
    lists = [item for item in lists if item.active]
    own = Recipient.objects.filter(recipient_list__in=lists, active=True).order_by("pk")
    by_list = {}
    for member in own:
        by_list.setdefault(member.recipient_list_id, []).append(member)
    followed = {item.follows_page for item in lists if item.follows_page}
    source = page_subscribers() if followed else None
    subscribers = source.members(sorted(followed)) if source else {}
    result = []
    for item in sorted(lists, key=lambda item: (item.name, item.pk)):
        for member in by_list.get(item.pk, ()):
            result.append(
                ListMember(
                    kind=member.kind,
                    address=member.address,
                    name=member.name,
                    language=member.language,
                    secret=member.secret,
                    recipient=member,
                    recipient_list=item,
                )
            )
    # A list's own members first: someone on a list and subscribed too hears it once, as the
    # list's member (its name, language and secret).
    for item in sorted(lists, key=lambda item: (item.name, item.pk)):
        for member in subscribers.get(item.follows_page, ()):
            result.append(ListMember(**{**member.__dict__, "recipient_list": item}))
    return result


@dataclass
class Following:
    """What a list adds through the private status page it follows: the page's id and name,
    and how many of its subscribers a message to the list would reach now."""

    page: int
    page_name: str
    subscribers: int


def following(lists):
    """{list id: Following} of those of these lists that follow a private status page: how many
    of the page's subscribers a message to the list would reach now, counted as `members_of`
    and `fan_out` count them (confirmed, still allowed to see the page, once per address, and
    not those who are also its own active members, who hear it as members). Only a number: the
    subscribers' addresses stay with the status pages. Read in a fixed number of queries for
    any number of lists and subscribers; a list following none is left out."""
    lists = [item for item in lists if item.follows_page]
    source = page_subscribers() if lists else None
    if source is None:
        return {}
    names = dict(source.pages())
    followed = sorted({item.follows_page for item in lists} & set(names))
    subscribers = source.members(followed) if followed else {}
    own = {}
    members = Recipient.objects.filter(recipient_list__in=lists, active=True)
    for list_id, kind, email, url in members.values_list("recipient_list_id", "kind", "email", "webhook_url"):
        own.setdefault(list_id, set()).add((kind, (email if kind == Kind.EMAIL else url).lower()))
    found = {}
    for item in lists:
        if item.follows_page not in names:
            continue  # a page no longer private or gone (its lists stop following it)
        reached = {(m.kind, m.address.lower()) for m in subscribers.get(item.follows_page, ())}
        found[item.pk] = Following(item.follows_page, names[item.follows_page], len(reached - own.get(item.pk, set())))
    return found


def fan_out(comm):
    """Write one pending delivery per recipient of the communication's lists and enqueue them
    once the transaction commits. Called inside the transaction that publishes it; a second
    call writes nothing new (and enqueues what is still pending). Returns the rows queued."""
    if comm.audience not in RecipientList.AUDIENCES:
        return 0
    lists = list(comm.recipient_lists.filter(audience=comm.audience))
    rows, seen = [], set()
    for member in members_of(lists):
        key = (member.kind, member.address.lower())
        if key in seen:
            continue
        seen.add(key)
        rows.append(
            AudienceDelivery(
                communication=comm,
                recipient=member.recipient,
                kind=member.kind,
                address=member.address,
                name=member.name,
                list_name=member.recipient_list.name,
                member_ref=member.ref,
                recipient_list=member.recipient_list if member.ref else None,
            )
        )
    AudienceDelivery.objects.bulk_create(rows, ignore_conflicts=True)
    by_kind = {}
    for pk, kind in AudienceDelivery.objects.filter(communication=comm, status=Status.PENDING).values_list(
        "pk", "kind"
    ):
        by_kind.setdefault(kind, []).append(pk)
    OUTBOX.enqueue(by_kind)
    return sum(len(ids) for ids in by_kind.values())


@transaction.atomic
def send_again(comm, by):
    """An operator's "send again" (the receiver is fixed): the communication's failed
    deliveries are due now. Their attempts count on, so one that had all its tries gets one
    more. Logged. Returns how many."""
    access.require(
        access.can_write_communication(by, comm.incident), gettext("Only comms staff may send communications again.")
    )
    # The timeline is read by everyone who may see the incident, not only by those who may see
    # the deliveries: every recipient is named there by its masked address (a webhook's path
    # often is its secret; an address names a person).
    failed = [
        (d.pk, d.masked_address)
        for d in AudienceDelivery.objects.filter(communication=comm, status=Status.FAILED).only(
            "pk", "kind", "address", "member_ref"
        )
    ]
    if not failed:
        raise ValidationError({"deliveries": gettext("No delivery of this communication has failed.")})
    count = OUTBOX.retry_now([pk for pk, _ in failed])
    record_event(
        comm.incident,
        by,
        TimelineEntry.Kind.COMMS,
        Line(
            gettext_noop(
                "{audience} communication sent again to {count} recipient(s) whose delivery had failed: {addresses}."
            ),
            audience=choice(Communication.Audience, comm.audience),
            count=count,
            addresses=", ".join(address for _, address in failed[:20]) + ("…" if len(failed) > 20 else ""),
        ),
        {"field": "communication", "communication": comm.pk, "sent_again": [pk for pk, _ in failed]},
    )
    notify_changed(comm.incident, "communications")
    return count


def deliveries_of(comm):
    """The communication's deliveries as its page and the API show them, by kind and address."""
    return list(AudienceDelivery.objects.filter(communication=comm).order_by("kind", "address", "pk"))


# Sending ---------------------------------------------------------------------------------------


class AudienceOutbox(outbox.Outbox):
    model = AudienceDelivery
    task = "incidents.comms.tasks.deliver_to_audience"
    retry_base_setting = "WARROOM_NOTIFY_RETRY_BASE_SECONDS"
    group_by = "kind"
    batches = BATCH

    def load(self, ids):
        return list(
            AudienceDelivery.objects.filter(pk__in=ids)
            .select_related("communication__incident", "recipient__recipient_list", "recipient_list")
            .prefetch_related(
                Prefetch("communication__translations", queryset=CommunicationTranslation.objects.order_by("pk"))
            )
            .order_by("pk")
        )

    def send(self, rows, outcomes):
        emails = []
        _attach_members(rows)
        for row in rows:
            refused = _refusal(row)
            if refused:
                outcomes[row.pk] = webhooks.Permanent(refused)
            elif row.kind == Kind.EMAIL:
                emails.append(row)
            else:
                outcomes[row.pk] = send_webhook(row)
        messages = []
        for row in emails:
            try:
                messages.append((row.pk, email_message(row)))
            except Exception as exc:  # one message that cannot be built fails alone
                outcomes[row.pk] = webhooks.Transient(f"Could not build the message: {exc}")
        outbox.send_emails(messages, outcomes)

    def after_failure(self, row, outcome, error, now):
        if not getattr(outcome, "gone", False):
            return
        # 410 Gone: the receiver asked never to be called again.
        if row.recipient_id:
            Recipient.objects.filter(pk=row.recipient_id).update(active=False)
        elif row.member_ref and page_subscribers() is not None:
            page_subscribers().gone(row.member_ref)  # a followed page's subscriber: unsubscribed


OUTBOX = AudienceOutbox()


def _attach_members(rows):
    """Each row's `member` (ListMember) as it is now: its recipient, or the followed page's
    subscriber read again (None once it unsubscribed or lost access to the page)."""
    refs = [row.member_ref for row in rows if row.member_ref]
    source = page_subscribers() if refs else None
    current = source.resolve(refs) if source else {}
    for row in rows:
        if row.member_ref:
            row.member = current.get(row.member_ref)
        elif row.recipient is not None:
            r = row.recipient
            row.member = ListMember(r.kind, r.address, r.name, r.language, r.secret, recipient=r)
        else:
            row.member = None


def _refusal(row):
    """Why a row is not sent after all (it was written at publication), or ''."""
    if row.member_ref:
        followed_by = row.recipient_list
        if followed_by is None or not followed_by.active:
            return "The list was deactivated or deleted before delivery."
        if row.member is None or followed_by.follows_page != row.member.page:
            return "The subscriber unsubscribed, lost access to the status page or is no longer followed by the list."
        return ""
    recipient = row.recipient
    if recipient is None:
        return "The recipient was removed before delivery."
    if not recipient.active or not recipient.recipient_list.active:
        return "The recipient or its list was deactivated before delivery."
    return ""


def in_language(comm, language):
    """(title, body) of the communication in `language` when it has that translation (or one
    in the language's main part: zh for zh-hans), else in its own language."""
    language = (language or "").lower()
    if language and language != comm.language:
        translations = {t.language: t for t in comm.translations.all()}
        chosen = translations.get(language) or translations.get(language.split("-")[0])
        if chosen is not None:
            return chosen.title or comm.title, chosen.body, chosen.language
    return comm.title, comm.body, comm.language


def email_message(row):
    comm = row.communication
    title, body, language = in_language(comm, row.member.language)
    # Without a subject line, the incident's public title: the internal one never leaves.
    fallback = comm.incident.public_title_in(language) or comm.incident.reference
    subject = " ".join((title or fallback).split())
    message = outbox.PreparedEmail(
        subject=subject,
        body=body,
        to=[row.address],
        headers={
            "Auto-Submitted": "auto-generated",
            "Content-Language": language,
            "X-Warroom-Notification": str(row.pk),
        },
    )
    message.encoded_subject = outbox.encode_header(subject)
    message.attach_alternative(
        f'<!doctype html><html lang="{language}"><meta charset="utf-8"><body>{render_markdown(body)}</body></html>',
        "text/html",
    )
    return message


def webhook_body(row):
    comm = row.communication
    data = {
        "type": "communication",
        "audience": comm.audience,
        "incident": {"reference": comm.incident.reference},
        "communication": {
            "id": comm.pk,
            "title": comm.title,
            "body": comm.body,
            "language": comm.language,
            "published_at": comm.published_at.isoformat() if comm.published_at else None,
            "translations": {t.language: {"title": t.title, "body": t.body} for t in comm.translations.all()},
        },
        "meta": {
            "delivery_id": str(row.pk),
            "generated_at": timezone.now().isoformat(timespec="seconds"),
        },
    }
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def send_webhook(row):
    body = webhook_body(row)
    return webhooks.post(
        row.address,
        body,
        webhooks.signed_headers(row.member.secret, body, row.pk),
        timeout=WEBHOOK_TIMEOUT,
        allow_private=private_webhooks_allowed(),
    )
