from django.conf import settings
from django.db import models
from django.db.models import Case, Exists, IntegerField, OuterRef, Q, Subquery, Value, When
from django.urls import reverse
from django.utils import timezone

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
        INVESTIGATING = "investigating", "Investigating"
        IDENTIFIED = "identified", "Identified"
        MONITORING = "monitoring", "Monitoring"
        RESOLVED = "resolved", "Resolved"
        CLOSED = "closed", "Closed"

    class Kind(models.TextChoices):
        AVAILABILITY = "availability", "Availability"
        SECURITY = "security", "Security"
        DATA_EXPOSURE = "data_exposure", "Data exposure"
        PERFORMANCE = "performance", "Performance"
        OTHER = "other", "Other"

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
        COMMANDER = "commander", "Commander"
        DEPUTY = "deputy", "Deputy"
        COMMS_LEAD = "comms_lead", "Comms lead"
        SCRIBE = "scribe", "Scribe"
        RESPONDER = "responder", "Responder"
        OBSERVER = "observer", "Observer"

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
        NOTE = "note", "Note"
        DECLARED = "declared", "Declared"
        STATUS = "status", "Status change"
        SEVERITY = "severity", "Severity change"
        ROLE = "role", "Role change"
        IMPACT = "impact", "Impact"
        FIELD = "field", "Field change"
        TIME = "time", "Time correction"
        RUNBOOK = "runbook", "Runbook"
        COMMS = "comms", "Communication"
        MITIGATION = "mitigation", "Mitigation"
        EXPOSURE = "exposure", "Exposure assessment"
        REGULATORY = "regulatory", "Regulatory clock"

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
        DEGRADED_PERFORMANCE = "degraded_performance", "Degraded performance"
        PARTIAL_OUTAGE = "partial_outage", "Partial outage"
        MAJOR_OUTAGE = "major_outage", "Major outage"
        UNDER_MAINTENANCE = "under_maintenance", "Under maintenance"

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
        STATUS_PAGE = "status_page", "Status page"
        INTERNAL = "internal", "Internal"
        CUSTOMERS = "customers", "Customers (e-mail)"
        REGULATORS = "regulators", "Regulators"
        PARTNERS = "partners", "Partners and press"

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        IN_REVIEW = "in_review", "In review"
        APPROVED = "approved", "Approved"
        SCHEDULED = "scheduled", "Scheduled"
        PUBLISHED = "published", "Published"
        DISCARDED = "discarded", "Discarded"

    class PublicStatus(models.TextChoices):
        INVESTIGATING = "investigating", "Investigating"
        IDENTIFIED = "identified", "Identified"
        MONITORING = "monitoring", "Monitoring"
        RESOLVED = "resolved", "Resolved"

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
        SUSPECTED = "suspected", "Suspected"
        CONFIRMED = "confirmed", "Confirmed"
        RULED_OUT = "ruled_out", "Ruled out"

    class Category(models.TextChoices):
        ACCOUNT = "account", "Account data"
        CONTACT = "contact", "Contact data"
        CHAT = "chat", "Chat content"
        CREDENTIALS = "credentials", "Credentials and API keys"
        PAYMENT = "payment", "Payment data"
        LOGS = "logs", "Logs"
        OTHER = "other", "Other"

    class Confidence(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"

    class Source(models.TextChoices):
        INTERNAL = "internal", "Internal detection"
        RESEARCHER = "researcher", "Security researcher"
        ATTACKER = "attacker", "Attacker claim"
        REGULATOR = "regulator", "Regulator"
        OTHER = "other", "Other"

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
        RUNNING = "running", "Running"
        DONE = "done", "All stages submitted"
        NOT_REQUIRED = "not_required", "Not required"

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
