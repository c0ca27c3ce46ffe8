"""Delivery of subscriber notifications: the outbox rows in `Notification`, sent by e-mail or
webhook.

Every message is a row before it is sent (statuspage/tasks.py writes them). `deliver(ids)`
claims rows with one conditional UPDATE, so two workers (a retried task, the sweep's
re-enqueue, a redelivered message) never send the same row; it then sends the claimed rows
and records the outcome on each row: sent, back to pending with exponential backoff
(transient errors), or failed (permanent errors, or too many attempts).

Webhook receivers verify what they get with `verify_signature` (docs/statuspage.md; the
signing and the HTTP call are incidents/webhooks.py, shared with incident webhooks):

    X-Warroom-Timestamp: 1732818000
    X-Warroom-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
    X-Warroom-Delivery: <notification id>   (the same on a redelivery: use it to drop duplicates)

    from statuspage.delivery import verify_signature
    ok = verify_signature(secret, request.headers["X-Warroom-Timestamp"], request.body,
                          request.headers["X-Warroom-Signature"])

Delivery is at least once: a worker killed after the receiver answered but before the row
was marked sent will send again, with the same X-Warroom-Delivery.
"""

import json
import logging
import secrets
import smtplib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.header import Header
from urllib.parse import urlsplit

from django.conf import settings
from django.core import mail
from django.db import connection, transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from incidents import webhooks
from incidents.markup import render_markdown
from incidents.models import Communication

# Signing, the address check and the outcomes are shared with incident webhooks; these names
# stay importable from here (receivers and tests use statuspage.delivery.verify_signature).
from incidents.webhooks import SIGNATURE_TOLERANCE, AddressError, Transient, sign, verify_signature  # noqa: F401

from .models import Notification, Subscriber

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BACKOFF_CAP = timedelta(hours=1)
WEBHOOK_TIMEOUT = 10  # seconds, for connect and for each read
# A row claimed this long ago and still 'sending' belongs to a worker that died: the sweep
# hands it back. The claim stores the deadline in next_attempt_at.
SENDING_TIMEOUT = timedelta(minutes=10)

Status = Notification.Status


# Signatures and addresses (shared with incident webhooks: incidents/webhooks.py) ----------


def private_webhooks_allowed():
    return settings.DEBUG or settings.STATUSPAGE_ALLOW_PRIVATE_WEBHOOKS


def check_webhook_url(url, allow_private=None):
    """Raise AddressError unless `url` is an http(s) URL whose host resolves only to public
    addresses (incidents.webhooks.check_url). Checked when subscribing and again before every
    call, because a name can be pointed at an internal address after it was accepted (SSRF)."""
    webhooks.check_url(url, allow_private if allow_private is not None else private_webhooks_allowed())


# Outcomes ----------------------------------------------------------------------------------


class Permanent(webhooks.Permanent):
    """Never worth another try: a 4xx, a refused address; `unsubscribe` for a 410 Gone."""

    def __init__(self, message, unsubscribe=False):
        super().__init__(message, gone=unsubscribe)
        self.unsubscribe = unsubscribe


def backoff(attempts):
    """Delay before the next try after `attempts` tries: 30 s, 60 s, 120 s ... capped at 1 h."""
    base = settings.STATUSPAGE_RETRY_BASE_SECONDS
    return min(timedelta(seconds=base * 2 ** max(attempts - 1, 0)), BACKOFF_CAP)


@dataclass
class Result:
    """What one deliver() call did, by notification id; `retry` maps a delay in seconds to the
    ids due again after it (the task schedules those)."""

    claimed: list = field(default_factory=list)
    sent: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    retry: dict = field(default_factory=dict)


# Claiming ----------------------------------------------------------------------------------


def claim(ids, now=None):
    """Mark the due, pending rows among `ids` as sending, in one statement; returns the ids
    this call claimed. A row claimed by someone else is not returned, so it is not sent twice.

    Raw SQL for RETURNING (PostgreSQL and SQLite >= 3.35 both have it): an UPDATE followed by
    a SELECT could not tell our rows from those another worker claimed in between."""
    ids = sorted({int(i) for i in ids})
    if not ids:
        return []
    now = now or timezone.now()
    table = connection.ops.quote_name(Notification._meta.db_table)
    adapt = connection.ops.adapt_datetimefield_value
    claimed = []
    # SQLite caps the number of parameters in one statement.
    for start in range(0, len(ids), 5000):
        chunk = ids[start : start + 5000]
        marks = ", ".join(["%s"] * len(chunk))
        sql = (
            f"UPDATE {table} SET status = %s, attempts = attempts + 1, next_attempt_at = %s "  # noqa: S608 - only placeholders
            f"WHERE id IN ({marks}) AND status = %s AND next_attempt_at <= %s RETURNING id"
        )
        params = [Status.SENDING, adapt(now + SENDING_TIMEOUT), *chunk, Status.PENDING, adapt(now)]
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, params)
            claimed += [row[0] for row in cursor.fetchall()]
    return sorted(claimed)


