from django.conf import settings
from django.db import models
from django.db.models import Case, Exists, IntegerField, OuterRef, Q, Subquery, Value, When
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from .access import is_security_member

User = settings.AUTH_USER_MODEL


class IncidentQuerySet(models.QuerySet):
    def visible_to(self, user):
        """The one access rule for incidents and everything derived from them.

        Confidential incidents are visible only to their members, the security group and
        superusers; everyone else must not learn they exist.
        """
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_superuser or is_security_member(user):
            return self
        member = Membership.objects.filter(incident=OuterRef("pk"), user=user)
        return self.filter(Q(confidential=False) | Q(Exists(member)))

    def open_first(self):
        return self.annotate(
            closed_rank=Case(
                When(status__in=Incident.OPEN_STATUSES, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            )
        ).order_by("closed_rank", "severity", "-declared_at")


class ServiceQuerySet(models.QuerySet):
    def with_current_status(self, incidents):
        """Annotate `status_rank` from open impacts of the given incidents (already scoped
        to what the viewer may see); 0 means operational."""
        now = timezone.now()
        worst = (
            Impact.objects.filter(service=OuterRef("pk"), incident__in=incidents, started_at__lte=now)
            .filter(Q(ended_at__isnull=True) | Q(ended_at__gt=now))
            .annotate(rank=level_rank_expression())
            .order_by("-rank")
            .values("rank")[:1]
        )
        return self.annotate(status_rank=Subquery(worst, output_field=IntegerField()))


class Service(models.Model):
    """An affected system in the catalog (a component on the status page)."""

    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=120, unique=True)
    group = models.CharField(max_length=120, blank=True, help_text="e.g. Product, Platform")
    owner = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    description = models.TextField(blank=True)
    public = models.BooleanField(default=True, help_text="Shown on the public status page")
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ServiceQuerySet.as_manager()

    class Meta:
        ordering = ["group", "position", "name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("services:detail", args=[self.slug])


class Incident(models.Model):
    class Status(models.TextChoices):
        INVESTIGATING = "investigating", _("Investigating")
        IDENTIFIED = "identified", _("Identified")
        MONITORING = "monitoring", _("Monitoring")
        RESOLVED = "resolved", _("Resolved")
        CLOSED = "closed", _("Closed")

    class Kind(models.TextChoices):
        AVAILABILITY = "availability", _("Availability")
        SECURITY = "security", _("Security")
        DATA_EXPOSURE = "data_exposure", _("Data exposure")
        PERFORMANCE = "performance", _("Performance")
        OTHER = "other", _("Other")

    class Severity(models.IntegerChoices):
        SEV1 = 1, "SEV1"
        SEV2 = 2, "SEV2"
        SEV3 = 3, "SEV3"
        SEV4 = 4, "SEV4"

    OPEN_STATUSES = (Status.INVESTIGATING, Status.IDENTIFIED, Status.MONITORING)
    # The moves a commander may make. Backwards moves between the open states are allowed
    # (a fix that did not hold); a resolved incident may be reopened or closed; closed is final.
    TRANSITIONS = {
        Status.INVESTIGATING: {Status.IDENTIFIED, Status.MONITORING, Status.RESOLVED},
        Status.IDENTIFIED: {Status.INVESTIGATING, Status.MONITORING, Status.RESOLVED},
        Status.MONITORING: {Status.INVESTIGATING, Status.IDENTIFIED, Status.RESOLVED},
        Status.RESOLVED: {Status.INVESTIGATING, Status.CLOSED},
        Status.CLOSED: set(),
    }
    # Times the commander may correct after the fact (each correction is logged).
    CORRECTABLE_TIMES = (
        "aware_at",
        "started_at",
        "detected_at",
        "acknowledged_at",
        "mitigated_at",
        "resolved_at",
        "closed_at",
    )

    title = models.CharField(max_length=200)
    summary = models.TextField(blank=True, help_text="Markdown")
    severity = models.PositiveSmallIntegerField(choices=Severity.choices, default=Severity.SEV3)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.INVESTIGATING)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.AVAILABILITY)
    confidential = models.BooleanField(default=False)
    services = models.ManyToManyField(Service, blank=True, related_name="incidents")
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")

    started_at = models.DateTimeField(help_text="When impact started")
    detected_at = models.DateTimeField(null=True, blank=True)
    declared_at = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    mitigated_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    aware_at = models.DateTimeField(
        null=True, blank=True, help_text="When the organisation became aware of a breach (starts legal clocks)"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    objects = IncidentQuerySet.as_manager()

    class Meta:
        ordering = ["-declared_at"]
        indexes = [
            # The incident list: open incidents first, newest first.
            models.Index(fields=["status", "-declared_at"], name="incident_status_declared"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(severity__gte=1, severity__lte=4), name="incident_severity_1_4"),
        ]

    def __str__(self):
        return f"{self.reference} {self.title}"

    def get_absolute_url(self):
        return reverse("incidents:detail", args=[self.pk])

    @property
    def reference(self):
        return f"INC-{self.pk}"

    @property
    def is_open(self):
        return self.status in self.OPEN_STATUSES

    def can_move_to(self, status):
        return status in self.TRANSITIONS[self.status]


class Membership(models.Model):
    """A person's role on one incident."""

    class Role(models.TextChoices):
        COMMANDER = "commander", _("Commander")
        DEPUTY = "deputy", _("Deputy")
        COMMS_LEAD = "comms_lead", _("Comms lead")
        SCRIBE = "scribe", _("Scribe")
        RESPONDER = "responder", _("Responder")
        OBSERVER = "observer", _("Observer")

    # Roles held by one person at a time; responders and observers may be many.
    SINGLE_ROLES = (Role.COMMANDER, Role.DEPUTY, Role.COMMS_LEAD, Role.SCRIBE)

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="incident_memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    assigned_at = models.DateTimeField(default=timezone.now)
    assigned_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["incident", "role", "assigned_at"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "user", "role"], name="membership_unique_user_role"),
            models.UniqueConstraint(
                fields=["incident", "role"],
                condition=Q(role__in=["commander", "deputy", "comms_lead", "scribe"]),
                name="membership_one_holder_per_single_role",
            ),
        ]

    def __str__(self):
        return f"{self.user} as {self.get_role_display()} on {self.incident.reference}"


