"""Models of the reminders wing: the reminder ledger, snoozes, preferences, the inbox,
incident webhooks and reminder deliveries.

They keep the `incidents` app label (the app that contains this module), so their tables
and migrations stay where they are; incidents/models.py imports them so Django finds them."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from incidents import timeline_text
from incidents.models import Incident

User = settings.AUTH_USER_MODEL


class ReminderLedger(models.Model):
    """One reminder sent about one thing on an incident in one window. The sweep inserts a row
    before it writes any notification, and the unique constraint makes a reminder go out once
    per window however often (or however many at once) the sweep runs.

    `key` names what the reminder is about ("update", "update.escalate", "step:12",
    "clock:3:initial.half"...); `window` names the occurrence (e.g. the time of the update it
    counts from), so a new public update opens a new window; `repeat` numbers repeated
    reminders of one window (the unacknowledged-incident page goes out at most six times)."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="reminders_sent")
    key = models.CharField(max_length=120)
    window = models.CharField(max_length=120)
    repeat = models.PositiveSmallIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["incident", "created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "key", "window"], name="reminder_once_per_window"),
        ]

    def __str__(self):
        return f"{self.key} [{self.window}] on {self.incident.reference}"


class Snooze(models.Model):
    """Hold back one reminder of an incident (and its escalation) until a time. Logged on the
    timeline; when it ends, a reminder that is still due goes out again."""

    # Up to a day: a long-running incident's reminder may sensibly wait overnight.
    MINUTES = (15, 30, 60, 120, 240, 480, 1440)

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="snoozes")
    key = models.CharField(max_length=120, help_text='The reminder\'s subject, e.g. "update" or "step:12"')
    until = models.DateTimeField()
    reason = models.TextField()
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["incident", "-until", "id"]
        indexes = [
            # The sweep: snoozes of the incidents it looks at, latest first.
            models.Index(fields=["incident", "key", "-until"], name="snooze_incident_key"),
        ]

    def __str__(self):
        return f"{self.key} on {self.incident.reference} until {self.until:%Y-%m-%d %H:%M}"


class NotificationPreference(models.Model):
    """How a person wants to hear about reminders. The in-app inbox always gets them; without
    a row, e-mail is on (when the account has an address)."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="notification_preference")
    email = models.BooleanField(default=True, help_text="Also send reminders by e-mail")
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"Notification preferences of {self.user}"


def new_webhook_secret():
    import secrets  # here rather than at the top: this block of the module is self-contained

    return secrets.token_hex(32)


class IncidentWebhook(models.Model):
    """A chat channel or endpoint that hears an incident's reminders. Without an incident it
    is a global target: it hears every incident's reminders except confidential ones, whose
    reminders go only to that incident's own targets."""

    class Format(models.TextChoices):
        SLACK = "slack", "Slack incoming webhook"
        TEAMS = "teams", "Microsoft Teams incoming webhook"
        GENERIC = "generic", "Generic JSON, signed (HMAC-SHA256)"

    incident = models.ForeignKey(
        Incident, null=True, blank=True, on_delete=models.CASCADE, related_name="webhooks", help_text="Empty: global"
    )
    name = models.CharField(max_length=120, blank=True)
    url = models.URLField(max_length=500)
    format = models.CharField(max_length=10, choices=Format.choices, default=Format.GENERIC)
    secret = models.CharField(max_length=64, default=new_webhook_secret, help_text="HMAC key of the signature headers")
    active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["incident", "name", "id"]

    def __str__(self):
        return self.name or self.url


