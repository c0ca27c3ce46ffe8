"""The one delivery mechanism: an outbox table whose rows are written before anything is sent,
then claimed, sent and recorded. Reminder deliveries (incidents/reminders/delivery.py) and
status-page subscriber notifications (statuspage/delivery.py) each keep their own table,
transports and Celery task, and share this.

An outbox table has the columns `status` (pending, sending, sent, failed), `attempts`,
`last_error`, `next_attempt_at` and `sent_at`, and a partial index on `next_attempt_at` for
pending rows (the sweep's re-enqueue). A row moves like this:

- pending and due -> sending: `claim` marks it with one conditional UPDATE ... RETURNING, so
  two workers (a retried task, the sweep's re-enqueue, a redelivered broker message) never
  send the same row. The claim counts the attempt and gives the worker a lease: it stores in
  `next_attempt_at` the time after which the row counts as abandoned (LEASE from now).
- sending -> sent as soon as it is sent (`Progress`: at once for webhooks, every few e-mails or
  every second for a mail batch), while the worker renews the lease of the rows it has still to
  send; at the end of the batch, pending again with exponential backoff (a transient error) or
  failed (a permanent error, or the last attempt): `record`.
- sending past its lease (the worker died) -> pending again and due at once, or failed when it
  has had all its attempts (a row that kills its worker every time must not come back
  forever): `release_stuck`, called by the side's periodic sweep every 30 s, which then
  enqueues it. A dead worker's batch resumes within LEASE + 30 s, and only with the rows it
  had not recorded as sent.
- pending, due a while ago, with no task in the queue (the broker lost it): `requeue_due`
  enqueues it again. The claim makes a duplicate task harmless.

Delivery is at least once: a worker killed after the receiver got the message but before the
row was recorded sends it again (the message in flight; for a mail batch, at most the last
`flush_size` messages or second of them). Each side gives receivers the row id to drop the repeat.
"""

import logging
import smtplib
import sqlite3
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import timedelta
from email.header import Header
from itertools import islice

from django.conf import settings
from django.core import mail
from django.db import connection, transaction
from django.db.models import DateTimeField, F, Value
from django.db.models.functions import Least
from django.utils import timezone
from django.utils.module_loading import import_string

from incidents.webhooks import Permanent, Transient

log = logging.getLogger(__name__)

PENDING, SENDING, SENT, FAILED = "pending", "sending", "sent", "failed"

MAX_ATTEMPTS = 8
BACKOFF_CAP = timedelta(hours=1)
# A row 'sending' whose lease ran out belongs to a worker that died: the sweep hands it back.
# The claim stores the lease's end in next_attempt_at and the worker renews it as it goes (every
# FLUSH_SECONDS at most), so only a dead worker's rows run out. Longer than one message can
# take to send (a webhook's 10 s connect plus 10 s read), short enough that with the sweep
# every 30 s a dead worker's batch resumes within a minute.
SENDING_TIMEOUT = LEASE = timedelta(seconds=25)
FLUSH_SECONDS = 1.0  # a batch records what it sent, and renews its lease, at least this often
# The sweep leaves a pending row alone this long past its due time (its own task is most
# likely still queued); after that it enqueues it again.
SWEEP_GRACE = timedelta(seconds=60)
SWEEP_LIMIT = 20_000  # rows re-enqueued per sweep, so a long outage does not flood the broker
# Ids per claiming UPDATE at most. SQLite refuses a statement with more parameters than its
# limit (999 in older builds, 32766 by default since 3.32, set per build), PostgreSQL more
# than 65535; the connection's own limit lowers this further (_ids_per_statement).
CLAIM_CHUNK = 5000
ERROR_LENGTH = 1000  # characters of an error kept on the row


@dataclass
class Result:
    """What one deliver() call did, by row id; `retry` maps a delay in seconds to the ids due
    again after it (the task schedules those)."""

    claimed: list = field(default_factory=list)
    sent: list = field(default_factory=list)
    failed: list = field(default_factory=list)
    retry: dict = field(default_factory=dict)

    def summary(self):
        return {"sent": len(self.sent), "failed": len(self.failed), "retry": sum(map(len, self.retry.values()))}


