import secrets
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.db.models import Case, Exists, IntegerField, OuterRef, Q, Subquery, Value, When
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from incidents import timeline_text
from incidents.access import is_security_member

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
    # The name as readers of other languages know it, by language code ({"zh-hans": "公共 API"}):
    # the status page and updates filled from a template in that language use it.
    names = models.JSONField(default=dict, blank=True, help_text="Name per language code, e.g. {'zh-hans': '…'}")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ServiceQuerySet.as_manager()

    class Meta:
        ordering = ["group", "position", "name"]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("services:detail", args=[self.slug])

    def name_in(self, language):
        """The name in `language` (zh-hans), else in a language of the same base (zh asks, or
        zh-hant, find zh-hans; de-at finds de), else the catalog's own name."""
        language = (language or "").lower()
        names = self.names if isinstance(self.names, dict) else {}
        if names.get(language):
            return names[language]
        base = language.split("-")[0]
        return next((name for code, name in sorted(names.items()) if code.split("-")[0] == base), self.name)


KEY_LETTERS = "abcdefghijkmnpqrstuvwxyz"  # no l or o: read aloud or copied by hand, they pass for 1 and 0
KEY_ALPHABET = KEY_LETTERS + "23456789"
KEY_LENGTH = 12


def incident_key():
    """An incident's opaque identifier in URLs and the API: 12 characters (about 61 bits), so
    that the ids a person sees say nothing about how many incidents exist or are hidden. It
    starts with a letter, so it never reads as a number (a primary key)."""
    return secrets.choice(KEY_LETTERS) + "".join(secrets.choice(KEY_ALPHABET) for _ in range(KEY_LENGTH - 1))


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

    key = models.CharField(
        max_length=KEY_LENGTH,
        unique=True,
        default=incident_key,
        editable=False,
        help_text="Opaque identifier in URLs and the API (INC-n is the human reference)",
    )
    title = models.CharField(max_length=200)
    # What the public reads (status page, its JSON and feeds, subscribers' e-mails and webhooks):
    # never the internal title. Empty until comms give one; the first status-page update asks.
    public_title = models.CharField(
        max_length=200, blank=True, help_text="The title on the status page and in subscriber messages"
    )
    # The public title as readers of other languages read it, by language code ({"zh-hans": "…"}).
    public_titles = models.JSONField(
        default=dict, blank=True, help_text="Public title per language code, e.g. {'zh-hans': '…'}"
    )
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
    # Minutes between public updates on this incident, when its people chose one (a long
    # SEV2 may need a daily update, not an hourly one); empty: the severity's default.
    update_cadence_minutes = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)
    # Bumped by every change, under the incident's row lock, so it grows in commit order: what
    # live views poll on (a wall-clock time taken before waiting for the lock can go backwards).
    version = models.PositiveBigIntegerField(default=0, editable=False)

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
        return reverse("incidents:detail", args=[self.key])

    @property
    def reference(self):
        return f"INC-{self.pk}"

    @property
    def is_open(self):
        return self.status in self.OPEN_STATUSES

    def can_move_to(self, status):
        return status in self.TRANSITIONS[self.status]

    def public_title_in(self, language):
        """The public title in `language` (zh-hans), else in a language of the same base (zh
        finds zh-hans; de-at finds de), else the default public title."""
        language = (language or "").lower()
        titles = self.public_titles if isinstance(self.public_titles, dict) else {}
        if titles.get(language):
            return titles[language]
        base = language.split("-")[0]
        return next((title for code, title in sorted(titles.items()) if code.split("-")[0] == base), self.public_title)


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