def deliver(ids, now=None):
    """Send the notifications among `ids` that this call claims. Idempotent: call it as often
    as you like with the same ids."""
    result = Result(claimed=claim(ids, now))
    if not result.claimed:
        return result
    rows = _load(result.claimed)
    now = timezone.now()
    outcomes = {}  # id -> None (sent) | Permanent | Transient
    withdrawn = _withdrawn_communications(rows)
    emails, webhooks = [], []
    for row in rows:
        sub = row.subscriber
        if sub.unsubscribed_at is not None:
            outcomes[row.pk] = Permanent("Unsubscribed before delivery.")
        elif row.payload.get("communication") in withdrawn:
            outcomes[row.pk] = Permanent("The incident is no longer public.")
        elif sub.kind == Subscriber.Kind.EMAIL:
            emails.append(row)
        else:
            webhooks.append(row)
    try:
        if emails:
            outcomes.update(EmailTransport().send_batch(emails))
        for row in webhooks:
            outcomes[row.pk] = WebhookTransport().send(row)
    except Exception as exc:
        # A bug must not leave claimed rows 'sending' for the sweep to find ten minutes later:
        # what was not sent is recorded as a failed try, so retries and giving up still apply.
        log.exception("Delivering notifications %s failed", result.claimed)
        for row in rows:
            outcomes.setdefault(row.pk, Transient(f"{type(exc).__name__}: {exc}"))
    _record(rows, outcomes, now, result)
    return result


def _load(ids):
    """The claimed rows with their subscribers. Rows about the same thing (key) carry the same
    payload, so it is read once per key, not once per row."""
    rows = list(Notification.objects.filter(pk__in=ids).select_related("subscriber").defer("payload").order_by("pk"))
    first = {}
    for row in rows:
        first.setdefault(row.key, row.pk)
    payloads = dict(Notification.objects.filter(pk__in=first.values()).values_list("key", "payload"))
    for row in rows:
        row.payload = payloads[row.key]
    return rows


def _withdrawn_communications(rows):
    """Communications whose incident became confidential after the rows were written: their
    pending notifications are never sent (the payload is a snapshot taken at publication)."""
    pks = {row.payload.get("communication") for row in rows} - {None}
    if not pks:
        return set()
    return set(Communication.objects.filter(pk__in=pks, incident__confidential=True).values_list("pk", flat=True))


def _record(rows, outcomes, now, result):
    sent = [pk for pk, outcome in outcomes.items() if outcome is None]
    mine = Notification.objects.filter(status=Status.SENDING)
    with transaction.atomic():
        if sent:
            mine.filter(pk__in=sent).update(status=Status.SENT, sent_at=now, last_error="")
            result.sent += sent
        for row in rows:
            outcome = outcomes[row.pk]
            if outcome is None:
                continue
            error = str(outcome)[:1000]
            if isinstance(outcome, Transient) and row.attempts < MAX_ATTEMPTS:
                delay = backoff(row.attempts)
                mine.filter(pk=row.pk).update(status=Status.PENDING, next_attempt_at=now + delay, last_error=error)
                result.retry.setdefault(int(delay.total_seconds()), []).append(row.pk)
                continue
            if isinstance(outcome, Transient):
                error = f"Gave up after {row.attempts} attempts: {error}"
            mine.filter(pk=row.pk).update(status=Status.FAILED, last_error=error)
            result.failed.append(row.pk)
            if getattr(outcome, "unsubscribe", False):
                Subscriber.objects.filter(pk=row.subscriber_id, unsubscribed_at__isnull=True).update(
                    unsubscribed_at=now
                )


# Links -------------------------------------------------------------------------------------


def absolute(path):
    return settings.SITE_URL + path


def unsubscribe_url(token):
    return absolute(reverse("statuspage:unsubscribe", args=[token]))


def confirm_url(token):
    return absolute(reverse("statuspage:confirm", args=[token]))


def manage_url(token):
    return absolute(reverse("statuspage:manage", args=[token]))