def chunks(items, size):
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


def _ids_per_statement(other_params):
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        limit = connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        return max(1, min(CLAIM_CHUNK, limit - other_params))
    return CLAIM_CHUNK


class Outbox(ABC):
    """The delivery of one outbox table. A side subclasses it, names its table, its Celery
    task (a dotted path, so the core imports no side), the setting holding its first retry
    delay, the column its batches are grouped by and the batch size of each group, and
    implements `send`; `load` and `after_failure` are optional."""

    model = None
    task = ""  # dotted path of the Celery task taking a list of row ids
    retry_base_setting = ""  # name of the setting: seconds before the first retry
    group_by = ""  # the rows of a delivery task share this value (a channel, a subscriber's kind)
    batches = {}  # rows per delivery task, by group

    max_attempts = MAX_ATTEMPTS
    # Rows sent per recording UPDATE: 1 records each message as it goes (webhooks, reminders);
    # a side sending large mail batches over one connection may record every few messages.
    flush_every = 1
    backoff_cap = BACKOFF_CAP
    sending_timeout = SENDING_TIMEOUT
    sweep_grace = SWEEP_GRACE
    sweep_limit = SWEEP_LIMIT

    # What a side implements -----------------------------------------------------------------

    def load(self, ids):
        """The claimed rows, with what sending needs."""
        return list(self.model.objects.filter(pk__in=ids).order_by("pk"))

    @abstractmethod
    def send(self, rows, outcomes):
        """Send the rows, putting each one's outcome in `outcomes` as it is known: None (sent),
        Transient or Permanent. Filled in place, so an exception keeps what was sent before."""

    def after_failure(self, row, outcome, error, now):
        """A row failed for good (inside the recording transaction): e.g. disable the target
        that answered 410 Gone. Nothing by default."""
        return None

    # Timing -----------------------------------------------------------------------------------

    def backoff(self, attempts):
        """Delay before the next try after `attempts` tries: base, 2 x base, 4 x base ...
        capped (30 s, 60 s, 120 s ... 1 h with the default settings)."""
        base = getattr(settings, self.retry_base_setting)
        return min(timedelta(seconds=base * 2 ** max(attempts - 1, 0)), self.backoff_cap)

    # Claiming, sending, recording -------------------------------------------------------------

    def claim(self, ids, now=None):
        """Mark the due, pending rows among `ids` as sending; returns the ids this call claimed.
        A row claimed by someone else is not returned, so it is not sent twice.

        Raw SQL for RETURNING (PostgreSQL and SQLite >= 3.35 both have it): an UPDATE followed
        by a SELECT could not tell our rows from those another worker claimed in between. One
        statement per chunk of ids, within the database's parameter limit."""
        ids = sorted({int(i) for i in ids})
        if not ids:
            return []
        now = now or timezone.now()
        qn = connection.ops.quote_name
        adapt = connection.ops.adapt_datetimefield_value
        claimed = []
        for chunk in chunks(ids, _ids_per_statement(other_params=4)):
            marks = ", ".join(["%s"] * len(chunk))
            sql = (
                f"UPDATE {qn(self.model._meta.db_table)} "  # noqa: S608 - names from the model, values are parameters
                "SET status = %s, attempts = attempts + 1, next_attempt_at = %s "
                f"WHERE id IN ({marks}) AND status = %s AND next_attempt_at <= %s RETURNING id"
            )
            params = [SENDING, adapt(now + self.sending_timeout), *chunk, PENDING, adapt(now)]
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, params)
                claimed += [row[0] for row in cursor.fetchall()]
        return sorted(claimed)

    def deliver(self, ids, now=None):
        """Send the rows among `ids` that this call claims. Idempotent: call it as often as you
        like with the same ids."""
        result = Result(claimed=self.claim(ids, now))
        if not result.claimed:
            return result
        rows = self.load(result.claimed)
        outcomes = Progress(self, rows)
        try:
            self.send(rows, outcomes)
        except Exception as exc:
            # A bug must not leave claimed rows 'sending' for the sweep to find ten minutes
            # later: what was not sent is recorded as a failed try, so retries and giving up
            # still apply.
            log.exception("Delivering %s rows %s failed", self.model._meta.label, result.claimed)
            for row in rows:
                outcomes.setdefault(row.pk, Transient(f"{type(exc).__name__}: {exc}"))
        self.record(rows, outcomes, timezone.now(), result)
        return result

    def flush_size(self, rows):
        """Rows sent per recording UPDATE in this batch."""
        return self.flush_every

    def record(self, rows, outcomes, now, result):
        """Record each row's outcome (None: sent; Transient: pending again after the backoff,
        or failed after the last attempt; Permanent: failed). Only rows still 'sending' are
        touched: one the sweep handed back meanwhile is someone else's now."""
        sent = [row.pk for row in rows if outcomes[row.pk] is None]
        mine = self.model.objects.filter(status=SENDING)
        with transaction.atomic():
            if sent:
                mine.filter(pk__in=sent).update(status=SENT, sent_at=now, last_error="")
                result.sent += sent
            for row in rows:
                outcome = outcomes[row.pk]
                if outcome is None:
                    continue
                error = str(outcome)[:ERROR_LENGTH]
                if isinstance(outcome, Transient) and row.attempts < self.max_attempts:
                    delay = self.backoff(row.attempts)
                    mine.filter(pk=row.pk).update(status=PENDING, next_attempt_at=now + delay, last_error=error)
                    result.retry.setdefault(int(delay.total_seconds()), []).append(row.pk)
                    continue
                if isinstance(outcome, Transient):
                    error = f"Gave up after {row.attempts} attempts: {error}"[:ERROR_LENGTH]
                mine.filter(pk=row.pk).update(status=FAILED, last_error=error)
                result.failed.append(row.pk)
                self.after_failure(row, outcome, error, now)
        return result

    # Queueing ---------------------------------------------------------------------------------

    def enqueue(self, ids_by_group):
        """Queue delivery of these rows ({group: [ids]}) in batches, once the transaction
        commits."""
        task = import_string(self.task)
        for group, ids in ids_by_group.items():
            for chunk in chunks(sorted(ids), self.batches[group]):
                transaction.on_commit(lambda chunk=chunk: task.delay(chunk))

    def retry_later(self, result):
        """For the delivery task: schedule the rows due again after their backoff."""
        task = import_string(self.task)
        for delay, ids in result.retry.items():
            task.apply_async((ids,), countdown=delay)
        return result.summary()

    def _enqueue_rows(self, rows):
        by_group = {}
        for pk, group in rows:
            by_group.setdefault(group, []).append(pk)
        self.enqueue(by_group)
        return sum(len(ids) for ids in by_group.values())

    # The sweep's share ------------------------------------------------------------------------

    def release_stuck(self, now):
        """Rows 'sending' past their deadline belong to a worker that died mid-send: pending
        again, due since they were claimed; failed if they already had all their attempts."""
        stuck = self.model.objects.filter(status=SENDING, next_attempt_at__lte=now)
        given_up = stuck.filter(attempts__gte=self.max_attempts).update(
            status=FAILED,
            last_error=f"Gave up after {self.max_attempts} attempts: the worker sending it stopped each time.",
        )
        # Due since the lease was last renewed, and at least past the sweep's grace, so the
        # same sweep's requeue_due enqueues them at once: no task of theirs is queued any more.
        return given_up + stuck.update(
            status=PENDING,
            next_attempt_at=Least(
                F("next_attempt_at") - self.sending_timeout, Value(now - self.sweep_grace, output_field=DateTimeField())
            ),
            last_error="The worker sending it stopped; sending again.",
        )

    def requeue_due(self, now):
        """Pending rows due a while ago whose task never came (the broker lost it): enqueue
        them again, the longest waiting first, at most `sweep_limit`."""
        due = (
            self.model.objects.filter(status=PENDING, next_attempt_at__lte=now - self.sweep_grace)
            .order_by("next_attempt_at")
            .values_list("pk", self.group_by)[: self.sweep_limit]
        )
        with transaction.atomic():
            return self._enqueue_rows(due)

    def retry_now(self, ids):
        """An operator's "send again": the failed and pending rows among `ids` become due now.
        Returns how many."""
        with transaction.atomic():
            again = self.model.objects.filter(pk__in=list(ids), status__in=(FAILED, PENDING))
            rows = list(again.values_list("pk", self.group_by))
            again.update(status=PENDING, next_attempt_at=timezone.now())
            return self._enqueue_rows(rows)


