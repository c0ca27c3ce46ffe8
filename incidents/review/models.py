"""Models of the review wing: post-incident reviews and action items.

They keep the `incidents` app label (the app that contains this module), so their tables
and migrations stay where they are; incidents/models.py imports them so Django finds them."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from incidents.models import Incident

User = settings.AUTH_USER_MODEL


class Review(models.Model):
    """The post-incident review of one incident: a Markdown document drafted from the timeline,
    edited by the team, then published. Its metrics are computed from the incident's times
    (incidents.review.services.metrics), never stored, so a corrected time corrects the review."""

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
        return reverse("incidents:review:page", args=[self.incident.key])


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