class TimelineEntry(models.Model):
    """One line of an incident's timeline. Append-only: edits keep the earlier text."""

    class Kind(models.TextChoices):
        NOTE = "note", _("Note")
        DECLARED = "declared", _("Declared")
        STATUS = "status", _("Status change")
        SEVERITY = "severity", _("Severity change")
        ROLE = "role", _("Role change")
        IMPACT = "impact", _("Impact")
        FIELD = "field", _("Field change")
        TIME = "time", _("Time correction")
        RUNBOOK = "runbook", _("Runbook")
        COMMS = "comms", _("Communication")
        MITIGATION = "mitigation", _("Mitigation")
        EXPOSURE = "exposure", _("Exposure assessment")
        REGULATORY = "regulatory", _("Regulatory clock")
        REVIEW = "review", _("Review")

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="timeline")
    occurred_at = models.DateTimeField(default=timezone.now)
    recorded_at = models.DateTimeField(default=timezone.now)
    author = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.NOTE)
    body = models.TextField(help_text="Markdown")
    data = models.JSONField(default=dict, blank=True, help_text="Structured change: field, old, new")
    edited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["occurred_at", "id"]
        verbose_name_plural = "timeline entries"
        indexes = [
            # The live poll: "entries of this incident recorded after id X".
            models.Index(fields=["incident", "id"], name="timeline_incident_id"),
        ]

    def __str__(self):
        return f"{self.incident.reference} {self.occurred_at:%Y-%m-%d %H:%M} {self.body[:40]}"


