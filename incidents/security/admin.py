"""The admin for the security wing: mitigations, exposure assessments, the obligation catalog
and legal clocks."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from incidents.security.clocks import check_stages_change, validate_stages
from incidents.security.models import ExposureAssessment, Mitigation, Obligation, RegulatoryClock, Submission


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


class SubmissionInline(admin.TabularInline):
    model = Submission
    extra = 0

    def get_formset(self, request, obj=None, **kwargs):
        # The communication chooser offers (and accepts) only the clock's own incident's
        # communications, never those of other incidents, confidential ones included.
        formset = super().get_formset(request, obj, **kwargs)
        field = formset.form.base_fields.get("communication")
        if field is not None:
            field.queryset = field.queryset.filter(incident_id=obj.incident_id if obj else None)
        return formset


@admin.register(RegulatoryClock)
class RegulatoryClockAdmin(admin.ModelAdmin):
    """A clock's start and status move its deadlines: they change in the app (start_clock,
    correct_clock_start, mark_not_required), which logs each change on the timeline."""

    list_display = ["incident", "obligation", "started_at", "status"]
    list_filter = ["status", "obligation"]
    readonly_fields = ["incident", "obligation", "started_at", "status"]
    inlines = [SubmissionInline]

    def has_add_permission(self, request):
        return False