# An entry whose occurred time is further than this before its recording is shown as back-dated.
BACKDATED_AFTER = timedelta(minutes=1)


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
        ALERT = "alert", _("Alert")

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="timeline")
    occurred_at = models.DateTimeField(default=timezone.now)
    recorded_at = models.DateTimeField(default=timezone.now)
    author = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.NOTE)
    body = models.TextField(help_text="Markdown")
    data = models.JSONField(default=dict, blank=True, help_text="Structured change: field, old, new")
    # A system line as a message id and its parameters ({"msg", "params"}, incidents/timeline_text.py),
    # rendered in each reader's language; empty for notes and for entries written before it.
    line = models.JSONField(default=dict, blank=True, editable=False)
    edited_at = models.DateTimeField(null=True, blank=True)
    # The incident's version when this entry was written or last edited.
    seq = models.PositiveBigIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["occurred_at", "id"]
        verbose_name_plural = "timeline entries"
        indexes = [
            # The war room's pages of entries: "entries of this incident before id X".
            models.Index(fields=["incident", "id"], name="timeline_incident_id"),
            # The war room's newest page, in the timeline's order (occurred_at, id): read from the
            # index's end instead of sorting every entry of a long incident.
            models.Index(fields=["incident", "occurred_at", "id"], name="timeline_incident_time"),
            # The live poll: "entries of this incident written or edited after version V".
            models.Index(fields=["incident", "seq"], name="timeline_incident_seq"),
        ]

    def __str__(self):
        return f"{self.incident.reference} {self.occurred_at:%Y-%m-%d %H:%M} {self.body[:40]}"

    @property
    def text(self):
        """The entry's text in the active language: a system line (incidents/timeline_text.py)
        rendered for the reader, a note (or an older entry) as stored."""
        if self.kind != self.Kind.NOTE and self.line:
            rendered = timeline_text.render(self.line)
            if rendered is not None:
                return rendered
        return self.body

    @property
    def backdated(self):
        """Logged a while after it happened (`/at 02:55 ...`, the API's occurred_at): the
        timeline says when it was written too."""
        return self.recorded_at - self.occurred_at > BACKDATED_AFTER


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


class IdempotencyKey(models.Model):
    """The first answer to a creating POST sent with an `Idempotency-Key` header, so a retry
    with the same key gets that answer again instead of creating a second object
    (incidents/idempotency.py). Kept for a day."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.TextField()
    body_hash = models.CharField(max_length=64, help_text="SHA-256 of the request's data, as canonical JSON")
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField(encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_per_user")]
        indexes = [
            # The purge of expired keys: "created before now - 24 h".
            models.Index(fields=["created_at"], name="idempotency_key_created"),
        ]

    def __str__(self):
        return f"{self.key} ({self.method} {self.path})"


class ApiToken(models.Model):
    """A key for `Authorization: Token <key>` (incidents/credentials.py). Only a SHA-256 of the
    key is stored: a copy of the database (a backup, a read-only replica) lets nobody call the
    API. The key itself is shown once, when it is issued. A user may hold several (one per
    integration); a password change or deactivation ends all of them."""

    class Scope(models.TextChoices):
        READ = "read", _("Read only")
        READ_WRITE = "read_write", _("Read and write")

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=100, help_text="What the token is for, as its holder named it")
    scope = models.CharField(
        _("scope"),
        max_length=16,
        choices=Scope.choices,
        default=Scope.READ_WRITE,
        help_text="Read only: refused (403) on anything but GET, HEAD and OPTIONS",
    )
    key_hash = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the key, hex")
    prefix = models.CharField(max_length=8, help_text="The key's first characters, to tell tokens apart")
    created = models.DateTimeField(default=timezone.now)
    last_used = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Refused from then on; empty: never expires")

    class Meta:
        verbose_name = "API token"

    def __str__(self):
        return f"{self.name} {self.prefix}… ({self.user})"


class AuditEventQuerySet(models.QuerySet):
    """The organisation-wide audit log is append-only: rows are written (auditlog.record) and
    read, never changed or deleted, except by the retention purge (`purge_before`). On
    PostgreSQL a trigger (migration 0022) refuses UPDATE and DELETE to anyone else too."""

    def update(self, **kwargs):
        raise PermissionDenied(_("The audit log is append-only."))

    def delete(self):
        raise PermissionDenied(_("The audit log is append-only."))

    def purge_before(self, cutoff):
        """Delete the events older than `cutoff` (the retention purge); returns how many."""
        with transaction.atomic():
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    # Read by the trigger: only this transaction may delete.
                    cursor.execute("SET LOCAL warroom.audit_purge = 'on'")
            deleted, _ = models.QuerySet.delete(self.filter(at__lt=cutoff))
        return deleted


class AuditEvent(models.Model):
    """One security-relevant action anywhere in Warroom (incidents/auditlog.py): who, what,
    when and from where. The actor is kept by id and name, not a foreign key: the log outlives
    deleted accounts, and deleting a user must not rewrite it."""

    class Action(models.TextChoices):
        SIGNED_IN = "signed_in", _("Signed in")
        SIGNIN_FAILED = "signin_failed", _("Sign-in failed")
        SIGNED_OUT = "signed_out", _("Signed out")
        LOCKED_OUT = "locked_out", _("Sign-in paused")
        UNLOCKED = "unlocked", _("Sign-in unlocked")
        TWO_FACTOR_ENROLLED = "2fa_enrolled", _("Two-factor enrolled")
        TWO_FACTOR_VERIFIED = "2fa_verified", _("Two-factor code accepted")
        TWO_FACTOR_FAILED = "2fa_failed", _("Two-factor code refused")
        RECOVERY_CODE_USED = "2fa_recovery_used", _("Recovery code used")
        RECOVERY_CODES_RENEWED = "2fa_recovery_renewed", _("Recovery codes renewed")
        TWO_FACTOR_RESET = "2fa_reset", _("Two-factor reset")
        TOKEN_CREATED = "token_created", _("API token created")
        TOKEN_REVOKED = "token_revoked", _("API token revoked")
        GROUPS_CHANGED = "groups_changed", _("Groups changed")
        INCIDENT_ROLE_CHANGED = "incident_role", _("Incident role changed")
        ACCOUNT_CHANGED = "account_changed", _("Account flags changed")
        ADMIN_CHANGE = "admin_change", _("Admin change")
        EXPORTED = "exported", _("Export downloaded")
        SECRET_ROTATED = "secret_rotated", _("Alert-source secret rotated")

    at = models.DateTimeField(default=timezone.now)
    actor_id = models.BigIntegerField(null=True, blank=True, help_text="The acting user's id, when one was signed in")
    actor_name = models.CharField(max_length=150, blank=True, help_text="The acting user's username at the time")
    action = models.CharField(max_length=32, choices=Action.choices)
    subject = models.CharField(max_length=200, blank=True, help_text="Whom or what it concerned")
    address = models.CharField(max_length=64, blank=True, help_text="The client's address")
    detail = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            # The log page and its exports: newest first, optionally one action.
            models.Index(fields=["at", "id"], name="auditevent_at"),
            models.Index(fields=["action", "at"], name="auditevent_action_at"),
        ]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action} {self.actor_name or '-'} {self.subject}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionDenied(_("The audit log is append-only."))
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionDenied(_("The audit log is append-only."))


class SignInIdentity(models.Model):
    """A person at an OpenID Connect provider (issuer and subject, which never change for them)
    linked to the Warroom user they sign in as (incidents/sso.py). Deleting the link makes the
    next sign-in look the user up by name again."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sign_in_identities")
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    created = models.DateTimeField(default=timezone.now)
    last_sign_in = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "sign-in identity"
        verbose_name_plural = "sign-in identities"
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="sign_in_identity_unique")]

    def __str__(self):
        return f"{self.subject} at {self.issuer} ({self.user})"


