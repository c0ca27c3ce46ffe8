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

A new webhook subscriber first gets one verification request, {"type": "verification",
"challenge": ...}, and is confirmed only when the answer echoes the challenge
(`WebhookTransport.verify`); nothing else is sent to an unconfirmed webhook.

Delivery is at least once: a worker killed after the receiver answered but before the row
was marked sent will send again, with the same X-Warroom-Delivery.
"""

import json
import logging
import secrets
from datetime import UTC, datetime
from email.header import Header
from urllib.parse import urlsplit

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext, gettext_lazy

from incidents import outbox, webhooks
from incidents.markup import render_markdown
from incidents.models import Communication, Impact

# The mechanism's limits and result, one set for every outbox; importable from here as before.
from incidents.outbox import BACKOFF_CAP, MAX_ATTEMPTS, SENDING_TIMEOUT, Result  # noqa: F401

# Signing, the address check and the outcomes are shared with incident webhooks; these names
# stay importable from here (receivers and tests use statuspage.delivery.verify_signature).
from incidents.webhooks import SIGNATURE_TOLERANCE, AddressError, Transient, sign, verify_signature  # noqa: F401

from . import subscriptions
from .models import Notification, Subscriber

log = logging.getLogger(__name__)

WEBHOOK_TIMEOUT = 10  # seconds, for connect and for each read
EMAIL_BATCH = 500  # e-mails per delivery task (one mail connection each)
WEBHOOK_BATCH = 10  # webhook calls per delivery task (each may take the 10 s timeout)

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


# Claiming, sending, recording (incidents/outbox.py) -------------------------------------------


class SubscriberOutbox(outbox.Outbox):
    model = Notification
    task = "statuspage.tasks.deliver"
    retry_base_setting = "STATUSPAGE_RETRY_BASE_SECONDS"
    group_by = "subscriber__kind"
    batches = {Subscriber.Kind.EMAIL: EMAIL_BATCH, Subscriber.Kind.WEBHOOK: WEBHOOK_BATCH}

    def load(self, ids):
        """The claimed rows with their subscribers. Rows about the same thing (key) carry the
        same payload, so it is read once per key, not once per row."""
        rows = list(
            Notification.objects.filter(pk__in=ids)
            .select_related("subscriber__page", "subscriber__user", "subscriber__access_link")
            .defer("payload")
            .order_by("pk")
        )
        first = {}
        for row in rows:
            first.setdefault(row.key, row.pk)
        payloads = dict(Notification.objects.filter(pk__in=first.values()).values_list("key", "payload"))
        for row in rows:
            row.payload = payloads[row.key]
        return rows

    def send(self, rows, outcomes):
        withdrawn = _withdrawn_communications(rows)
        # A private page's subscriber is told only while what let it in still does (its access
        # link not revoked, its user still allowed), checked again here: a link revoked, or a
        # page made private, after the rows were written stops them. One check for the batch.
        allowed = subscriptions.allowed_to_see_their_pages([row.subscriber for row in rows])
        emails, hooks = [], []
        for row in rows:
            sub = row.subscriber
            if sub.unsubscribed_at is not None:
                outcomes[row.pk] = Permanent("Unsubscribed before delivery.")
            elif row.payload.get("communication") in withdrawn:
                outcomes[row.pk] = Permanent("The incident is no longer public.")
            elif sub.pk not in allowed:
                outcomes[row.pk] = Permanent("The subscriber may no longer see this private status page.")
            elif sub.kind == Subscriber.Kind.EMAIL:
                emails.append(row)
            elif sub.confirmed_at is None and row.payload.get("type") != "verification":
                # Fan-out only writes rows for confirmed subscribers; this keeps it so whatever
                # wrote the row: an unverified URL may be a stranger's.
                outcomes[row.pk] = Permanent("The webhook has not answered its verification request.")
            else:
                hooks.append(row)
        if emails:
            EmailTransport().send_batch(emails, outcomes)
        for row in hooks:
            transport = WebhookTransport()
            outcomes[row.pk] = (
                transport.verify(row) if row.payload.get("type") == "verification" else transport.send(row)
            )

    def flush_size(self, rows):
        # A mail batch (500 over one connection) records every 50 messages or second: a killed
        # worker re-sends at most that, and 100,000 e-mails do not cost 100,000 UPDATEs.
        return MAIL_FLUSH_EVERY if all(row.subscriber.kind == Subscriber.Kind.EMAIL for row in rows) else 1

    def after_failure(self, row, outcome, error, now):
        if getattr(outcome, "gone", False):
            Subscriber.objects.filter(pk=row.subscriber_id, unsubscribed_at__isnull=True).update(unsubscribed_at=now)


MAIL_FLUSH_EVERY = 50

OUTBOX = SubscriberOutbox()
backoff = OUTBOX.backoff
claim = OUTBOX.claim
deliver = OUTBOX.deliver


def _withdrawn_communications(rows):
    """Communications whose incident became confidential after the rows were written: their
    pending notifications are never sent (the payload is a snapshot taken at publication)."""
    pks = {row.payload.get("communication") for row in rows} - {None}
    if not pks:
        return set()
    return set(Communication.objects.filter(pk__in=pks, incident__confidential=True).values_list("pk", flat=True))


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

STATUS_LABELS = dict(Communication.PublicStatus.choices) | {"postmortem": gettext_lazy("Postmortem")}


def list_id(page):
    """RFC 2919 List-Id of a page's subscriber e-mails: the page's name, and an id of its own
    (status.<site host> for the default page, <slug>.status.<site host> for the others), so mail
    clients file each page's messages apart."""
    host = urlsplit(settings.SITE_URL).hostname or "localhost"
    if page is None or page.is_default:
        name, label = (page.name if page else "") or settings.STATUSPAGE_NAME, f"status.{host}"
    else:
        name, label = page.name or settings.STATUSPAGE_NAME, f"{page.slug}.status.{host}"
    name = " ".join(name.replace('"', "").replace("\\", "").split())
    try:
        name.encode("ascii")
    except UnicodeEncodeError:
        # RFC 2047 words for the name only (the id stays readable), on one line: Django refuses
        # a header with line breaks, and would otherwise encode the whole value.
        return f"{Header(name, 'utf-8').encode(linesep='')} <{label}>"
    return f'"{name}" <{label}>'


