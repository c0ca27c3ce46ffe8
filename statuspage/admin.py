from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from incidents import access
from incidents.admin import ThroughServices, changed_values
from incidents.forms import apply_errors, error_messages

from . import pages, services
from .models import (
    Maintenance,
    Notification,
    PageAccessLink,
    PublicComponent,
    PublicIncident,
    PublicUpdate,
    StatusPage,
    Subscriber,
)

# What services.change changes and the admin offers (with the services).
MAINTENANCE_EDITABLE = services.EDITABLE_FIELDS


class MaintenanceAdminForm(forms.ModelForm):
    class Meta:
        model = Maintenance
        fields = [*MAINTENANCE_EDITABLE, "services"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "services" in self.fields:
            self.fields["services"].required = False  # none: the whole platform, as in the app

    def clean(self):
        cleaned = super().clean()
        if self.has_changed():
            try:
                services.check_change(self.instance, **changed_values(self, MAINTENANCE_EDITABLE))
            except ValidationError as exc:
                apply_errors(self, exc)
        return cleaned


@admin.register(Maintenance)
class MaintenanceAdmin(ThroughServices, admin.ModelAdmin):
    """Change or cancel a window through statuspage.services (which re-export the status page);
    scheduling is in the app. A completed or cancelled window is history: read-only."""

    form = MaintenanceAdminForm
    list_display = ["title", "scheduled_for", "scheduled_until", "status", "cancelled"]
    list_filter = ["status", "cancelled"]
    filter_horizontal = ["services"]
    readonly_fields = ["public_id", "status", "cancelled", "created_by", "created_at", "updated_at"]
    actions = ["cancel"]

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is not None and (obj.cancelled or services.is_finished(obj)):
            readonly += [*MAINTENANCE_EDITABLE, "services"]
        return readonly

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and access.can_manage_maintenance(request.user)

    def has_delete_permission(self, request, obj=None):
        # Cancel instead: the window leaves the status page and the static export with it.
        return False

    def save_model(self, request, obj, form, change):
        changes = changed_values(form, MAINTENANCE_EDITABLE)
        if "services" in form.changed_data:
            changes["services"] = list(form.cleaned_data["services"])
        if changes:
            # The row as stored: the form has already put its values on `obj`.
            services.change(Maintenance.objects.get(pk=obj.pk), request.user, **changes)

    def save_related(self, request, form, formsets, change):
        # No form.save_m2m(): the services were set by services.change.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    @admin.action(description=_("Cancel the selected maintenance"))
    def cancel(self, request, queryset):
        cancelled = 0
        for maintenance in queryset.filter(cancelled=False):
            try:
                cancelled += services.cancel(maintenance, request.user)
            except (ValidationError, PermissionDenied) as exc:
                self.message_user(request, f"{maintenance}: {' '.join(error_messages(exc))}", messages.ERROR)
        if cancelled:
            self.message_user(
                request,
                ngettext("%d maintenance cancelled.", "%d maintenance windows cancelled.", cancelled) % cancelled,
            )


@admin.register(Subscriber)
class SubscriberAdmin(admin.ModelAdmin):
    list_display = ["__str__", "kind", "all_components", "confirmed_at", "unsubscribed_at", "created_at"]
    list_filter = ["kind", "all_components"]
    search_fields = ["email", "webhook_url"]
    readonly_fields = ["token", "secret", "created_at"]
    filter_horizontal = ["components"]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    """The delivery outbox: what was sent, what is pending, what failed and why."""

    list_display = ["key", "subscriber", "status", "attempts", "last_error", "next_attempt_at", "sent_at"]
    list_filter = ["status"]
    search_fields = ["key", "subscriber__email", "subscriber__webhook_url"]
    readonly_fields = ["subscriber", "key", "payload", "attempts", "last_error", "created_at", "sent_at"]
    list_select_related = ["subscriber"]


@admin.register(PublicIncident, PublicUpdate, PublicComponent)
class PublicIdAdmin(admin.ModelAdmin):
    """The stable public ids the status page shows; read-only."""

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False


# Status pages: through statuspage.services (the same rules as the staff pages) ------------------


class StatusPageAdminForm(forms.ModelForm):
    class Meta:
        model = StatusPage
        fields = [*services.PAGE_FIELDS, "services", "allowed_groups"]

    def clean(self):
        cleaned = super().clean()
        try:
            services.check_page(self.instance, **{k: v for k, v in cleaned.items() if k in services.PAGE_FIELDS})
        except ValidationError as exc:
            apply_errors(self, exc)
        return cleaned

    def validate_unique(self):
        pass  # check_page says it by field, in the page's words


class AccessLinkInline(admin.TabularInline):
    """A page's links, for reference; made and revoked through the links' own admin."""

    model = PageAccessLink
    extra = 0
    fields = ["label", "created_by", "created_at", "revoked_at"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(StatusPage)
class StatusPageAdmin(admin.ModelAdmin):
    form = StatusPageAdminForm
    list_display = ["__str__", "slug", "host", "visibility", "is_default"]
    filter_horizontal = ["services", "allowed_groups"]
    inlines = [AccessLinkInline]

    def has_add_permission(self, request):
        return super().has_add_permission(request) and access.can_manage_status_pages(request.user)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and access.can_manage_status_pages(request.user)

    def has_delete_permission(self, request, obj=None):
        allowed = super().has_delete_permission(request, obj) and access.can_manage_status_pages(request.user)
        return allowed and (obj is None or not obj.is_default)

    def save_model(self, request, obj, form, change):
        changes = {name: form.cleaned_data[name] for name in services.PAGE_FIELDS if name in form.cleaned_data}
        stored = StatusPage.objects.get(pk=obj.pk) if change else None
        saved = services.save_page(
            request.user,
            stored,
            services=list(form.cleaned_data.get("services", [])),
            allowed_groups=list(form.cleaned_data.get("allowed_groups", [])),
            **changes,
        )
        obj.pk = saved.pk

    def save_related(self, request, form, formsets, change):
        for formset in formsets:  # services and groups were set by services.save_page
            self.save_formset(request, form, formset, change=change)


class AccessLinkAdminForm(forms.ModelForm):
    class Meta:
        model = PageAccessLink
        fields = ["page", "label"]


@admin.register(PageAccessLink)
class PageAccessLinkAdmin(admin.ModelAdmin):
    """Make a link (its address is shown once, on saving) or revoke links (an action)."""

    form = AccessLinkAdminForm
    list_display = ["label", "page", "created_by", "created_at", "revoked_at"]
    list_filter = ["page"]
    actions = ["revoke"]

    def get_readonly_fields(self, request, obj=None):
        return ["page", "label", "created_by", "created_at", "revoked_at"] if obj is not None else []

    def has_add_permission(self, request):
        return super().has_add_permission(request) and access.can_manage_status_pages(request.user)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) and access.can_manage_status_pages(request.user)

    def has_delete_permission(self, request, obj=None):
        return False  # revoke instead: the row says who made it and when it stopped

    def save_model(self, request, obj, form, change):
        if change:
            return
        link, token = services.create_access_link(request.user, form.cleaned_data["page"], label=obj.label)
        obj.pk = link.pk
        address = pages.url(link.page) + f"?{pages.ACCESS_PARAMETER}={token}"
        message = _("The link, shown this once (only its hash is kept): %(url)s") % {"url": address}
        self.message_user(request, message, messages.WARNING)

    @admin.action(description=_("Revoke the selected access links"))
    def revoke(self, request, queryset):
        revoked = sum(services.revoke_access_link(request.user, link) for link in queryset)
        self.message_user(request, ngettext("%d link revoked.", "%d links revoked.", revoked) % revoked)