# E-mail ------------------------------------------------------------------------------------

STATUS_LABELS = dict(Communication.PublicStatus.choices) | {"postmortem": "Postmortem"}


def _level_label(level):
    return level.replace("_", " ")


def _posted(iso_time):
    try:
        moment = datetime.fromisoformat(iso_time).astimezone(UTC)
    except (TypeError, ValueError):
        return ""
    return moment.strftime("%Y-%m-%d %H:%M UTC")


class PreparedEmail(mail.EmailMultiAlternatives):
    """An e-mail whose subject was encoded once for the whole batch: RFC 2047-encoding a
    non-ASCII subject ("—") costs more than everything else about a message."""

    encoded_subject = None

    def message(self):
        if self.encoded_subject is None:
            return super().message()
        readable, self.subject = self.subject, "-"
        try:
            message = super().message()
        finally:
            self.subject = readable
        # Set past Django's header check, which refuses the line breaks of a folded header;
        # the value is our own encoding of a one-line subject (_encode_header), not user text.
        message.replace_header("Subject", self.encoded_subject)
        return message


def _encode_header(value, name="Subject"):
    """The header as it goes on the wire: RFC 2047 encoded words where it is not ASCII, folded
    onto lines of at most 78 characters counting "Subject: ". Any line break in the value is
    dropped first, so nothing can be injected below it.

    Django's own path (Header(value).encode(), then a check that refuses newlines) cannot take
    a pre-folded value: every subject over about 55 characters raised BadHeaderError."""
    value = " ".join(value.split())
    try:
        value.encode("ascii")
    except UnicodeEncodeError:
        return Header(value, "utf-8", header_name=name).encode()
    return Header(value, header_name=name).encode()