class Progress(dict):
    """The outcomes of a batch, by row id, as `send` fills them in. A row sent is recorded as
    sent within `flush_size` rows or FLUSH_SECONDS, and the rows still to send get their lease
    renewed at the same moments: a worker killed mid-batch costs the re-send of what was in
    flight (and of the unrecorded tail of a mail batch), and its rows come back once their
    lease lapses, not ten minutes later."""

    def __init__(self, outbox, rows):
        super().__init__()
        self.outbox = outbox
        self.waiting = {row.pk for row in rows}
        self.size = max(1, outbox.flush_size(rows))
        self.unrecorded = []
        self.flushed_at = time.monotonic()

    def __setitem__(self, pk, outcome):
        super().__setitem__(pk, outcome)
        self.waiting.discard(pk)
        if outcome is None:
            self.unrecorded.append(pk)
        if len(self.unrecorded) >= self.size or time.monotonic() - self.flushed_at >= FLUSH_SECONDS:
            self.flush()

    def flush(self):
        now = timezone.now()
        mine = self.outbox.model.objects.filter(status=SENDING)
        if self.unrecorded:
            mine.filter(pk__in=self.unrecorded).update(status=SENT, sent_at=now, last_error="")
            self.unrecorded = []
        if self.waiting:
            mine.filter(pk__in=self.waiting).update(next_attempt_at=now + self.outbox.sending_timeout)
        self.flushed_at = time.monotonic()