class TimelineRevision(models.Model):
    """The text a timeline entry had before an edit."""

    entry = models.ForeignKey(TimelineEntry, on_delete=models.CASCADE, related_name="revisions")
    body = models.TextField()
    replaced_at = models.DateTimeField(default=timezone.now)
    replaced_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["entry", "replaced_at", "id"]

    def __str__(self):
        return f"Earlier text of timeline entry {self.entry_id}"


class Impact(models.Model):
    class Level(models.TextChoices):
        DEGRADED_PERFORMANCE = "degraded_performance", _("Degraded performance")
        PARTIAL_OUTAGE = "partial_outage", _("Partial outage")
        MAJOR_OUTAGE = "major_outage", _("Major outage")
        UNDER_MAINTENANCE = "under_maintenance", _("Under maintenance")

    # Worst first, as a status page ranks them.
    RANK = {
        Level.MAJOR_OUTAGE: 4,
        Level.PARTIAL_OUTAGE: 3,
        Level.DEGRADED_PERFORMANCE: 2,
        Level.UNDER_MAINTENANCE: 1,
    }

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="impacts")
    service = models.ForeignKey(Service, on_delete=models.PROTECT, related_name="impacts")
    level = models.CharField(max_length=30, choices=Level.choices)
    regions = models.JSONField(default=list, blank=True, help_text="Region names; empty means everywhere")
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["incident", "started_at", "id"]
        indexes = [
            # Current service status: open impacts of a service.
            models.Index(fields=["service", "ended_at"], name="impact_service_open"),
        ]

    def __str__(self):
        return f"{self.service} {self.get_level_display()} ({self.incident.reference})"

    @property
    def is_open(self):
        return self.ended_at is None or self.ended_at > timezone.now()


def level_rank_expression(field="level"):
    return Case(
        *[When(**{field: level}, then=Value(rank)) for level, rank in Impact.RANK.items()],
        default=Value(0),
        output_field=IntegerField(),
    )


RANK_TO_LEVEL = {rank: level for level, rank in Impact.RANK.items()}


def status_from_rank(rank):
    return RANK_TO_LEVEL.get(rank or 0, "operational")