class UserNotification(models.Model):
    """One message to one person: their in-app inbox entry and the outbox row its e-mail is
    delivered from. Written in the same transaction as its cause; `key` is unique per person,
    so the same reminder window never reaches anyone twice."""

    class Kind(models.TextChoices):
        UPDATE_DUE = "update_due", _("Public update due")
        UPDATE_OVERDUE = "update_overdue", _("Public update overdue")
        UNACKNOWLEDGED = "unacknowledged", _("Incident not acknowledged")
        STEP_OVERDUE = "step_overdue", _("Runbook step overdue")
        STEP_ESCALATED = "step_escalated", _("Runbook step still overdue")
        MITIGATION_REVIEW = "mitigation_review", _("Mitigation review due")
        REGULATORY = "regulatory", _("Regulatory deadline")
        REVIEW_DUE = "review_due", _("Post-incident review due")
        ACTION_ITEM_DUE = "action_item_due", _("Follow-up action item due")
        SIGNIN_LOCKOUT = "signin_lockout", _("Sign-in paused after failed attempts")
        APPROVAL_REQUESTED = "approval_requested", _("Communication awaiting approval")
        OTHER = "other", _("Other")

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    incident = models.ForeignKey(
        Incident, null=True, blank=True, on_delete=models.CASCADE, related_name="user_notifications"
    )
    kind = models.CharField(max_length=30, choices=Kind.choices, default=Kind.OTHER)
    key = models.CharField(max_length=200, help_text="What it is about and which window; unique per person")
    subject = models.CharField(max_length=120, blank=True, help_text="The reminder it came from, for snoozing")
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
    # Title and body as timeline lines ({"title": {"msg", "params"}, "body": ...}, see
    # incidents/timeline_text.py): the inbox and the e-mail show them in the reader's language
    # (incidents/languages.py); title and body keep the site's language for webhooks and the
    # API. Empty: shown as stored.
    line = models.JSONField(default=dict, blank=True, editable=False)
    url = models.CharField(max_length=500, help_text="Absolute link to what it is about")
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["user", "-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="user_notification_once"),
        ]
        indexes = [
            # The inbox: a person's notifications, newest first.
            models.Index(fields=["user", "-created_at", "-id"], name="user_notification_inbox"),
            # The header's count: unread notifications of a person.
            models.Index(fields=["user"], name="user_notification_unread", condition=Q(read_at__isnull=True)),
        ]

    def __str__(self):
        return f"{self.title} to {self.user}"

    @property
    def shown_title(self):
        """The title in the active language (the inbox's reader's)."""
        return timeline_text.render((self.line or {}).get("title")) or self.title

    @property
    def shown_body(self):
        return timeline_text.render((self.line or {}).get("body")) or self.body


class NotificationDelivery(models.Model):
    """Outbox row of one channel: the e-mail of a user notification, or one reminder to one
    webhook target. Claimed with a conditional UPDATE before sending; records attempts and the
    last error; retried with backoff on transient errors."""

    class Channel(models.TextChoices):
        EMAIL = "email", "E-mail"
        WEBHOOK = "webhook", "Webhook"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    channel = models.CharField(max_length=10, choices=Channel.choices)
    notification = models.ForeignKey(
        UserNotification, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    webhook = models.ForeignKey(
        IncidentWebhook, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    incident = models.ForeignKey(Incident, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    payload = models.JSONField(default=dict, blank=True, help_text="What a webhook is sent (title, body, url...)")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "notification deliveries"
        constraints = [
            models.CheckConstraint(
                condition=Q(channel="email", notification__isnull=False, webhook__isnull=True)
                | Q(channel="webhook", webhook__isnull=False, notification__isnull=True),
                name="delivery_channel_target",
            ),
            models.UniqueConstraint(
                fields=["notification"], condition=Q(notification__isnull=False), name="delivery_one_email"
            ),
            models.UniqueConstraint(
                fields=["webhook", "key"], condition=Q(webhook__isnull=False), name="delivery_once_per_webhook"
            ),
        ]
        indexes = [
            # The sweep's re-enqueue: "pending deliveries due before now - grace".
            models.Index(fields=["next_attempt_at"], name="delivery_due", condition=Q(status="pending")),
            # The sweep's hand-back: "sending rows whose claim deadline passed" (a worker died).
            models.Index(fields=["next_attempt_at"], name="delivery_stuck", condition=Q(status="sending")),
        ]

    def __str__(self):
        return f"{self.get_channel_display()} {self.key} ({self.status})"