def _level_label(level):
    return level.replace("_", " ")


def _shown_level(level):
    """A component level in the reader's language ("Partial outage", "部分中断")."""
    return str(Impact.Level(level).label) if level in Impact.Level.values else _level_label(level)


def _email_language(language):
    """The language of an e-mail's own words for a subscriber's language: one the catalogs
    have (Simplified Chinese for zh, zh-CN...), else the site's."""
    try:
        return translation.get_supported_language_variant(language or settings.LANGUAGE_CODE)
    except LookupError:
        return settings.LANGUAGE_CODE


def _posted(iso_time):
    try:
        moment = datetime.fromisoformat(iso_time).astimezone(UTC)
    except (TypeError, ValueError):
        return ""
    return moment.strftime("%Y-%m-%d %H:%M UTC")


# PreparedEmail and the header encoding live with the outbox's e-mail sending (incidents/outbox.py),
# shared with the messages of the comms wing; importable from here as before.
_encode_header = outbox.encode_header
PreparedEmail = outbox.PreparedEmail


class EmailTransport:
    """One connection per batch; each message rendered once per batch and language with a
    placeholder where the subscriber's token goes, so 100,000 messages are not 100,000
    template renders."""

    def __init__(self):
        self.placeholder = "tok" + secrets.token_hex(12)
        self._rendered = {}
        self._encoded = {}
        self._unsubscribe_url = unsubscribe_url(self.placeholder)

    def send_batch(self, rows, outcomes=None):
        """Send the rows over one connection (incidents.outbox.send_emails); returns their
        outcomes, also put in `outcomes` when given."""
        outcomes = {} if outcomes is None else outcomes
        messages = []
        for row in rows:
            try:
                messages.append((row.pk, self.message(row)))
            except Exception as exc:  # one message that cannot be built fails alone
                log.exception("Building e-mail notification %s failed", row.pk)
                outcomes[row.pk] = Transient(f"Could not build the message: {exc}")
        return outbox.send_emails(messages, outcomes)

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
                "List-Id": list_id(sub.page),
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
        cache_key = (key, kind, language)
        if cache_key not in self._rendered:
            with translation.override(_email_language(language)):
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
        names = payload.get("names") or {}
        name = names.get(language) or names.get((language or "").split("-")[0]) or incident["name"]
        incident = {**incident, "name": name}  # the public title in the subscriber's language
        status = str(STATUS_LABELS.get(update["status"], update["status"].title()))
        context = {
            "page": page,
            "incident": incident,
            "update": update,
            "status_label": status,
            "body": body,
            "body_html": render_markdown(body),
            "affected": [
                {"name": c["name"], "level": _shown_level(c["new_status"])}
                for c in update.get("affected_components") or []
            ],
            "posted": _posted(update.get("created_at")),
            **self._links(),
        }
        # One line: a title is user text, and a header must not break.
        subject = " ".join(f"[{page['name']}] {incident['name']} — {status}".split())
        return (subject, *self._templates("update", context))

    def _render_confirm(self, payload, language):
        context = self._subscription_context(payload)
        subject = " ".join(f"[{context['page_name']}] {gettext('Confirm your subscription')}".split())
        return (subject, *self._templates("confirm", context))

    def _render_manage(self, payload, language):
        context = self._subscription_context(payload)
        subject = " ".join(f"[{context['page_name']}] {gettext('Your subscription')}".split())
        return (subject, *self._templates("manage", context))

    def _subscription_context(self, payload):
        """The page subscribed to: another page's name and address travel in the payload (its
        rows' key names the page, statuspage.subscriptions); the default page's as before."""
        page = payload.get("page") or {"name": settings.STATUSPAGE_NAME, "url": absolute("/status/")}
        return {"page_name": page["name"], "page_url": page["url"], **self._links()}

    def _templates(self, name, context):
        """The text and HTML bodies of templates/statuspage/email/<name>.txt and .html."""
        return (
            render_to_string(f"statuspage/email/{name}.txt", context),
            render_to_string(f"statuspage/email/{name}.html", context),
        )


