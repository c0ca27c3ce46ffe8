"""The admin for post-incident reviews and action items."""

from django import forms
from django.contrib import admin
from django.db import models
from django.utils import timezone

from incidents.models import Incident
from incidents.review.models import ActionItem, Review


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
