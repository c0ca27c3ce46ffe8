from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from incidents.models import Incident, Membership, Service

User = settings.AUTH_USER_MODEL


class Runbook(models.Model):
    """A runbook in the library. Its content lives in immutable versions; the latest one is
    what new runs use."""

    slug = models.SlugField(max_length=100, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    latest = models.ForeignKey("RunbookVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    archived = models.BooleanField(default=False)

    class Meta:
        ordering = ["slug"]

    def __str__(self):
        return self.slug

    def get_absolute_url(self):
        return reverse("runbooks:detail", args=[self.slug])


class RunbookVersion(models.Model):
    """One immutable version of a runbook: what it says and when it applies.

    Never updated after creation; an edit is a new version. A run pins the version it used.
    """

    runbook = models.ForeignKey(Runbook, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True, help_text="Markdown")
    kinds = models.JSONField(default=list, blank=True, help_text="Incident kinds it applies to; empty means any")
    min_severity = models.PositiveSmallIntegerField(
        default=4,
        choices=Incident.Severity.choices,
        help_text="Applies to incidents at this severity or worse (SEV1 is the worst)",
    )
    services = models.ManyToManyField(Service, blank=True, related_name="+")
    tags = models.JSONField(default=list, blank=True)
    owner = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    review_by = models.DateField(null=True, blank=True)
    checksum = models.CharField(max_length=64, help_text="SHA-256 of the canonical file text")
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["runbook", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["runbook", "number"], name="runbook_version_number_unique"),
        ]

    def __str__(self):
        return f"{self.runbook.slug} v{self.number}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Runbook versions are immutable: make a new version instead.")
        super().save(*args, **kwargs)


class RunbookStep(models.Model):
    class Role(models.TextChoices):
        COMMANDER = "commander", _("Commander")
        DEPUTY = "deputy", _("Deputy")
        COMMS = "comms", _("Comms")
        SCRIBE = "scribe", _("Scribe")
        RESPONDER = "responder", _("Responder")
        SECURITY = "security", _("Security")
        LEGAL = "legal", _("Legal")

    # Which incident role fills a step's role, to pre-select its assignee.
    INCIDENT_ROLE = {
        Role.COMMANDER: Membership.Role.COMMANDER,
        Role.DEPUTY: Membership.Role.DEPUTY,
        Role.COMMS: Membership.Role.COMMS_LEAD,
        Role.SCRIBE: Membership.Role.SCRIBE,
    }

    version = models.ForeignKey(RunbookVersion, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True, help_text="Markdown")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.RESPONDER)
    expected_minutes = models.PositiveIntegerField(null=True, blank=True)
    critical = models.BooleanField(default=False)

    class Meta:
        ordering = ["version", "position"]
        constraints = [
            models.UniqueConstraint(fields=["version", "position"], name="runbook_step_position_unique"),
        ]

    def __str__(self):
        return f"{self.position}. {self.title}"

    def save(self, *args, **kwargs):
        # A step is part of its version, and versions are immutable.
        if self.pk is not None:
            raise ValueError("Runbook steps are immutable: make a new version of the runbook instead.")
        super().save(*args, **kwargs)


class RunbookRun(models.Model):
    """A runbook followed on an incident, pinned to the version attached."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="runbook_runs")
    version = models.ForeignKey(RunbookVersion, on_delete=models.PROTECT, related_name="runs")
    started_at = models.DateTimeField(default=timezone.now)
    started_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["incident", "started_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "version"], name="runbook_run_once_per_incident"),
        ]

    def __str__(self):
        return f"{self.version} on {self.incident.reference}"


class StepRun(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        IN_PROGRESS = "in_progress", _("In progress")
        DONE = "done", _("Done")
        SKIPPED = "skipped", _("Skipped")
        BLOCKED = "blocked", _("Blocked")

    FINISHED = (Status.DONE, Status.SKIPPED)
    NEEDS_REASON = (Status.SKIPPED, Status.BLOCKED)
    TRANSITIONS = {
        Status.PENDING: {Status.IN_PROGRESS, Status.DONE, Status.SKIPPED, Status.BLOCKED},
        Status.IN_PROGRESS: {Status.PENDING, Status.DONE, Status.SKIPPED, Status.BLOCKED},
        Status.BLOCKED: {Status.PENDING, Status.IN_PROGRESS, Status.DONE, Status.SKIPPED},
        Status.DONE: {Status.IN_PROGRESS},  # reopen a step marked done by mistake
        Status.SKIPPED: {Status.PENDING, Status.IN_PROGRESS},
    }

    run = models.ForeignKey(RunbookRun, on_delete=models.CASCADE, related_name="step_runs")
    step = models.ForeignKey(RunbookStep, on_delete=models.PROTECT, related_name="+")
    position = models.PositiveIntegerField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    assignee = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="step_runs")
    note = models.TextField(blank=True)
    reason = models.TextField(blank=True, help_text="Why skipped or blocked")
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["run", "position"]
        indexes = [
            # "My steps": open steps of one assignee.
            models.Index(
                fields=["assignee", "status"],
                name="steprun_open_by_assignee",
                condition=~Q(status__in=["done", "skipped"]),
            ),
        ]

    def __str__(self):
        return f"{self.step.title} ({self.status})"

    @property
    def is_finished(self):
        return self.status in self.FINISHED