class Communication(models.Model):
    """What an audience is told about an incident, through draft, review, approval and
    publication. A published status-page communication is an incident update on the status
    page."""

    class Audience(models.TextChoices):
        STATUS_PAGE = "status_page", _("Status page")
        INTERNAL = "internal", _("Internal")
        CUSTOMERS = "customers", _("Customers (e-mail)")
        REGULATORS = "regulators", _("Regulators")
        PARTNERS = "partners", _("Partners and press")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        IN_REVIEW = "in_review", _("In review")
        APPROVED = "approved", _("Approved")
        SCHEDULED = "scheduled", _("Scheduled")
        PUBLISHED = "published", _("Published")
        DISCARDED = "discarded", _("Discarded")

    class PublicStatus(models.TextChoices):
        INVESTIGATING = "investigating", _("Investigating")
        IDENTIFIED = "identified", _("Identified")
        MONITORING = "monitoring", _("Monitoring")
        RESOLVED = "resolved", _("Resolved")

    # Audiences whose messages need a second person's approval (unless the setting relaxes it).
    TWO_PERSON_AUDIENCES = (Audience.STATUS_PAGE, Audience.CUSTOMERS, Audience.REGULATORS)
    TRANSITIONS = {
        Status.DRAFT: {Status.IN_REVIEW, Status.DISCARDED},
        Status.IN_REVIEW: {Status.DRAFT, Status.APPROVED, Status.DISCARDED},
        Status.APPROVED: {Status.DRAFT, Status.SCHEDULED, Status.PUBLISHED, Status.DISCARDED},
        Status.SCHEDULED: {Status.APPROVED, Status.PUBLISHED, Status.DISCARDED},
        Status.PUBLISHED: set(),
        Status.DISCARDED: set(),
    }

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="communications")
    audience = models.CharField(max_length=20, choices=Audience.choices)
    title = models.CharField(max_length=200, blank=True, help_text="Subject line for e-mail audiences")
    body = models.TextField(help_text="Markdown")
    language = models.CharField(max_length=15, default="en")
    public_status = models.CharField(max_length=20, choices=PublicStatus.choices, blank=True)
    affected = models.JSONField(
        default=list, blank=True, help_text='[{"service": slug, "level": impact level or "operational"}]'
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    template = models.ForeignKey("CommunicationTemplate", null=True, blank=True, on_delete=models.SET_NULL)
    author = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    approved_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    approved_at = models.DateTimeField(null=True, blank=True)
    scheduled_for = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["incident", "-created_at"]
        indexes = [
            # The scheduler's scan: scheduled communications that are due.
            models.Index(fields=["scheduled_for"], name="comm_scheduled_due", condition=Q(status="scheduled")),
            # The status page: published updates of an incident, newest first.
            models.Index(fields=["incident", "audience", "status", "-published_at"], name="comm_published"),
        ]

    def __str__(self):
        return f"{self.get_audience_display()} {self.get_status_display()} on {self.incident.reference}"

    @property
    def needs_second_person(self):
        return self.audience in self.TWO_PERSON_AUDIENCES


class CommunicationTemplate(models.Model):
    """A starting point for a communication. Placeholders in {braces}: title, reference,
    severity, status, services (affected services and their levels), next_update, mitigations,
    started_at."""

    name = models.CharField(max_length=120, unique=True)
    audience = models.CharField(max_length=20, choices=Communication.Audience.choices, blank=True)
    public_status = models.CharField(max_length=20, blank=True)
    body = models.TextField(help_text="Markdown with {placeholders}")
    language = models.CharField(max_length=15, default="en")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["audience", "name"]

    def __str__(self):
        return self.name


class CommunicationTranslation(models.Model):
    communication = models.ForeignKey(Communication, on_delete=models.CASCADE, related_name="translations")
    language = models.CharField(max_length=15, help_text="e.g. zh-hans, fr, de")
    title = models.CharField(max_length=200, blank=True)
    body = models.TextField(help_text="Markdown")

    class Meta:
        ordering = ["communication", "language"]
        constraints = [
            models.UniqueConstraint(fields=["communication", "language"], name="comm_translation_unique"),
        ]

    def __str__(self):
        return f"{self.language} of communication {self.communication_id}"


class Mitigation(models.Model):
    """A temporary measure on an incident that affects users, e.g. sign-ups limited to one
    country's phone numbers. Public ones are explained on the status page while active."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="mitigations")
    title = models.CharField(max_length=200)
    description = models.TextField(help_text="What it does (Markdown)")
    affects = models.CharField(max_length=300, blank=True, help_text="Who it affects")
    owner = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    started_at = models.DateTimeField(default=timezone.now)
    review_by = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    public = models.BooleanField(default=False)
    public_explanation = models.TextField(blank=True, help_text="Plain language, shown on the status page")
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["started_at", "id"]
        indexes = [
            # "In force" lists and the review reminder: mitigations not ended yet.
            models.Index(fields=["started_at"], name="mitigation_in_force", condition=Q(ended_at__isnull=True)),
        ]

    def __str__(self):
        return f"{self.title} ({self.incident.reference})"

    @property
    def in_force(self):
        return self.ended_at is None


class ExposureAssessment(models.Model):
    """Whether and what personal data was exposed in an incident. One per incident; every
    change is on the timeline."""

    class Certainty(models.TextChoices):
        SUSPECTED = "suspected", _("Suspected")
        CONFIRMED = "confirmed", _("Confirmed")
        RULED_OUT = "ruled_out", _("Ruled out")

    class Category(models.TextChoices):
        ACCOUNT = "account", _("Account data")
        CONTACT = "contact", _("Contact data")
        CHAT = "chat", _("Chat content")
        CREDENTIALS = "credentials", _("Credentials and API keys")
        PAYMENT = "payment", _("Payment data")
        LOGS = "logs", _("Logs")
        OTHER = "other", _("Other")

    class Confidence(models.TextChoices):
        LOW = "low", _("Low")
        MEDIUM = "medium", _("Medium")
        HIGH = "high", _("High")

    class Source(models.TextChoices):
        INTERNAL = "internal", _("Internal detection")
        RESEARCHER = "researcher", _("Security researcher")
        ATTACKER = "attacker", _("Attacker claim")
        REGULATOR = "regulator", _("Regulator")
        OTHER = "other", _("Other")

    incident = models.OneToOneField(Incident, on_delete=models.CASCADE, related_name="exposure")
    certainty = models.CharField(max_length=20, choices=Certainty.choices, default=Certainty.SUSPECTED)
    categories = models.JSONField(default=list, blank=True)
    people_affected = models.PositiveBigIntegerField(null=True, blank=True)
    records_affected = models.PositiveBigIntegerField(null=True, blank=True)
    confidence = models.CharField(max_length=10, choices=Confidence.choices, default=Confidence.LOW)
    jurisdictions = models.JSONField(default=list, blank=True, help_text="ISO country codes, e.g. DE, FR, CN")
    encrypted = models.BooleanField(null=True, blank=True, help_text="Was the data encrypted (unknown if empty)")
    found_by = models.CharField(max_length=20, choices=Source.choices, default=Source.INTERNAL)
    updated_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")

    def __str__(self):
        return f"Exposure assessment of {self.incident.reference}"


class Obligation(models.Model):
    """A notification duty in the catalog (seeded from shared/REGULATORY.md; admins edit it).

    `stages` is a list of {"name", "amount", "unit" (hours|days|business_days|months or null for
    "without undue delay"), "after" ("start" or the name of an earlier stage), "cap_hours"
    (a limit in hours from awareness, or null), "recipient"}.
    """

    key = models.SlugField(max_length=40, unique=True)
    regime = models.CharField(max_length=200)
    recipient = models.CharField(max_length=300)
    clock_starts = models.CharField(max_length=300, help_text="The event whose time starts the clock")
    stages = models.JSONField(default=list)
    jurisdictions = models.JSONField(default=list, blank=True, help_text="Country codes it applies to; EU = EU members")
    data_categories = models.JSONField(default=list, blank=True, help_text="Categories that suggest it; empty = any")
    personal_data = models.BooleanField(default=True, help_text="Suggested only when personal data is involved")
    notes = models.TextField(blank=True)
    proposed = models.BooleanField(default=False, help_text="Not in force yet (e.g. a proposed rule)")
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["key"]

    def __str__(self):
        return self.regime


class RegulatoryClock(models.Model):
    """An obligation started on an incident. Stages' due times are computed from `started_at`
    (and the incident's awareness time for caps), so correcting a time moves every deadline."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        DONE = "done", _("All stages submitted")
        NOT_REQUIRED = "not_required", _("Not required")

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="clocks")
    obligation = models.ForeignKey(Obligation, on_delete=models.PROTECT, related_name="clocks")
    started_at = models.DateTimeField(help_text="When the clock started (awareness, determination, classification)")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RUNNING)
    not_required_reason = models.TextField(blank=True)
    target_hours = models.PositiveIntegerField(
        null=True, blank=True, help_text="The team's own target for duties without an hour figure"
    )
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["incident", "started_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "obligation"], name="clock_once_per_obligation"),
        ]

    def __str__(self):
        return f"{self.obligation.key} on {self.incident.reference}"


