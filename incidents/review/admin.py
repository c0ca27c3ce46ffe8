"""The admin for post-incident reviews and action items. What it changes goes through
incidents.review.services (validated, logged on the timeline); starting, publishing and
reopening a review are in the app (and logged there)."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db import models

from incidents import access
from incidents.admin import ThroughServices, changed_values
from incidents.forms import apply_errors
from incidents.review import services as review
from incidents.review.models import ActionItem, Review


class ReviewAdminForm(forms.ModelForm):
    # The version the editor loaded: update_review refuses to save over someone's later edit.
    loaded_version = forms.IntegerField(widget=forms.HiddenInput)

    class Meta:
        model = Review
        fields = list(review.REVIEW_FIELDS)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["loaded_version"].initial = self.instance.version

    def clean(self):
        cleaned = super().clean()
        changes = changed_values(self, review.REVIEW_FIELDS)
        if changes and "loaded_version" in cleaned:
            try:
                review.check_review(self.instance, version=cleaned["loaded_version"], **changes)
            except ValidationError as exc:
                apply_errors(self, exc)
        return cleaned


@admin.register(Review)
class ReviewAdmin(ThroughServices, admin.ModelAdmin):
    """Fix a draft review's text, owner or meeting time here (update_review)."""

    form = ReviewAdminForm
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

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None and obj.status != Review.Status.DRAFT:
            readonly += review.REVIEW_FIELDS  # published: reopen it in the app to edit it
        return readonly

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or access.can_edit_review(request.user, obj.incident))

    def has_delete_permission(self, request, obj=None):
        # A review is part of the incident's record (and its publication is on the timeline).
        return False

    def save_model(self, request, obj, form, change):
        changes = changed_values(form, review.REVIEW_FIELDS)
        if changes:
            review.update_review(obj, request.user, version=form.cleaned_data["loaded_version"], **changes)


# What add_action_item takes; update_action_item changes these and the status.
ITEM_NEW = ("title", "description", "owner", "due_on", "priority", "tracker_url")


class ActionItemAdminForm(forms.ModelForm):
    # No Meta: the admin makes the form class (with its URL scheme override) from its fields.

    def clean(self):
        cleaned = super().clean()
        try:
            if self.instance.pk is None:
                if cleaned.get("incident") is not None:
                    values = {name: cleaned[name] for name in ITEM_NEW if name in cleaned}
                    review.check_action_item(cleaned["incident"], **values)
            elif changes := changed_values(self, review.ITEM_FIELDS):
                review.check_action_item(self.instance.incident, self.instance, **changes)
        except ValidationError as exc:
            apply_errors(self, exc)
        return cleaned


@admin.register(ActionItem)
class ActionItemAdmin(ThroughServices, admin.ModelAdmin):
    """Add and change action items through add_action_item and update_action_item (marking one
    done records when and by whom; each change is on the timeline)."""

    form = ActionItemAdminForm
    list_display = ["title", "incident", "owner", "due_on", "priority", "status", "completed_at"]
    list_filter = ["status", "priority"]
    search_fields = ["title", "description", "owner__username", "tracker_url"]
    list_select_related = ["incident", "owner"]
    date_hierarchy = "due_on"
    raw_id_fields = ["incident"]
    autocomplete_fields = ["owner"]
    readonly_fields = ["created_by", "created_at", "updated_at", "completed_at", "completed_by"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        # An item stays on its incident; a new one starts open.
        return [*readonly, "incident"] if obj is not None else [*readonly, "status"]

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or access.can_edit_action_item(request.user, obj))

    def has_delete_permission(self, request, obj=None):
        # Dropping an item is a status (won't do), logged on the timeline.
        return False

    def save_model(self, request, obj, form, change):
        if change:
            changes = changed_values(form, review.ITEM_FIELDS)
            if changes:
                review.update_action_item(obj, request.user, **changes)
            return
        values = {name: form.cleaned_data[name] for name in ITEM_NEW}
        created = review.add_action_item(form.cleaned_data["incident"], request.user, **values)
        # The admin goes on with `obj` (its change log, the redirect): make it the new row.
        obj.pk, obj.created_by, obj.created_at = created.pk, created.created_by, created.created_at
        obj._state.adding, obj._state.db = False, created._state.db