# E-mail ------------------------------------------------------------------------------------


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
        # the value is our own encoding of a one-line subject (encode_header), not user text.
        message.replace_header("Subject", self.encoded_subject)
        return message


def encode_header(value, name="Subject"):
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


def send_emails(messages, outcomes):
    """Send (row id, EmailMessage) pairs over one mail connection, putting each outcome in
    `outcomes`. A refused address or a 5xx is permanent; a lost connection leaves this and
    every later message for another try; anything else about one message (a header the mail
    library refuses) fails that message alone and the batch goes on."""
    if not messages:
        return outcomes
    try:
        conn = mail.get_connection(fail_silently=False)
        conn.open()
    except (OSError, smtplib.SMTPException) as exc:
        outcomes.update({pk: Transient(f"Mail server: {exc}") for pk, _ in messages})
        return outcomes
    try:
        for index, (pk, message) in enumerate(messages):
            try:
                conn.send_messages([message])
                outcomes[pk] = None
            except smtplib.SMTPRecipientsRefused as exc:
                outcomes[pk] = Permanent(f"Address refused: {exc.recipients}")
            except smtplib.SMTPResponseException as exc:
                kind = Permanent if 500 <= exc.smtp_code < 600 else Transient
                outcomes[pk] = kind(f"Mail server said {exc.smtp_code}: {exc.smtp_error!r}")
            except (OSError, smtplib.SMTPException) as exc:
                for later, _ in messages[index:]:
                    outcomes[later] = Transient(f"Mail server: {exc}")
                break
            except Exception as exc:
                log.exception("Sending e-mail of outbox row %s failed", pk)
                outcomes[pk] = Transient(f"{type(exc).__name__}: {exc}")
    finally:
        try:
            conn.close()
        except (OSError, smtplib.SMTPException):
            log.warning("Closing the mail connection failed", exc_info=True)
    return outcomes
