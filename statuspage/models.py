import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from incidents.models import Communication, Service

User = settings.AUTH_USER_MODEL


def public_id():
    """Statuspage-style ids: 12 lowercase alphanumerics."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(12))


class StatusPage(models.Model):
    """One status page: its own name, logo, language, components, host name and path, and who
    may see it. The default page (exactly one) is the one under /status/ that existed before
    there were several; the others live under /status/p/<slug>/ and, with a host name, at
    /status/ of that host (statuspage/pages.py resolves a request to its page)."""

    class Visibility(models.TextChoices):
        PUBLIC = "public", _("Public")
        PRIVATE = "private", _("Private")

    name = models.CharField(max_length=200, blank=True, help_text="Empty: STATUSPAGE_NAME")
    slug = models.SlugField(max_length=60, unique=True, help_text="Path: /status/p/<slug>/")
    host = models.CharField(
        max_length=253, null=True, blank=True, unique=True, help_text="Served at /status/ of this host name too"
    )
    logo_url = models.CharField(
        max_length=300, blank=True, help_text="A path on this site, e.g. /static/brand/logo.png (CSP: same origin)"
    )
    language = models.CharField(max_length=15, blank=True, help_text="Language of a visitor who asks for none")
    is_default = models.BooleanField(default=False, editable=False)
    all_components = models.BooleanField(default=False, help_text="Every public component, now and later")
    services = models.ManyToManyField(Service, blank=True, related_name="status_pages")
    groups = models.JSONField(default=list, blank=True, help_text="Component groups shown; later components included")
    visibility = models.CharField(max_length=10, choices=Visibility.choices, default=Visibility.PUBLIC)
    allowed_groups = models.ManyToManyField(
        "auth.Group", blank=True, related_name="+", help_text="Private: members of these groups may see it"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-is_default", "name"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=Q(is_default=True), name="one_default_page"),
        ]

    def __str__(self):
        return self.name

    @property
    def is_private(self):
        return self.visibility == self.Visibility.PRIVATE

    @cached_property
    def service_ids(self):
        return frozenset(s.pk for s in self.services.all())

    @cached_property
    def group_names(self):
        return frozenset(self.groups or ())


def hash_access_token(token):
    return hashlib.sha256(token.encode()).hexdigest()


class PageAccessLink(models.Model):
    """A revocable link that lets whoever holds it see a private page (e.g. one per enterprise
    customer). Only a hash of its token is stored; the token is shown once, when it is made."""

    page = models.ForeignKey(StatusPage, on_delete=models.CASCADE, related_name="access_links")
    label = models.CharField(max_length=200)
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return self.label

    @property
    def is_active(self):
        return self.revoked_at is None


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


def default_page_pk():
    from .pages import default_page

    return default_page().pk


class Subscriber(models.Model):
    class Kind(models.TextChoices):
        EMAIL = "email", "E-mail"
        WEBHOOK = "webhook", "Webhook"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    # The default page unless given; null only between migrations.
    page = models.ForeignKey(
        StatusPage, null=True, default=default_page_pk, on_delete=models.CASCADE, related_name="subscribers"
    )
    # On a private page: who made it allowed (a signed-in member, or an access link); checked
    # again on every update, so a revoked link or a lost group stops the messages.
    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    access_link = models.ForeignKey(
        PageAccessLink, null=True, blank=True, on_delete=models.CASCADE, related_name="subscribers"
    )
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
                fields=["page", "email"],
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