# Webhooks ----------------------------------------------------------------------------------


def _meta(row):
    return {
        "unsubscribe": unsubscribe_url(row.subscriber.token),
        "documentation": absolute("/status/"),
        "generated_at": timezone.now().isoformat(timespec="seconds"),
        "delivery_id": str(row.pk),
    }


def verification_body(row):
    """The one request a new webhook gets before anything else: the endpoint proves it wants
    our messages by answering 2xx with the challenge."""
    data = {"type": "verification", "challenge": row.payload["challenge"], "meta": _meta(row)}
    return json.dumps(data, separators=(",", ":")).encode()


def echoes(answer, challenge):
    """Does the answer's body (bytes) carry the challenge: as the whole body (plain text), or
    as {"challenge": ...} (JSON)?"""
    text = answer.decode("utf-8", "replace").strip()
    if text == challenge:
        return True
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return isinstance(data, dict) and data.get("challenge") == challenge


def webhook_body(row):
    """The JSON a webhook subscriber receives: Statuspage's webhook shape (meta, page,
    incident), so receivers written for Statuspage read it unchanged."""
    payload = row.payload
    status = payload.get("status") or {}
    data = {
        "meta": _meta(row),
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

    def verify(self, row):
        """Send the verification request; the subscriber is confirmed when the answer echoes
        the challenge. Any other answer is a failed try, retried like a transient error (the
        receiver may be deployed later); after the last one the webhook stays unconfirmed."""
        sub = row.subscriber
        body = verification_body(row)
        outcome, answer = webhooks.exchange(
            sub.webhook_url,
            body,
            webhooks.signed_headers(sub.secret, body, row.pk),
            timeout=WEBHOOK_TIMEOUT,
            allow_private=private_webhooks_allowed(),
        )
        if isinstance(outcome, webhooks.Permanent):
            return _unsubscribing(outcome)
        if outcome is not None:
            return outcome
        if not echoes(answer, row.payload["challenge"]):
            return Transient("The answer to the verification request did not echo the challenge.")
        subscriptions.verified(sub)
        return None


def _unsubscribing(outcome):
    if outcome.gone:
        return Permanent("HTTP 410 Gone: the receiver asked to stop; unsubscribed.", unsubscribe=True)
    return Permanent(str(outcome))


def classify_status(code):
    """None (delivered), Transient or Permanent for an HTTP status code."""
    outcome = webhooks.classify_status(code)
    return _unsubscribing(outcome) if isinstance(outcome, webhooks.Permanent) else outcome