class LanguagePreference(models.Model):
    """The language a person reads Warroom in: the staff UI once they are signed in, and every
    e-mail Warroom sends them (incidents/languages.py). Without a row (or with an empty
    language) they get the site's language (LANGUAGE_CODE) in e-mail, and the staff UI follows
    the language switch or the browser."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="language_preference")
    # A code of settings.LANGUAGES, checked by incidents.languages.set_preference (no choices
    # here: the list is the settings', not the schema's).
    language = models.CharField(max_length=20, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"Language of {self.user}: {self.language or 'the site default'}"


# The wings' models (app label `incidents`), imported last: they build on the classes above.
from incidents.alerts.models import Alert, AlertDelivery, AlertRule, AlertSource  # noqa: E402, F401
from incidents.comms.models import (  # noqa: E402, F401
    AudienceDelivery,
    Communication,
    CommunicationTemplate,
    CommunicationTranslation,
    Recipient,
    RecipientList,
    new_recipient_secret,
)
from incidents.reminders.models import (  # noqa: E402, F401
    IncidentWebhook,
    NotificationDelivery,
    NotificationPreference,
    ReminderLedger,
    Snooze,
    UserNotification,
    new_webhook_secret,
)
from incidents.review.models import ActionItem, Review  # noqa: E402, F401
from incidents.security.models import ExposureAssessment, Mitigation, Obligation, RegulatoryClock, Submission  # noqa: E402, F401