class Submission(models.Model):
    """A notification made for one stage of a clock."""

    clock = models.ForeignKey(RegulatoryClock, on_delete=models.CASCADE, related_name="submissions")
    stage = models.CharField(max_length=60)
    submitted_at = models.DateTimeField()
    submitted_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    reference = models.CharField(max_length=200, blank=True, help_text="The authority's case or receipt number")
    communication = models.ForeignKey(Communication, null=True, blank=True, on_delete=models.SET_NULL)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["clock", "submitted_at"]
        constraints = [
            models.UniqueConstraint(fields=["clock", "stage"], name="submission_once_per_stage"),
        ]

    def __str__(self):
        return f"{self.clock} {self.stage} at {self.submitted_at:%Y-%m-%d %H:%M}"


# Reminders and notifications (incidents/reminders.py decides, incidents/notify.py delivers) -----


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

    MINUTES = (15, 30, 60)

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
        UPDATE_DUE = "update_due", "Public update due"
        UPDATE_OVERDUE = "update_overdue", "Public update overdue"
        UNACKNOWLEDGED = "unacknowledged", "Incident not acknowledged"
        STEP_OVERDUE = "step_overdue", "Runbook step overdue"
        STEP_ESCALATED = "step_escalated", "Runbook step still overdue"
        MITIGATION_REVIEW = "mitigation_review", "Mitigation review due"
        REGULATORY = "regulatory", "Regulatory deadline"
        REVIEW_DUE = "review_due", "Post-incident review due"
        ACTION_ITEM_DUE = "action_item_due", "Follow-up action item due"
        OTHER = "other", "Other"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications")
    incident = models.ForeignKey(
        Incident, null=True, blank=True, on_delete=models.CASCADE, related_name="user_notifications"
    )
    kind = models.CharField(max_length=30, choices=Kind.choices, default=Kind.OTHER)
    key = models.CharField(max_length=200, help_text="What it is about and which window; unique per person")
    subject = models.CharField(max_length=120, blank=True, help_text="The reminder it came from, for snoozing")
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True)
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


