"""Alerts from monitoring (docs/alerts.md): the sources that send them, the rules that route
them, each alert as one row per identity (its fingerprint or dedup key), and each delivery as
received. App label `incidents`, like every wing's models."""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from incidents.models import Incident, Service, TimelineEntry

User = settings.AUTH_USER_MODEL


def new_secret():
    return secrets.token_urlsafe(32)


def hash_secret(secret):
    return hashlib.sha256(secret.encode()).hexdigest()


class AlertSource(models.Model):
    """A monitoring system that posts alerts to /api/v1/alerts/<id>/. Only a SHA-256 of its
    secret is stored (shown once, when made or rotated). The signing key, when a signature is
    required, is kept as is: checking an HMAC needs the key itself."""

    class Kind(models.TextChoices):
        ALERTMANAGER = "alertmanager", _("Prometheus Alertmanager")
        GRAFANA = "grafana", _("Grafana alerting")
        GENERIC = "generic", _("Generic JSON")

    name = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    services = models.ManyToManyField(Service, blank=True, related_name="alert_sources")
    owner = models.ForeignKey(
        User,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Incidents this source opens are declared by, and commanded by, this commander",
    )
    paused = models.BooleanField(default=False)
    secret_hash = models.CharField(max_length=64, unique=True)
    secret_prefix = models.CharField(max_length=8)
    require_signature = models.BooleanField(default=False)
    signing_key = models.CharField(max_length=64, blank=True)
    grouping_minutes = models.PositiveIntegerField(
        default=10, help_text="Alerts of a service within this many minutes attach to the same incident"
    )
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    secret_rotated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class AlertRule(models.Model):
    """One routing rule of a source, tried in `position` order; the first that matches wins."""

    class Action(models.TextChoices):
        OPEN = "open", _("Open an incident")
        ATTACH = "attach", _("Attach to the service's open incident")
        RECORD = "record", _("Only record")

    source = models.ForeignKey(AlertSource, on_delete=models.CASCADE, related_name="rules")
    position = models.PositiveIntegerField(default=0)
    name = models.CharField(max_length=120, blank=True)
    matchers = models.JSONField(default=list, blank=True, help_text='e.g. ["service=api", "env=~prod.*"]')
    service = models.ForeignKey(Service, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    severity = models.PositiveSmallIntegerField(
        null=True, blank=True, choices=Incident.Severity.choices, help_text="Empty: from the alert's severity label"
    )
    kind = models.CharField(max_length=20, choices=Incident.Kind.choices, default=Incident.Kind.AVAILABILITY)
    action = models.CharField(max_length=10, choices=Action.choices, default=Action.OPEN)

    class Meta:
        ordering = ["source", "position", "id"]

    def __str__(self):
        return self.name or f"Rule {self.position}"


class AlertDelivery(models.Model):
    """One POST to the ingestion endpoint, stored before it is routed (by a task): the parsed
    alerts, and the answer given, so a retry with the same Idempotency-Key gets it again."""

    source = models.ForeignKey(AlertSource, on_delete=models.CASCADE, related_name="deliveries")
    received_at = models.DateTimeField(default=timezone.now)
    alerts = models.JSONField(default=list, help_text="The payload's alerts, normalised (docs/alerts.md)")
    idempotency_key = models.CharField(max_length=255, blank=True)
    body_hash = models.CharField(max_length=64)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "alert deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["source", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="alert_delivery_idempotency_key",
            )
        ]
        indexes = [
            # The sweep: "deliveries not processed yet".
            models.Index(fields=["received_at"], condition=Q(processed_at__isnull=True), name="alert_delivery_pending"),
        ]

    def __str__(self):
        return f"Delivery {self.pk} from {self.source_id}"


class AlertQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Alerts of incidents the user may see; alerts on no incident to everyone with a
        global role (access.can_see_alerts)."""
        from incidents import access

        if not access.can_see_alerts(user):
            return self.none()
        return self.filter(Q(incident__isnull=True) | Q(incident__in=Incident.objects.visible_to(user)))


class Alert(models.Model):
    """One alert of a source, by its identity (Alertmanager's or Grafana's fingerprint, the
    generic format's dedup_key): every delivery about it updates this row."""

    class Status(models.TextChoices):
        FIRING = "firing", _("Firing")
        RESOLVED = "resolved", _("Resolved")

    source = models.ForeignKey(AlertSource, on_delete=models.CASCADE, related_name="alerts")
    fingerprint = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices)
    title = models.CharField(max_length=300)
    labels = models.JSONField(default=dict)
    annotations = models.JSONField(default=dict)
    url = models.URLField(max_length=2000, blank=True, help_text="Link back to the alert in the monitoring system")
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    last_fired = models.DateTimeField(null=True, blank=True)
    rule = models.ForeignKey(AlertRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    routed = models.BooleanField(default=False, help_text="A rule matched")
    service = models.ForeignKey(Service, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    severity = models.PositiveSmallIntegerField(choices=Incident.Severity.choices, default=Incident.Severity.SEV3)
    incident = models.ForeignKey(Incident, null=True, blank=True, on_delete=models.SET_NULL, related_name="alerts")
    # Firing -> resolved -> firing again counts; the timeline shows them on one line (`entry`).
    fired_count = models.PositiveIntegerField(default=0)
    resolved_count = models.PositiveIntegerField(default=0)
    entry = models.ForeignKey(TimelineEntry, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    note = models.CharField(max_length=300, blank=True, help_text="Why routing left it alone")
    # Deliveries are applied in order: a late retry of an older one changes nothing.
    last_delivery = models.PositiveBigIntegerField(default=0)

    objects = AlertQuerySet.as_manager()

    class Meta:
        ordering = ["-last_seen", "-id"]
        constraints = [
            # Concurrent deliveries of one alert update one row, never make two.
            models.UniqueConstraint(fields=["source", "fingerprint"], name="alert_unique_fingerprint"),
        ]
        indexes = [
            # The alert list, newest first, and the triage list.
            models.Index(fields=["-last_seen", "-id"], name="alert_last_seen"),
            # Grouping: "a firing alert of this service on an open incident, lately".
            models.Index(fields=["service", "last_fired"], name="alert_service_fired"),
        ]

    def __str__(self):
        return f"{self.title} ({self.get_status_display()})"
