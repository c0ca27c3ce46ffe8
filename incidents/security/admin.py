"""The admin for the security wing: mitigations, exposure assessments, the obligation catalog
and legal clocks. What it changes goes through incidents.security.mitigations (validated, logged
on the timeline with old and new value, a public mitigation re-shown on the status page);
recording a mitigation, starting a clock and recording a submission are in the app."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from incidents import access
from incidents.admin import ReadOnlyInline, ThroughServices, changed_values
from incidents.forms import apply_errors, error_messages
from incidents.security import mitigations as security
from incidents.security.clocks import check_stages_change, validate_stages
from incidents.security.models import ExposureAssessment, Mitigation, Obligation, RegulatoryClock, Submission


class SecurityRecordAdmin(ThroughServices, admin.ModelAdmin):
    """Changed by the people the app lets manage the incident's security records; added in the
    app, never deleted (they are the incident's audit trail)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or access.can_manage_security(request.user, obj.incident))

    def has_delete_permission(self, request, obj=None):
        return False


# What update_mitigation changes and the admin offers. The start and end are the domain's: set
# when the mitigation is recorded and when it is lifted (in the app, or by the action below).
MITIGATION_EDITABLE = ("title", "description", "affects", "owner", "review_by", "public", "public_explanation")


class MitigationAdminForm(forms.ModelForm):
    class Meta:
        model = Mitigation
        fields = list(MITIGATION_EDITABLE)

    def clean(self):
        cleaned = super().clean()
        changes = changed_values(self, MITIGATION_EDITABLE)
        if changes:
            try:
                security.check_mitigation(self.instance, **changes)
            except ValidationError as exc:
                apply_errors(self, exc)
        return cleaned


@admin.register(Mitigation)
class MitigationAdmin(SecurityRecordAdmin):
    form = MitigationAdminForm
    list_display = ["title", "incident", "public", "started_at", "review_by", "ended_at"]
    list_filter = ["public"]
    search_fields = ["title", "description", "public_explanation"]
    fields = ["incident", *MITIGATION_EDITABLE, "started_at", "ended_at", "created_by", "updated_at"]
    readonly_fields = ["incident", "started_at", "ended_at", "created_by", "updated_at"]
    actions = ["lift"]

    def get_readonly_fields(self, request, obj=None):
        if obj is not None and obj.ended_at is not None:
            return self.fields  # lifted: what was in force is history
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        changes = changed_values(form, MITIGATION_EDITABLE)
        if changes:
            security.update_mitigation(obj, request.user, **changes)

    @admin.action(description=_("Lift the selected mitigations"))
    def lift(self, request, queryset):
        lifted = 0
        for mitigation in queryset.filter(ended_at__isnull=True).select_related("incident"):
            try:
                security.lift_mitigation(mitigation, request.user)
            except (ValidationError, PermissionDenied) as exc:
                self.message_user(request, f"{mitigation}: {' '.join(error_messages(exc))}", messages.ERROR)
            else:
                lifted += 1
        if lifted:
            self.message_user(request, ngettext("%d mitigation lifted.", "%d mitigations lifted.", lifted) % lifted)


class ExposureAdminForm(forms.ModelForm):
    class Meta:
        model = ExposureAssessment
        fields = list(security.EXPOSURE_FIELDS)

    def clean(self):
        cleaned = super().clean()
        try:
            security.check_exposure(changed_values(self, security.EXPOSURE_FIELDS))
        except ValidationError as exc:
            apply_errors(self, exc)
        return cleaned


@admin.register(ExposureAssessment)
class ExposureAssessmentAdmin(SecurityRecordAdmin):
    form = ExposureAdminForm
    list_display = ["incident", "certainty", "people_affected", "confidence", "updated_at"]
    list_filter = ["certainty", "confidence"]
    fields = ["incident", *security.EXPOSURE_FIELDS, "updated_by", "updated_at"]
    readonly_fields = ["incident", "updated_by", "updated_at"]

    def save_model(self, request, obj, form, change):
        changes = changed_values(form, security.EXPOSURE_FIELDS)
        if changes:
            security.assess_exposure(obj.incident, request.user, **changes)


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
            # The same rule the API keeps: stages in use by a clock would move its deadlines.
            check_stages_change(self.instance, stages)
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


class SubmissionInline(ReadOnlyInline):
    """Read-only: a submission completes a stage of the clock, so it is recorded in the app
    (clocks.record_submission), which checks it and logs it on the timeline."""

    model = Submission
    fields = ["stage", "submitted_at", "submitted_by", "reference", "communication", "notes"]


@admin.register(RegulatoryClock)
class RegulatoryClockAdmin(admin.ModelAdmin):
    """A clock moves its deadlines: its start, status and target change in the app (start_clock,
    correct_clock_start, mark_not_required), which logs each change on the timeline."""

    list_display = ["incident", "obligation", "started_at", "status"]
    list_filter = ["status", "obligation"]
    readonly_fields = [
        "incident",
        "obligation",
        "started_at",
        "status",
        "not_required_reason",
        "target_hours",
        "created_by",
        "created_at",
    ]
    inlines = [SubmissionInline]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        # A clock and its submissions are the record of a legal duty met (or not).
        return False
