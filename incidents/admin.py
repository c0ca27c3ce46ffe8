from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from incidents.models import (
    ActionItem,
    Communication,
    CommunicationTemplate,
    CommunicationTranslation,
    ExposureAssessment,
    Impact,
    Incident,
    IncidentWebhook,
    Membership,
    Mitigation,
    NotificationDelivery,
    NotificationPreference,
    Obligation,
    RegulatoryClock,
    ReminderLedger,
    Review,
    Service,
    Snooze,
    Submission,
    TimelineEntry,
    TimelineRevision,
    UserNotification,
)
from incidents.reminders import delivery as notify
from incidents.security.clocks import validate_stages


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]
    fk_name = "incident"


class ImpactInline(admin.TabularInline):
    model = Impact
    extra = 0
    fk_name = "incident"


@admin.register(Incident)
class IncidentAdmin(admin.ModelAdmin):
    list_display = ["reference", "title", "severity", "status", "kind", "confidential", "declared_at"]
    list_filter = ["status", "severity", "kind", "confidential"]
    search_fields = ["title", "summary"]
    date_hierarchy = "declared_at"
    filter_horizontal = ["services"]
    inlines = [MembershipInline, ImpactInline]
    readonly_fields = ["declared_at", "updated_at", "created_by"]


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "group", "owner", "public", "position"]
    list_filter = ["group", "public"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["incident", "user", "role", "assigned_at"]
    list_filter = ["role"]
    search_fields = ["user__username"]


@admin.register(Impact)
class ImpactAdmin(admin.ModelAdmin):
    list_display = ["incident", "service", "level", "started_at", "ended_at"]
    list_filter = ["level", "service"]


class RevisionInline(admin.TabularInline):
    model = TimelineRevision
    extra = 0
    can_delete = False
    readonly_fields = ["body", "replaced_at", "replaced_by"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(TimelineEntry)
class TimelineEntryAdmin(admin.ModelAdmin):
    """Read-only: the timeline is append-only, and edits go through the war-room page."""

    list_display = ["incident", "occurred_at", "kind", "author", "body"]
    list_filter = ["kind"]
    search_fields = ["body"]
    inlines = [RevisionInline]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False


@admin.register(TimelineRevision)
class TimelineRevisionAdmin(admin.ModelAdmin):
    list_display = ["entry", "replaced_at", "replaced_by"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False


class TranslationInline(admin.StackedInline):
    model = CommunicationTranslation
    extra = 0


@admin.register(Communication)
class CommunicationAdmin(admin.ModelAdmin):
    """Read and audit communications here; the workflow (approval, publishing) is in the app."""

    list_display = ["incident", "audience", "status", "author", "approved_by", "published_at"]
    list_filter = ["audience", "status"]
    search_fields = ["body", "title"]
    readonly_fields = [
        "incident",
        "status",
        "author",
        "approved_by",
        "approved_at",
        "scheduled_for",
        "published_at",
        "published_by",
        "created_at",
        "updated_at",
    ]
    inlines = [TranslationInline]


@admin.register(CommunicationTemplate)
class CommunicationTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "audience", "public_status", "language"]
    list_filter = ["audience"]


@admin.register(Mitigation)
class MitigationAdmin(admin.ModelAdmin):
    list_display = ["title", "incident", "public", "started_at", "review_by", "ended_at"]
    list_filter = ["public"]
    search_fields = ["title", "description", "public_explanation"]


@admin.register(ExposureAssessment)
class ExposureAssessmentAdmin(admin.ModelAdmin):
    list_display = ["incident", "certainty", "people_affected", "confidence", "updated_at"]
    list_filter = ["certainty", "confidence"]


class ObligationForm(forms.ModelForm):
    class Meta:
        model = Obligation
        fields = [
            "key",
            "regime",
            "recipient",
            "clock_starts",
            "stages",
            "jurisdictions",
            "data_categories",
            "personal_data",
            "notes",
            "proposed",
            "active",
        ]

    def clean_stages(self):
        stages = self.cleaned_data["stages"]
        try:
            validate_stages(stages)
        except ValidationError as exc:
            raise forms.ValidationError(exc.message_dict.get("stages", exc.messages)) from exc
        return stages


@admin.register(Obligation)
class ObligationAdmin(admin.ModelAdmin):
    """The notification duty catalog: defaults to check with counsel, not legal advice."""

    form = ObligationForm
    list_display = ["key", "regime", "recipient", "proposed", "active"]
    list_filter = ["active", "proposed"]
    search_fields = ["key", "regime", "notes"]


class SubmissionInline(admin.TabularInline):
    model = Submission
    extra = 0

    def get_formset(self, request, obj=None, **kwargs):
        # The communication chooser offers (and accepts) only the clock's own incident's
        # communications, never those of other incidents, confidential ones included.
        formset = super().get_formset(request, obj, **kwargs)
        field = formset.form.base_fields.get("communication")
        if field is not None:
            field.queryset = Communication.objects.filter(incident_id=obj.incident_id if obj else None)
        return formset


@admin.register(RegulatoryClock)
class RegulatoryClockAdmin(admin.ModelAdmin):
    list_display = ["incident", "obligation", "started_at", "status"]
    list_filter = ["status", "obligation"]
    inlines = [SubmissionInline]


# Reminders and notification delivery ---------------------------------------------------------


@admin.register(IncidentWebhook)
class IncidentWebhookAdmin(admin.ModelAdmin):
    list_display = ["__str__", "incident", "format", "active", "disabled_reason", "created_at"]
    list_filter = ["active", "format"]
    search_fields = ["name", "url"]
    raw_id_fields = ["incident", "created_by"]
    readonly_fields = ["disabled_reason", "created_at"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        if obj.active:
            obj.disabled_reason = ""
        super().save_model(request, obj, form, change)


@admin.register(NotificationDelivery)
class NotificationDeliveryAdmin(admin.ModelAdmin):
    """Where admins see what was sent, what is retrying and why it failed."""

    list_display = ["id", "channel", "target", "key", "status", "attempts", "last_error", "next_attempt_at", "sent_at"]
    list_filter = ["status", "channel"]
    search_fields = ["key", "last_error", "webhook__url", "notification__user__username"]
    list_select_related = ["webhook", "notification__user"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in NotificationDelivery._meta.fields]
    actions = ["send_again"]

    @admin.display(description="to")
    def target(self, obj):
        return obj.webhook if obj.webhook_id else obj.notification.user

    @admin.action(description="Send again now (failed or pending rows)")
    def send_again(self, request, queryset):
        count = notify.retry_now(queryset.values_list("pk", flat=True))
        self.message_user(request, f"{count} deliveries queued again.")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(UserNotification)
class UserNotificationAdmin(admin.ModelAdmin):
    list_display = ["title", "user", "incident", "kind", "created_at", "read_at"]
    list_filter = ["kind"]
    search_fields = ["title", "key", "user__username"]
    list_select_related = ["user", "incident"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in UserNotification._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(ReminderLedger)
class ReminderLedgerAdmin(admin.ModelAdmin):
    list_display = ["incident", "key", "window", "repeat", "created_at"]
    search_fields = ["key"]
    list_select_related = ["incident"]
    readonly_fields = ["incident", "key", "window", "repeat", "created_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Snooze)
class SnoozeAdmin(admin.ModelAdmin):
    """Read-only: snoozes are made on the war-room page or the inbox, and logged there."""

    list_display = ["incident", "key", "until", "created_by", "reason"]
    list_select_related = ["incident", "created_by"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "email", "updated_at"]
    raw_id_fields = ["user"]


# Post-incident review and action items -----------------------------------------------------


class OwnerSeesIncidentForm(forms.ModelForm):
    """The rule incidents.review.services keeps: an owner must be able to see the incident (nobody
    outside a confidential incident hears of its follow-ups)."""

    def clean(self):
        cleaned = super().clean()
        owner = cleaned.get("owner")
        incident = cleaned.get("incident") or getattr(self.instance, "incident", None)
        visible = Incident.objects.visible_to(owner) if owner is not None else None
        if incident is not None and visible is not None and not visible.filter(pk=incident.pk).exists():
            self.add_error("owner", f"{owner.get_username()} cannot see this confidential incident.")
        return cleaned


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    """Fix a review here; starting, publishing and reopening are in the app (and logged there)."""

    form = OwnerSeesIncidentForm
    list_display = ["incident", "status", "owner", "meeting_at", "version", "updated_by", "updated_at", "published_at"]
    list_filter = ["status"]
    search_fields = ["incident__title", "body", "owner__username"]
    list_select_related = ["incident", "owner", "updated_by"]
    date_hierarchy = "created_at"
    autocomplete_fields = ["owner"]
    readonly_fields = [
        "incident",
        "status",
        "version",
        "created_by",
        "created_at",
        "updated_by",
        "updated_at",
        "published_at",
    ]

    def has_add_permission(self, request):
        return False

    def save_model(self, request, obj, form, change):
        # An editor who loaded the earlier version must not overwrite this change unawares.
        obj.version += 1
        obj.updated_by = request.user
        obj.updated_at = timezone.now()
        super().save_model(request, obj, form, change)


@admin.register(ActionItem)
class ActionItemAdmin(admin.ModelAdmin):
    form = OwnerSeesIncidentForm
    list_display = ["title", "incident", "owner", "due_on", "priority", "status", "completed_at"]
    list_filter = ["status", "priority"]
    search_fields = ["title", "description", "owner__username", "tracker_url"]
    list_select_related = ["incident", "owner"]
    date_hierarchy = "due_on"
    raw_id_fields = ["incident"]
    autocomplete_fields = ["owner"]
    readonly_fields = ["created_by", "created_at", "updated_at", "completed_at", "completed_by"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def save_model(self, request, obj, form, change):
        now = timezone.now()
        if not change:
            obj.created_by = request.user
            obj.created_at = now
        # An item is completed exactly when it is not open (a constraint holds it to that).
        if obj.status == ActionItem.Status.OPEN:
            obj.completed_at = obj.completed_by = None
        elif obj.completed_at is None:
            obj.completed_at, obj.completed_by = now, request.user
        obj.updated_at = now
        super().save_model(request, obj, form, change)
