"""Notifications to people: the in-app inbox, e-mail and incident webhooks, through an outbox.

`send(messages, webhook_messages)` is called inside the transaction of whatever caused the
messages (the reminder sweep's decision) and writes, in a constant number of statements:

- one `UserNotification` per person (their inbox entry; unique per person and key, so a
  message about one reminder window reaches nobody twice),
- one e-mail `NotificationDelivery` per notification of a person who wants e-mail,
- one webhook `NotificationDelivery` per message and target (unique per target and key): the
  incident's own targets, and the global ones unless the incident is confidential (a message's
  payload may be a function, called only when some target hears it);

then enqueues their delivery with `transaction.on_commit`. Claiming, recording, backoff and
the sweep's share are the outbox's (incidents/outbox.py, shared with the status page's
subscriber notifications): `deliver(ids)` (the Celery task) claims rows with one conditional
UPDATE, so two workers never send the same row, sends them, and records the outcome: sent;
pending again with exponential backoff (transient errors); or failed (permanent errors, too
many attempts). This module keeps what is the reminders' own: who is refused at sending time,
the e-mail and the webhook bodies, and disabling a webhook that answers 410 Gone. The sweep
(incidents.reminders.sweep) hands back rows of workers that died (failing those out of
attempts) and re-enqueues what a lost broker message left pending.

Delivery is at least once: a worker killed after the receiver answered but before the row
was recorded sends again, with the same X-Warroom-Delivery header (webhooks) or
X-Warroom-Notification header (e-mail) for the receiver to drop the repeat.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import mail
from django.db import connection
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext

from incidents import languages, outbox, webhooks
from incidents.models import Incident, IncidentWebhook, Membership, NotificationDelivery, UserNotification

# The mechanism's limits, one set for every outbox; importable from here as before.
from incidents.outbox import BACKOFF_CAP, MAX_ATTEMPTS, SENDING_TIMEOUT, SWEEP_GRACE, SWEEP_LIMIT, Result  # noqa: F401

User = get_user_model()
Status = NotificationDelivery.Status
Channel = NotificationDelivery.Channel

BATCH = {Channel.EMAIL: 100, Channel.WEBHOOK: 10}  # rows per delivery task


@dataclass(frozen=True)
class Message:
    """One notification to one person."""

    user_id: int
    key: str
    title: str
    url: str
    body: str = ""
    kind: str = UserNotification.Kind.OTHER
    incident_id: int | None = None
    subject: str = ""
    line: dict | None = None  # title and body as timeline lines, for the inbox (UserNotification.line)


@dataclass(frozen=True)
class WebhookMessage:
    """One message about an incident for its webhook targets (not per person). `payload` is
    the dict, or a function returning it: most incidents have no target, and a burst of
    reminders need not build payloads nobody receives."""

    incident_id: int
    confidential: bool
    key: str
    payload: dict | Callable[[], dict]


# Writing -------------------------------------------------------------------------------------


def send(messages, webhook_messages=(), incidents=None):
    """Write the outbox rows for these messages and enqueue their delivery after commit.
    Call it inside the transaction that decided to send them. `incidents` (a queryset) holds
    the incidents the webhook messages may be about, by default those not closed: their
    targets are read in one query. Returns the new notifications' (id, user id, key); a
    message whose (user, key) exists already is skipped."""
    now = timezone.now()
    written = insert_ignoring_conflicts(
        UserNotification,
        [
            {
                "user_id": m.user_id,
                "incident_id": m.incident_id,
                "kind": m.kind,
                "key": m.key[:200],
                "subject": m.subject[:120],
                "title": m.title[:200],
                "body": m.body,
                "line": m.line or {},
                "url": m.url[:500],
                "created_at": now,
                "read_at": None,
            }
            for m in messages
        ],
        returning=("id", "user_id", "key"),
    )
    by_channel = {}
    if written:
        wanted = _wants_email({user_id for _, user_id, _ in written})
        emails = [
            _delivery(Channel.EMAIL, now, key=key, notification_id=pk)
            for pk, user_id, key in written
            if user_id in wanted
        ]
        ids = [pk for (pk,) in insert_ignoring_conflicts(NotificationDelivery, emails)]
        by_channel[Channel.EMAIL] = ids
    if webhook_messages:
        by_channel[Channel.WEBHOOK] = _write_webhooks(webhook_messages, now, incidents)
    enqueue(by_channel)
    return written


def _wants_email(user_ids):
    """Those of these users who get e-mail: active, an address, and not opted out."""
    rows = (
        User.objects.filter(pk__in=user_ids, is_active=True)
        .exclude(email="")
        .values_list("pk", "notification_preference__email")
    )
    return {pk for pk, email in rows if email is not False}


def _write_webhooks(webhook_messages, now, incidents=None):
    about = {m.incident_id for m in webhook_messages}
    targets = {}
    # Active targets: global ones, and those of the incidents the messages may be about, so
    # the query does not grow with the messages.
    if incidents is None:
        incidents = Incident.objects.exclude(status=Incident.Status.CLOSED)
    live = IncidentWebhook.objects.filter(active=True).filter(Q(incident__isnull=True) | Q(incident__in=incidents))
    for pk, incident_id in live.values_list("pk", "incident_id"):
        if incident_id is None or incident_id in about:
            targets.setdefault(incident_id, []).append(pk)
    rows = []
    for m in webhook_messages:
        # A confidential incident's reminders go only to that incident's own targets.
        chosen = targets.get(m.incident_id, []) + ([] if m.confidential else targets.get(None, []))
        if not chosen:
            continue
        payload = m.payload() if callable(m.payload) else m.payload
        rows += [
            _delivery(Channel.WEBHOOK, now, key=m.key[:200], webhook_id=pk, incident_id=m.incident_id, payload=payload)
            for pk in chosen
        ]
    return [pk for (pk,) in insert_ignoring_conflicts(NotificationDelivery, rows)]


def _delivery(channel, now, *, key, notification_id=None, webhook_id=None, incident_id=None, payload=None):
    return {
        "channel": channel,
        "notification_id": notification_id,
        "webhook_id": webhook_id,
        "incident_id": incident_id,
        "key": key,
        "payload": payload or {},
        "status": Status.PENDING,
        "attempts": 0,
        "last_error": "",
        "created_at": now,
        "next_attempt_at": now,
        "sent_at": None,
    }


def insert_ignoring_conflicts(model, rows, returning=("id",), *, new_by=None, limit=None):
    """INSERT the rows (dicts of column attnames to values; all with the same keys), skipping
    any that would break a unique constraint; returns the inserted rows' `returning` columns.

    With `limit`, inserts at most that many, in the order given, of the rows that match no
    existing row on the `new_by` columns (a unique constraint's): the rows already there do
    not count against the limit.

    One statement however many rows: they travel as one JSON parameter that the database
    unpacks (jsonb_to_recordset on PostgreSQL, json_each on SQLite). bulk_create would need a
    statement per few thousand rows (parameter limits) and cannot say which rows were new.
    The rows are encoded as they are (datetimes by the encoder's hook), not copied: a burst
    of reminders writes tens of thousands of them."""
    if not rows:
        return []
    qn = connection.ops.quote_name
    table = qn(model._meta.db_table)
    names = list(rows[0])
    fields = [model._meta.get_field(name) for name in names]
    columns = [f.column for f in fields]
    if names != columns:
        rows = [{column: row[name] for name, column in zip(names, columns, strict=True)} for row in rows]
    data = json.dumps(rows, default=_json_value(), separators=(",", ":"))
    back = ", ".join(qn(model._meta.get_field(name).column) for name in returning)
    params = [data]
    if connection.vendor == "postgresql":
        shape = ", ".join(f"{qn(f.column)} {f.db_type(connection)}" for f in fields)
        listed = ", ".join(qn(c) for c in columns)
        # WITH ORDINALITY numbers the rows in the order given (and the plan keeps that order).
        source = f"ROWS FROM (jsonb_to_recordset(%s::jsonb) AS ({shape})) WITH ORDINALITY AS x({listed}, _rank)"
        picks = ", ".join(f"x.{qn(c)}" for c in columns)

        def value(column):
            return f"x.{qn(column)}"
    else:
        source = "json_each(%s) AS x"
        picks = ", ".join(f"json_extract(x.value, '$.{c}')" for c in columns)

        def value(column):
            return f"json_extract(x.value, '$.{column}')"

    # "WHERE true" also keeps SQLite from reading ON CONFLICT as a join constraint.
    where, tail = "true", ""
    if limit is not None:
        unique = [model._meta.get_field(name).column for name in new_by]
        same = " AND ".join(f"seen.{qn(c)} = {value(c)}" for c in unique)
        where = f"NOT EXISTS (SELECT 1 FROM {table} AS seen WHERE {same})"  # noqa: S608 - names from the model
        tail = f" ORDER BY {'x._rank' if connection.vendor == 'postgresql' else 'x.key'} LIMIT %s"
        params.append(int(limit))
    sql = (
        f"INSERT INTO {table} ({', '.join(qn(c) for c in columns)}) "  # noqa: S608 - names from the model
        f"SELECT {picks} FROM {source} WHERE {where}{tail} ON CONFLICT DO NOTHING RETURNING {back}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [tuple(r) for r in cursor.fetchall()]


def _json_value():
    """How values JSON has no type for travel: datetimes as the database reads them (the
    same moment, e.g. the sweep's time, is converted once), dates as YYYY-MM-DD."""
    if connection.vendor == "postgresql":

        def convert(moment):
            return moment.isoformat()
    else:
        adapt = connection.ops.adapt_datetimefield_value

        def convert(moment):
            return str(adapt(moment))

    seen = {}

    def default(value):
        if isinstance(value, datetime):
            if value not in seen:
                seen[value] = convert(value)
            return seen[value]
        if isinstance(value, date):
            return value.isoformat()
        raise TypeError(f"{type(value).__name__} cannot travel as JSON")

    return default


# Claiming and delivering (incidents/outbox.py) ----------------------------------------------


class ReminderOutbox(outbox.Outbox):
    model = NotificationDelivery
    task = "incidents.reminders.tasks.deliver_notifications"
    retry_base_setting = "WARROOM_NOTIFY_RETRY_BASE_SECONDS"
    group_by = "channel"
    batches = BATCH

    def load(self, ids):
        return list(
            NotificationDelivery.objects.filter(pk__in=ids)
            .select_related("notification__user__language_preference", "notification__incident", "webhook", "incident")
            .order_by("pk")
        )

    def send(self, rows, outcomes):
        members = _confidential_members(rows)
        emails = []
        for row in rows:
            refused = _refusal(row, members)
            if refused:
                outcomes[row.pk] = webhooks.Permanent(refused)
            elif row.channel == Channel.EMAIL:
                emails.append(row)
            else:
                outcomes[row.pk] = send_webhook(row)
        send_emails(emails, outcomes)

    def after_failure(self, row, outcome, error, now):
        if getattr(outcome, "gone", False) and row.webhook_id:
            IncidentWebhook.objects.filter(pk=row.webhook_id, active=True).update(
                active=False, disabled_reason=f"{now:%Y-%m-%d %H:%M} UTC: {error}"[:300]
            )


OUTBOX = ReminderOutbox()
backoff = OUTBOX.backoff
claim = OUTBOX.claim
deliver = OUTBOX.deliver
enqueue = OUTBOX.enqueue
# The sweep's share (incidents.reminders.sweep) and the admin's "send again".
release_stuck = OUTBOX.release_stuck
requeue_due = OUTBOX.requeue_due
retry_now = OUTBOX.retry_now


def _confidential_members(rows):
    """(incident id, user id) pairs of members, for the e-mails about confidential incidents."""
    incidents = {
        r.notification.incident_id
        for r in rows
        if r.channel == Channel.EMAIL and r.notification.incident_id and r.notification.incident.confidential
    }
    if not incidents:
        return set()
    return set(Membership.objects.filter(incident__in=incidents).values_list("incident_id", "user_id"))


def _refusal(row, members):
    """Why this row must not be sent (any more), or ''. Checked at sending time: access and
    targets can change after the row was written."""
    if row.channel == Channel.EMAIL:
        note = row.notification
        if not note.user.is_active or not note.user.email:
            return "The person has no active account with an e-mail address."
        if note.incident and note.incident.confidential and (note.incident_id, note.user_id) not in members:
            return "The incident is confidential and the person is no longer a member."
        return ""
    if not row.webhook.active:
        return "The webhook target is disabled."
    if row.webhook.incident_id is None and row.incident is not None and row.incident.confidential:
        return "The incident is confidential: only its own webhook targets hear of it."
    return ""


# E-mail ------------------------------------------------------------------------------------


def email_message(row):
    """The e-mail of one notification, in its recipient's language (incidents/languages.py):
    rendered under an override per message, so a batch for several people leaks no language."""
    note = row.notification
    with translation.override(languages.email_language(note.user)):
        title, body = note.shown_title, note.shown_body
        text = "\n\n".join(part for part in (body, note.url) if part)
        text += "\n\n-- \n" + gettext("Warroom reminders. Your inbox and e-mail preference: {url}").format(
            url=settings.SITE_URL + "/inbox/"
        )
        text += "\n" + gettext("Your language: {url}").format(url=settings.SITE_URL + "/account/") + "\n"
    return mail.EmailMessage(
        subject=" ".join(f"[Warroom] {title}".split()),  # one line: titles hold user text
        body=text,
        to=[note.user.email],
        headers={"Auto-Submitted": "auto-generated", "X-Warroom-Notification": str(note.pk)},
    )


def send_emails(rows, outcomes):
    """One mail connection for the batch (incidents.outbox.send_emails)."""
    outbox.send_emails([(row.pk, email_message(row)) for row in rows], outcomes)


# Webhooks ----------------------------------------------------------------------------------


def private_webhooks_allowed():
    return settings.DEBUG or settings.WARROOM_ALLOW_PRIVATE_WEBHOOKS


def _chat_escape(text):
    # Slack reads <...> as links and mentions (<!channel>): user text must not make any.
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def webhook_body(row):
    """The JSON a target receives: {"text": ...} for Slack and Teams incoming webhooks, the
    whole reminder for generic targets."""
    p = row.payload
    fmt = row.webhook.format
    title, body, url = _chat_escape(p.get("title", "")), _chat_escape(p.get("body", "")), p.get("url", "")
    reference = (p.get("incident") or {}).get("reference", "Open")
    if fmt == IncidentWebhook.Format.SLACK:
        data = {"text": f"*{title}*\n{body}\n<{url}|{reference}>"}
    elif fmt == IncidentWebhook.Format.TEAMS:
        data = {"text": f"**{title}**\n\n{body}\n\n[{reference}]({url})"}
    else:
        data = {"type": "reminder", "delivery_id": str(row.pk), "key": row.key, **p}
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


def send_webhook(row):
    body = webhook_body(row)
    return webhooks.post(
        row.webhook.url,
        body,
        webhooks.signed_headers(row.webhook.secret, body, row.pk),
        allow_private=private_webhooks_allowed(),
    )
