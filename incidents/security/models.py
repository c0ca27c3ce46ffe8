"""Models of the security wing: mitigations, data-exposure assessment, regulatory obligations and clocks.

They keep the `incidents` app label (the app that contains this module), so their tables
and migrations stay where they are; incidents/models.py imports them so Django finds them."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from incidents.models import Incident

User = settings.AUTH_USER_MODEL


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
    # The explanation as readers of other languages read it, by language code ({"zh-hans": "…"}):
    # the status page in that language and updates filled from a template in it use it.
    public_explanations = models.JSONField(
        default=dict, blank=True, help_text="Public explanation per language code, e.g. {'zh-hans': '…'}"
    )
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

    def explanation_in(self, language):
        """The public explanation in `language` (zh-hans), else in a language of the same base
        (zh finds zh-hans; de-at finds de), else the default one."""
        language = (language or "").lower()
        texts = self.public_explanations if isinstance(self.public_explanations, dict) else {}
        if texts.get(language):
            return texts[language]
        base = language.split("-")[0]
        return next(
            (text for code, text in sorted(texts.items()) if code.split("-")[0] == base), self.public_explanation
        )


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
    communication = models.ForeignKey("incidents.Communication", null=True, blank=True, on_delete=models.SET_NULL)
    notes = models.TextField(blank=True)

    class Meta:
        ordering = ["clock", "submitted_at"]
        constraints = [
            models.UniqueConstraint(fields=["clock", "stage"], name="submission_once_per_stage"),
        ]

    def __str__(self):
        return f"{self.clock} {self.stage} at {self.submitted_at:%Y-%m-%d %H:%M}"
