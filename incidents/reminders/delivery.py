"""Notifications to people: the in-app inbox, e-mail and incident webhooks, through an outbox.

`send(messages, webhook_messages)` is called inside the transaction of whatever caused the
messages (the reminder sweep's decision) and writes, in a constant number of statements:

- one `UserNotification` per person (their inbox entry; unique per person and key, so a
  message about one reminder window reaches nobody twice),
- one e-mail `NotificationDelivery` per notification of a person who wants e-mail,
- one webhook `NotificationDelivery` per message and target (unique per target and key): the
  incident's own targets, and the global ones unless the incident is confidential (a message's
  payload may be a function, called only when some target hears it);

then enqueues their delivery with `transaction.on_commit`. `deliver(ids)` (the Celery task)
claims rows with one conditional UPDATE, so two workers never send the same row, sends them,
and records the outcome: sent; pending again with exponential backoff (transient errors); or
failed (permanent errors, too many attempts). A webhook answering 410 Gone is disabled. The
sweep (incidents.reminders.sweep) hands back rows of workers that died and re-enqueues what a
lost broker message left pending.

Delivery is at least once: a worker killed after the receiver answered but before the row
was recorded sends again, with the same X-Warroom-Delivery header (webhooks) or
X-Warroom-Notification header (e-mail) for the receiver to drop the repeat.
"""

import json
import logging
import smtplib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import islice

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import mail
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from incidents import webhooks
from incidents.models import Incident, IncidentWebhook, Membership, NotificationDelivery, UserNotification

log = logging.getLogger(__name__)
User = get_user_model()
Status = NotificationDelivery.Status
Channel = NotificationDelivery.Channel

MAX_ATTEMPTS = 8
BACKOFF_CAP = timedelta(hours=1)
# A row claimed this long ago and still 'sending' belongs to a worker that died: the sweep
# hands it back. The claim stores this deadline in next_attempt_at.
SENDING_TIMEOUT = timedelta(minutes=10)
# The sweep leaves a pending row alone this long past its due time (its own task is most
# likely still queued); after that it enqueues it again.
SWEEP_GRACE = timedelta(seconds=60)
SWEEP_LIMIT = 20_000  # rows re-enqueued per sweep, so a long outage does not flood the broker
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


def _chunks(items, size):
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def enqueue(ids_by_channel):
    """Queue delivery of these rows in batches, once the transaction commits."""
    from incidents.reminders.tasks import deliver_notifications

    for channel, ids in ids_by_channel.items():
        for chunk in _chunks(sorted(ids), BATCH[channel]):
            transaction.on_commit(lambda chunk=chunk: deliver_notifications.delay(chunk))


# Claiming and delivering -------------------------------------------------------------------


def backoff(attempts):
    """Delay before the next try after `attempts` tries: 30 s, 60 s, 120 s ... capped at 1 h."""
    base = settings.WARROOM_NOTIFY_RETRY_BASE_SECONDS
    return min(timedelta(seconds=base * 2 ** max(attempts - 1, 0)), BACKOFF_CAP)


@dataclass
class Result:
    """What one deliver() call did, by delivery id; `retry` maps a delay in seconds to the ids
    due again after it (the task schedules those)."""

    claimed: list = field(default_factory=list)
    sent: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    retry: dict = field(default_factory=dict)


def claim(ids, now=None):
    """Mark the due, pending rows among `ids` as sending, in one statement; returns the ids
    this call claimed. A row claimed by someone else is not returned, so it is not sent twice.
    (RETURNING: an UPDATE then a SELECT could not tell our rows from another worker's.)"""
    ids = sorted({int(i) for i in ids})
    if not ids:
        return []
    now = now or timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    marks = ", ".join(["%s"] * len(ids))
    sql = (
        f"UPDATE {connection.ops.quote_name(NotificationDelivery._meta.db_table)} "  # noqa: S608 - only placeholders
        "SET status = %s, attempts = attempts + 1, next_attempt_at = %s "
        f"WHERE id IN ({marks}) AND status = %s AND next_attempt_at <= %s RETURNING id"
    )
    params = [Status.SENDING, adapt(now + SENDING_TIMEOUT), *ids, Status.PENDING, adapt(now)]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        return sorted(row[0] for row in cursor.fetchall())


def deliver(ids, now=None):
    """Send the deliveries among `ids` that this call claims. Idempotent: call it as often as
    you like with the same ids."""
    result = Result(claimed=claim(ids, now))
    if not result.claimed:
        return result
    rows = list(
        NotificationDelivery.objects.filter(pk__in=result.claimed)
        .select_related("notification__user", "notification__incident", "webhook", "incident")
        .order_by("pk")
    )
    outcomes = {}  # id -> None (sent) | Permanent | Transient
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
    if emails:
        outcomes.update(send_emails(emails))
    _record(rows, outcomes, timezone.now(), result)
    return result


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


