import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from incidents.models import Communication, Service

User = settings.AUTH_USER_MODEL


def public_id():
    """Statuspage-style ids: 12 lowercase alphanumerics."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(12))


class Maintenance(models.Model):
    """Scheduled maintenance. Its status follows the clock: scheduled before the window, in
    progress during it, verifying for a short while after, then completed."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", _("Scheduled")
        IN_PROGRESS = "in_progress", _("In progress")
        VERIFYING = "verifying", _("Verifying")
        COMPLETED = "completed", _("Completed")

    public_id = models.CharField(max_length=12, unique=True, default=public_id, editable=False)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True, help_text="Markdown: what changes for users")
    services = models.ManyToManyField(Service, related_name="maintenances")
    scheduled_for = models.DateTimeField()
    scheduled_until = models.DateTimeField()
    verify_minutes = models.PositiveIntegerField(default=15)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.SCHEDULED)
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    cancelled = models.BooleanField(default=False)

    class Meta:
        ordering = ["-scheduled_for"]
        constraints = [
            models.CheckConstraint(
                condition=Q(scheduled_until__gt=models.F("scheduled_for")), name="maintenance_window_positive"
            ),
        ]

    def __str__(self):
        return self.title

    def status_at(self, now=None):
        now = now or timezone.now()
        if now < self.scheduled_for:
            return self.Status.SCHEDULED
        if now < self.scheduled_until:
            return self.Status.IN_PROGRESS
        if now < self.scheduled_until + timedelta(minutes=self.verify_minutes):
            return self.Status.VERIFYING
        return self.Status.COMPLETED


class PublicIncident(models.Model):
    """The status page's stable public id for an incident (never the internal primary key)."""

    incident = models.OneToOneField("incidents.Incident", on_delete=models.CASCADE, related_name="public")
    public_id = models.CharField(max_length=12, unique=True, default=public_id)

    def __str__(self):
        return self.public_id


class PublicUpdate(models.Model):
    """A published status-page communication as the public sees it: a stable public id."""

    communication = models.OneToOneField(Communication, on_delete=models.CASCADE, related_name="public")
    public_id = models.CharField(max_length=12, unique=True, default=public_id)

    def __str__(self):
        return self.public_id


class PublicComponent(models.Model):
    service = models.OneToOneField(Service, on_delete=models.CASCADE, related_name="public_component")
    public_id = models.CharField(max_length=12, unique=True, default=public_id)

    def __str__(self):
        return self.public_id


class Subscriber(models.Model):
    class Kind(models.TextChoices):
        EMAIL = "email", "E-mail"
        WEBHOOK = "webhook", "Webhook"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    email = models.EmailField(blank=True)
    webhook_url = models.URLField(blank=True, max_length=500)
    secret = models.CharField(
        max_length=64, default=secrets.token_hex, editable=False, help_text="HMAC key for webhooks"
    )
    token = models.CharField(max_length=43, unique=True, default=secrets.token_urlsafe, editable=False)
    all_components = models.BooleanField(default=True)
    components = models.ManyToManyField(Service, blank=True, related_name="+")
    groups = models.JSONField(default=list, blank=True, help_text="Component groups; later components included")
    language = models.CharField(max_length=15, default="en")
    confirmed_at = models.DateTimeField(null=True, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["email"],
                condition=Q(kind="email", unsubscribed_at__isnull=True),
                name="subscriber_email_unique",
            ),
        ]
        indexes = [
            # Fan-out: active, confirmed subscribers.
            models.Index(
                fields=["kind", "id"],
                name="subscriber_active",
                condition=Q(confirmed_at__isnull=False, unsubscribed_at__isnull=True),
            ),
        ]

    def __str__(self):
        return self.email or self.webhook_url

    @property
    def is_active(self):
        return self.confirmed_at is not None and self.unsubscribed_at is None

    def follows(self, service_ids, groups):
        """Does this subscriber follow any of these services (ids) or groups?"""
        if self.all_components:
            return True
        mine = {s.pk for s in self.components.all()}
        return bool(mine & set(service_ids)) or bool(set(self.groups) & set(groups))


class Notification(models.Model):
    """Outbox row: one message to one subscriber about one update, written before sending."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    subscriber = models.ForeignKey(Subscriber, on_delete=models.CASCADE, related_name="notifications")
    key = models.CharField(max_length=100, help_text="What it is about, e.g. update:<id>; unique per subscriber")
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subscriber", "key"], name="notification_once_per_subscriber"),
        ]
        indexes = [
            # The sweep: pending notifications that are due.
            models.Index(fields=["next_attempt_at"], name="notification_due", condition=Q(status="pending")),
            # The sweep: rows stuck in "sending" (a worker died mid-delivery).
            models.Index(fields=["next_attempt_at"], name="notification_stuck", condition=Q(status="sending")),
        ]

    def __str__(self):
        return f"{self.key} to {self.subscriber}"
