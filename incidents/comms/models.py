"""Models of the comms wing: communications, their translations and templates.

They keep the `incidents` app label (the app that contains this module), so their tables
and migrations stay where they are; incidents/models.py imports them so Django finds them."""

import copy
import re
import secrets
from urllib.parse import urlsplit

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from incidents import access
from incidents.models import Incident

User = settings.AUTH_USER_MODEL


def new_recipient_secret():
    return secrets.token_hex(32)


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

    class PublicImpact(models.TextChoices):
        # Statuspage's incident `impact`: how bad comms say it is for the public.
        NONE = "none", _("None")
        MINOR = "minor", _("Minor")
        MAJOR = "major", _("Major")
        CRITICAL = "critical", _("Critical")

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
    # A status-page update's impact as comms chose it (the form suggests one from the severity):
    # the status page shows the latest published update's.
    public_impact = models.CharField(max_length=10, choices=PublicImpact.choices, blank=True)
    # The incident's new public title, which takes effect when this update is published; empty:
    # the incident's public title stays as it is.
    public_title = models.CharField(max_length=200, blank=True)
    affected = models.JSONField(
        default=list, blank=True, help_text='[{"service": slug, "level": impact level or "operational"}]'
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    # Goes up with every change of what would go out (the content fields and translations): an
    # approval names the version its approver read, so a change in between cannot slip through.
    content_version = models.PositiveIntegerField(default=1)
    # User ids of everyone who wrote or changed the text (the author included). The two-person
    # rule keeps all of them from approving: a writer who rewrote someone else's draft is an
    # author of what would go out, whoever created the row.
    contributors = models.JSONField(default=list, blank=True)
    template = models.ForeignKey("CommunicationTemplate", null=True, blank=True, on_delete=models.SET_NULL)
    author = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    approved_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    approved_at = models.DateTimeField(null=True, blank=True)
    scheduled_for = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # Customer, regulator and partner messages: the lists they are delivered to when published.
    recipient_lists = models.ManyToManyField("RecipientList", blank=True, related_name="communications")
    # A regulator message that is the notification for one stage of a legal clock: publishing it
    # records the submission on that stage (the security wing does, on communication_moved).
    notifies_clock = models.ForeignKey(
        "incidents.RegulatoryClock", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    notifies_stage = models.CharField(max_length=60, blank=True)
    notifies_marked_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
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

    def wrote(self, user):
        """Whether `user` wrote or changed this communication's text."""
        return user.pk is not None and (user.pk == self.author_id or user.pk in self.contributors)


class CommunicationTemplate(models.Model):
    """A starting point for a communication. Placeholders in {braces}: title, reference,
    severity, status, services (affected services and their levels), next_update, mitigations,
    started_at."""

    name = models.CharField(max_length=120, unique=True)
    audience = models.CharField(max_length=20, choices=Communication.Audience.choices, blank=True)
    public_status = models.CharField(max_length=20, blank=True)
    body = models.TextField(help_text="Markdown with {placeholders}")
    language = models.CharField(max_length=15, default="en")
    # The same template in another language points at the one it translates: a draft made from
    # either is translated from its sibling in the translation's language.
    translation_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="translations"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["audience", "name"]

    def __str__(self):
        return self.name

    def in_language(self, language):
        """This template in `language`: itself, the one it translates or one of that one's
        translations; None when there is none."""
        root_id = self.translation_of_id or self.pk
        return (
            CommunicationTemplate.objects.filter(models.Q(pk=root_id) | models.Q(translation_of_id=root_id))
            .filter(language=language)
            .order_by("pk")
            .first()
        )


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


# Recipient lists: who customer, regulator and partner messages go to -------------------------


class RecipientList(models.Model):
    """The people and systems one audience's messages go to: e-mail addresses and signed
    webhooks. A published customer, regulator or partner communication is delivered to every
    active member of the active lists it names (incidents.comms.delivery).

    A list may also follow a private status page (`follows_page`): that page's confirmed
    subscribers who may still see it are then members too. The status pages plug in through
    settings.WARROOM_LIST_PAGE_SUBSCRIBERS (the core knows no status page): `members_of` in
    incidents.comms.delivery is the one place that reads who is on a list."""

    AUDIENCES = (
        Communication.Audience.CUSTOMERS,
        Communication.Audience.REGULATORS,
        Communication.Audience.PARTNERS,
    )

    name = models.CharField(max_length=120, unique=True)
    audience = models.CharField(
        max_length=20, choices=[(a.value, a.label) for a in AUDIENCES], default=Communication.Audience.CUSTOMERS
    )
    active = models.BooleanField(default=True, help_text="An inactive list receives nothing")
    # The id of a private status page (statuspage.StatusPage; no foreign key: incidents/ never
    # depends on statuspage/) whose subscribers are members too; a deleted page adds no one.
    follows_page = models.PositiveIntegerField(
        null=True, blank=True, help_text="A private status page whose subscribers are members too"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["audience", "name"]

    def __str__(self):
        return self.name


class Recipient(models.Model):
    """One member of a recipient list: an e-mail address (with an optional name and language)
    or a webhook URL with its own signing secret."""

    class Kind(models.TextChoices):
        EMAIL = "email", _("E-mail")
        WEBHOOK = "webhook", _("Webhook")

    recipient_list = models.ForeignKey(RecipientList, on_delete=models.CASCADE, related_name="members")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    email = models.EmailField(max_length=254, blank=True)
    name = models.CharField(max_length=200, blank=True)
    language = models.CharField(max_length=15, blank=True, help_text="Empty: the message's own language")
    webhook_url = models.URLField(max_length=500, blank=True)
    secret = models.CharField(
        max_length=64, default=new_recipient_secret, help_text="HMAC key of the signature headers"
    )
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["recipient_list", "kind", "email", "webhook_url", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient_list", "email"], condition=Q(kind="email"), name="recipient_email_once_per_list"
            ),
            models.UniqueConstraint(
                fields=["recipient_list", "webhook_url"],
                condition=Q(kind="webhook"),
                name="recipient_webhook_once_per_list",
            ),
        ]

    def __str__(self):
        return self.address

    @property
    def address(self):
        return self.email if self.kind == self.Kind.EMAIL else self.webhook_url


class AudienceDelivery(models.Model):
    """Outbox row (incidents/outbox.py): one published communication to one recipient, written
    in the transaction that publishes it, then sent by a worker. Unique per communication and
    address, so a recipient on two of the chosen lists hears it once."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    communication = models.ForeignKey(Communication, on_delete=models.CASCADE, related_name="deliveries")
    recipient = models.ForeignKey(Recipient, null=True, on_delete=models.SET_NULL, related_name="deliveries")
    kind = models.CharField(max_length=10, choices=Recipient.Kind.choices)
    # What it was sent to, kept when the recipient is later removed (the audit trail says who got what).
    address = models.CharField(max_length=500)
    name = models.CharField(max_length=200, blank=True)
    list_name = models.CharField(max_length=120, blank=True)
    # A followed page's subscriber (no Recipient row): which one ("subscriber:<id>", read again
    # through settings.WARROOM_LIST_PAGE_SUBSCRIBERS when sending, for its secret and language
    # and whether it may still see the page) and the list that brought it in.
    member_ref = models.CharField(max_length=60, blank=True)
    recipient_list = models.ForeignKey(
        RecipientList, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["communication", "kind", "address"]
        verbose_name_plural = "audience deliveries"
        constraints = [
            models.UniqueConstraint(fields=["communication", "kind", "address"], name="audience_delivery_once"),
        ]
        indexes = [
            # The sweep: pending deliveries that are due (requeue_due).
            models.Index(fields=["next_attempt_at"], name="audience_delivery_due", condition=Q(status="pending")),
            # The sweep: rows stuck in "sending" (release_stuck: a worker died mid-delivery).
            models.Index(fields=["next_attempt_at"], name="audience_delivery_stuck", condition=Q(status="sending")),
        ]

    def __str__(self):
        return f"{self.communication_id} to {self.address}"

    MASK = "•••"

    @property
    def subscriber_number(self):
        """The followed page's subscriber this went to ("subscriber:12" -> "12"), else ""."""
        return self.member_ref.partition(":")[2]

    @property
    def masked_address(self):
        """The address with what names the person left out: j•••@acme.example for an e-mail, the
        scheme and host for a webhook (https://hooks.acme.example/•••). Enough to tell which
        customer a failure concerns and to ask someone who manages the lists about it."""
        if self.kind == Recipient.Kind.EMAIL:
            local, at, domain = self.address.rpartition("@")
            return f"{local[:1]}{self.MASK}@{domain}" if at else self.MASK
        try:
            parts = urlsplit(self.address)
        except ValueError:
            return self.MASK
        return f"{parts.scheme}://{parts.hostname}/{self.MASK}" if parts.scheme and parts.hostname else self.MASK

    def seen_by(self, user):
        """The delivery as `user` may see it (access.can_see_delivery_address): itself, or a copy
        for showing only, never saved, whose address is masked, name empty and error free of the
        address; `masked` says which."""
        if access.can_see_delivery_address(user, self):
            self.masked = False
            return self
        seen = copy.copy(self)
        seen.address = self.masked_address
        seen.name = ""
        seen.last_error = re.sub(re.escape(self.address), seen.address, self.last_error, flags=re.IGNORECASE)
        seen.masked = True
        return seen