def _record(rows, outcomes, now, result):
    sent = [pk for pk, outcome in outcomes.items() if outcome is None]
    mine = NotificationDelivery.objects.filter(status=Status.SENDING)
    with transaction.atomic():
        if sent:
            mine.filter(pk__in=sent).update(status=Status.SENT, sent_at=now, last_error="")
            result.sent += sent
        for row in rows:
            outcome = outcomes[row.pk]
            if outcome is None:
                continue
            error = str(outcome)[:1000]
            if isinstance(outcome, webhooks.Transient) and row.attempts < MAX_ATTEMPTS:
                delay = backoff(row.attempts)
                mine.filter(pk=row.pk).update(status=Status.PENDING, next_attempt_at=now + delay, last_error=error)
                result.retry.setdefault(int(delay.total_seconds()), []).append(row.pk)
                continue
            if isinstance(outcome, webhooks.Transient):
                error = f"Gave up after {row.attempts} attempts: {error}"
            mine.filter(pk=row.pk).update(status=Status.FAILED, last_error=error)
            result.failed.append(row.pk)
            if getattr(outcome, "gone", False) and row.webhook_id:
                IncidentWebhook.objects.filter(pk=row.webhook_id, active=True).update(
                    active=False, disabled_reason=f"{now:%Y-%m-%d %H:%M} UTC: {error}"[:300]
                )


# E-mail ------------------------------------------------------------------------------------


def email_message(row):
    note = row.notification
    text = "\n\n".join(part for part in (note.body, note.url) if part)
    text += "\n\n-- \nWarroom reminders. Your inbox and e-mail preference: " + settings.SITE_URL + "/inbox/\n"
    return mail.EmailMessage(
        subject=" ".join(f"[Warroom] {note.title}".split()),  # one line: titles hold user text
        body=text,
        to=[note.user.email],
        headers={"Auto-Submitted": "auto-generated", "X-Warroom-Notification": str(note.pk)},
    )


def send_emails(rows):
    """One mail connection for the batch. A refused address is permanent; a lost connection
    leaves this and every later message of the batch for another try."""
    outcomes = {}
    try:
        conn = mail.get_connection(fail_silently=False)
        conn.open()
    except (OSError, smtplib.SMTPException) as exc:
        return {row.pk: webhooks.Transient(f"Mail server: {exc}") for row in rows}
    try:
        for index, row in enumerate(rows):
            try:
                conn.send_messages([email_message(row)])
                outcomes[row.pk] = None
            except smtplib.SMTPRecipientsRefused as exc:
                outcomes[row.pk] = webhooks.Permanent(f"Address refused: {exc.recipients}")
            except smtplib.SMTPResponseException as exc:
                kind = webhooks.Permanent if 500 <= exc.smtp_code < 600 else webhooks.Transient
                outcomes[row.pk] = kind(f"Mail server said {exc.smtp_code}: {exc.smtp_error!r}")
            except (OSError, smtplib.SMTPException) as exc:
                for later in rows[index:]:
                    outcomes[later.pk] = webhooks.Transient(f"Mail server: {exc}")
                break
    finally:
        try:
            conn.close()
        except (OSError, smtplib.SMTPException):
            log.warning("Closing the mail connection failed", exc_info=True)
    return outcomes


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


# The sweep's share ------------------------------------------------------------------------


def retry_now(ids):
    """An admin's "send again": failed and pending rows among `ids` become due now."""
    now = timezone.now()
    with transaction.atomic():
        again = NotificationDelivery.objects.filter(pk__in=list(ids), status__in=(Status.FAILED, Status.PENDING))
        by_channel = {}
        for pk, channel in again.values_list("pk", "channel"):
            by_channel.setdefault(channel, []).append(pk)
        again.update(status=Status.PENDING, next_attempt_at=now)
        enqueue(by_channel)
    return sum(len(v) for v in by_channel.values())


def release_stuck(now):
    """Rows 'sending' past their deadline belong to a worker that died mid-send: pending
    again, due since they were claimed."""
    return NotificationDelivery.objects.filter(status=Status.SENDING, next_attempt_at__lte=now).update(
        status=Status.PENDING,
        next_attempt_at=F("next_attempt_at") - SENDING_TIMEOUT,
        last_error="The worker sending it stopped; sending again.",
    )


def requeue_due(now):
    """Pending rows due a while ago whose task never came (the broker lost it): enqueue again.
    The claim makes a duplicate task harmless."""
    due = (
        NotificationDelivery.objects.filter(status=Status.PENDING, next_attempt_at__lte=now - SWEEP_GRACE)
        .order_by("next_attempt_at")
        .values_list("pk", "channel")[:SWEEP_LIMIT]
    )
    by_channel = {}
    for pk, channel in due:
        by_channel.setdefault(channel, []).append(pk)
    with transaction.atomic():
        enqueue(by_channel)
    return sum(len(ids) for ids in by_channel.values())