class EmailTransport:
    """One connection per batch; each message rendered once per batch and language with a
    placeholder where the subscriber's token goes, so 100,000 messages are not 100,000
    template renders."""

    def __init__(self):
        self.placeholder = "tok" + secrets.token_hex(12)
        self._rendered = {}
        self._encoded = {}
        self._unsubscribe_url = unsubscribe_url(self.placeholder)

    def send_batch(self, rows):
        outcomes = {}
        messages = []
        for row in rows:
            try:
                messages.append((row, self.message(row)))
            except Exception as exc:  # one message that cannot be built fails alone
                log.exception("Building e-mail notification %s failed", row.pk)
                outcomes[row.pk] = Transient(f"Could not build the message: {exc}")
        if not messages:
            return outcomes
        try:
            conn = mail.get_connection(fail_silently=False)
            conn.open()
        except (OSError, smtplib.SMTPException) as exc:
            return outcomes | {row.pk: Transient(f"Mail server: {exc}") for row, _ in messages}
        try:
            for index, (row, message) in enumerate(messages):
                try:
                    conn.send_messages([message])
                    outcomes[row.pk] = None
                except smtplib.SMTPRecipientsRefused as exc:
                    outcomes[row.pk] = Permanent(f"Address refused: {exc.recipients}")
                except smtplib.SMTPResponseException as exc:
                    kind = Permanent if 500 <= exc.smtp_code < 600 else Transient
                    outcomes[row.pk] = kind(f"Mail server said {exc.smtp_code}: {exc.smtp_error!r}")
                except (OSError, smtplib.SMTPException) as exc:
                    # The connection is gone: this and every later message of the batch wait.
                    for later, _ in messages[index:]:
                        outcomes[later.pk] = Transient(f"Mail server: {exc}")
                    break
                except Exception as exc:
                    # Anything else is about this message (a header Django refuses, say): it
                    # fails alone, retried and then marked failed, and the batch goes on.
                    log.exception("Sending e-mail notification %s failed", row.pk)
                    outcomes[row.pk] = Transient(f"{type(exc).__name__}: {exc}")
        finally:
            try:
                conn.close()
            except (OSError, smtplib.SMTPException):
                log.warning("Closing the mail connection failed", exc_info=True)
        return outcomes

    def message(self, row):
        sub = row.subscriber
        subject, text, html = self._render(row.key, row.payload, sub.language)
        unsubscribe = self._unsubscribe_url.replace(self.placeholder, sub.token)
        message = PreparedEmail(
            subject=subject,
            body=text.replace(self.placeholder, sub.token),
            to=[sub.email],
            headers={
                # RFC 2369 and RFC 8058: mail clients show an unsubscribe button that POSTs.
                "List-Unsubscribe": f"<{unsubscribe}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                "List-Id": f"{settings.STATUSPAGE_NAME} <status.{urlsplit(settings.SITE_URL).hostname or 'localhost'}>",
                "Auto-Submitted": "auto-generated",
                "X-Warroom-Notification": str(row.pk),
            },
        )
        if subject not in self._encoded:
            self._encoded[subject] = _encode_header(subject)
        message.encoded_subject = self._encoded[subject]
        message.attach_alternative(html.replace(self.placeholder, sub.token), "text/html")
        return message

    def _render(self, key, payload, language):
        kind = payload.get("type", "update")
        cache_key = (key, kind, language if kind == "update" else "")
        if cache_key not in self._rendered:
            self._rendered[cache_key] = getattr(self, f"_render_{kind}")(payload, language)
        return self._rendered[cache_key]

    def _links(self):
        token = self.placeholder
        return {
            "unsubscribe_url": unsubscribe_url(token),
            "manage_url": manage_url(token),
            "confirm_url": confirm_url(token),
        }

    def _render_update(self, payload, language):
        incident, page = payload["incident"], payload["page"]
        update = incident["incident_updates"][0]  # the payload's incident starts at its update
        translations = payload.get("translations") or {}
        body = translations.get(language) or translations.get((language or "").split("-")[0]) or update["body"]
        status = STATUS_LABELS.get(update["status"], update["status"].title())
        context = {
            "page": page,
            "incident": incident,
            "update": update,
            "status_label": status,
            "body": body,
            "body_html": render_markdown(body),
            "affected": [
                {"name": c["name"], "level": _level_label(c["new_status"])}
                for c in update.get("affected_components") or []
            ],
            "posted": _posted(update.get("created_at")),
            **self._links(),
        }
        # One line: a title is user text, and a header must not break.
        subject = " ".join(f"[{page['name']}] {incident['name']} — {status}".split())
        text = render_to_string("statuspage/email/update.txt", context)
        html = render_to_string("statuspage/email/update.html", context)
        return subject, text, html

    def _render_confirm(self, payload, language):
        context = {"page_name": settings.STATUSPAGE_NAME, "page_url": absolute("/status/"), **self._links()}
        subject = f"[{settings.STATUSPAGE_NAME}] Confirm your subscription"
        text = render_to_string("statuspage/email/confirm.txt", context)
        html = render_to_string("statuspage/email/confirm.html", context)
        return subject, text, html

    def _render_manage(self, payload, language):
        context = {"page_name": settings.STATUSPAGE_NAME, "page_url": absolute("/status/"), **self._links()}
        subject = f"[{settings.STATUSPAGE_NAME}] Your subscription"
        text = render_to_string("statuspage/email/manage.txt", context)
        html = render_to_string("statuspage/email/manage.html", context)
        return subject, text, html


# Webhooks ----------------------------------------------------------------------------------


def webhook_body(row):
    """The JSON a webhook subscriber receives: Statuspage's webhook shape (meta, page,
    incident), so receivers written for Statuspage read it unchanged."""
    payload = row.payload
    status = payload.get("status") or {}
    data = {
        "meta": {
            "unsubscribe": unsubscribe_url(row.subscriber.token),
            "documentation": absolute("/status/"),
            "generated_at": timezone.now().isoformat(timespec="seconds"),
            "delivery_id": str(row.pk),
        },
        "page": {
            "id": payload["page"]["id"],
            "status_indicator": status.get("indicator", "none"),
            "status_description": status.get("description", ""),
        },
    }
    if "incident" in payload:
        data["incident"] = payload["incident"]
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


class WebhookTransport:
    def send(self, row):
        sub = row.subscriber
        body = webhook_body(row)
        outcome = webhooks.post(
            sub.webhook_url,
            body,
            webhooks.signed_headers(sub.secret, body, row.pk),
            timeout=WEBHOOK_TIMEOUT,
            allow_private=private_webhooks_allowed(),
        )
        if isinstance(outcome, webhooks.Permanent):
            return _unsubscribing(outcome)
        return outcome


def _unsubscribing(outcome):
    if outcome.gone:
        return Permanent("HTTP 410 Gone: the receiver asked to stop; unsubscribed.", unsubscribe=True)
    return Permanent(str(outcome))


def classify_status(code):
    """None (delivered), Transient or Permanent for an HTTP status code."""
    outcome = webhooks.classify_status(code)
    return _unsubscribing(outcome) if isinstance(outcome, webhooks.Permanent) else outcome