class Review(models.Model):
    """The post-incident review of one incident: a Markdown document drafted from the timeline,
    edited by the team, then published. Its metrics are computed from the incident's times
    (incidents.review.metrics), never stored, so a corrected time corrects the review."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PUBLISHED = "published", _("Published")

    incident = models.OneToOneField(Incident, on_delete=models.CASCADE, related_name="review")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    owner = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", help_text="Who runs the review"
    )
    body = models.TextField(blank=True, help_text="Markdown")
    meeting_at = models.DateTimeField(null=True, blank=True, help_text="When the review meeting is held")
    # Bumped by every edit: an edit made on an older version is refused, not silently lost.
    version = models.PositiveIntegerField(default=1)
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(status="draft") | Q(published_at__isnull=False), name="review_published_has_time"
            ),
        ]

    def __str__(self):
        return f"Review of {self.incident.reference}"

    def get_absolute_url(self):
        return reverse("incidents:review:page", args=[self.incident_id])


class ActionItem(models.Model):
    """A follow-up that came out of an incident (fix the rate limiter, add an alert), with an
    owner and a due date; tracked until done, reminded when due."""

    class Status(models.TextChoices):
        OPEN = "open", pgettext_lazy("action item status", "Open")
        DONE = "done", _("Done")
        WONT_DO = "wont_do", _("Won’t do")

    class Priority(models.TextChoices):
        HIGH = "high", _("High")
        MEDIUM = "medium", _("Medium")
        LOW = "low", _("Low")

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="action_items")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, help_text="Markdown")
    owner = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="action_items")
    due_on = models.DateField(null=True, blank=True)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.MEDIUM)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    tracker_url = models.URLField(max_length=500, blank=True, help_text="The ticket in your tracker, if any")
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    class Meta:
        ordering = ["incident", "status", "due_on", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="open", completed_at__isnull=True)
                | (~Q(status="open") & Q(completed_at__isnull=False)),
                name="action_item_completed_when_not_open",
            ),
        ]
        indexes = [
            # The reminder sweep and the follow-ups list: open items by due date.
            models.Index(fields=["due_on"], name="action_item_open_due", condition=Q(status="open")),
        ]

    def __str__(self):
        return f"{self.title} ({self.incident.reference})"

    @property
    def is_open(self):
        return self.status == self.Status.OPEN

    @staticmethod
    def today():
        """Due dates are days in the site's time zone (TIME_ZONE), where the reminders go out
        at their hour: "overdue" means the same for every viewer and for the sweep."""
        return timezone.localdate(timezone=timezone.get_default_timezone())

    def is_overdue(self, today=None):
        today = today or self.today()
        return self.is_open and self.due_on is not None and self.due_on < today
