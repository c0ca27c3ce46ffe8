"""The admin for the core's models. The wings register theirs in their own admin modules
(loaded by incidents.apps), so this module names no wing.

The admin never moves what the domain moves through states: an incident's status, severity,
confidentiality, times, roles and impacts are read-only here (the war room and the API change
them, with their rules, timeline entries and exports). What the admin does change goes through
the same service functions as the pages and the API."""

import contextlib

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from incidents import access, credentials, services, signin, twofactor
from incidents.models import (
    ApiToken,
    AuditEvent,
    Impact,
    Incident,
    LanguagePreference,
    Membership,
    Service,
    SignInIdentity,
    TimelineEntry,
    TimelineRevision,
)


class ThroughServices:
    """For a ModelAdmin whose saves call service functions. Its form checks the change first with
    the service's own rules; should the service still refuse it (someone changed the row between
    that check and the save), the view's transaction rolls back and the page says why with a
    409, instead of a 500."""

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            request.method = "GET"  # show the row as it is now
            response = super().changeform_view(request, object_id, form_url, extra_context)
            response.status_code = 409
            return response


def changed_values(form, names):
    """The fields among `names` that the admin's form changed, with their new values."""
    return {name: form.cleaned_data[name] for name in form.changed_data if name in names and name in form.cleaned_data}


class ReadOnlyInline(admin.TabularInline):
    """Rows shown for reference under their parent, never added, changed or removed here: the
    app changes them through its services, which check and log each change. The core's, the
    wings' and runbooks' read-only inlines build on it."""

    extra = 0

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyStackedInline(ReadOnlyInline):
    """ReadOnlyInline, each row as a block of its own (longer texts)."""

    template = admin.StackedInline.template


class MembershipInline(ReadOnlyInline):
    model = Membership
    fk_name = "incident"


class ImpactInline(ReadOnlyInline):
    model = Impact
    fk_name = "incident"


# What services.update_fields edits and the admin offers (confidentiality stays with the war room).
INCIDENT_EDITABLE = ("title", "summary", "kind", "services")
# What services.set_public_title edits.
PUBLIC_TITLE_FIELDS = ("public_title", "public_titles")


class IncidentAdminForm(forms.ModelForm):
    """Checks the public title with the service's own rules, so a refusal is a form error."""

    class Meta:
        model = Incident
        fields = [*INCIDENT_EDITABLE, *PUBLIC_TITLE_FIELDS]

    def clean(self):
        cleaned = super().clean()
        checks = (("public_title", services.check_public_title), ("public_titles", services.check_public_titles))
        for name, check in checks:
            if name in self.changed_data and name in cleaned:
                try:
                    cleaned[name] = check(cleaned[name] or ({} if name == "public_titles" else ""))
                except ValidationError as exc:
                    for field, errors in exc.message_dict.items():
                        self.add_error(field, errors)
        if "public_title" in self.changed_data and not cleaned.get("public_title") and self.instance.public_title:
            self.add_error(
                "public_title", gettext("An incident's public title cannot be removed; give a new one instead.")
            )
        return cleaned


@admin.register(Incident)
class IncidentAdmin(ThroughServices, admin.ModelAdmin):
    """Fix an incident's title, public title, summary, kind and affected services (logged on the
    timeline with old and new value); declaring and every state change are in the app."""

    form = IncidentAdminForm
    list_display = ["reference", "title", "severity", "status", "kind", "confidential", "declared_at"]
    list_filter = ["status", "severity", "kind", "confidential"]
    search_fields = ["title", "summary"]
    date_hierarchy = "declared_at"
    filter_horizontal = ["services"]
    inlines = [MembershipInline, ImpactInline]
    fields = [
        *INCIDENT_EDITABLE,
        *PUBLIC_TITLE_FIELDS,
        "status",
        "severity",
        "confidential",
        "started_at",
        "detected_at",
        "declared_at",
        "acknowledged_at",
        "mitigated_at",
        "resolved_at",
        "closed_at",
        "aware_at",
        "created_by",
        "updated_at",
    ]
    readonly_fields = [f for f in fields if f not in INCIDENT_EDITABLE + PUBLIC_TITLE_FIELDS]

    def has_add_permission(self, request):
        # Declaring makes the commander, the first timeline entry and the notifications.
        return False

    def has_delete_permission(self, request, obj=None):
        # The incident and its timeline are the audit trail (and deleting would cascade to both).
        return False

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or access.can_command(request.user, obj))

    def save_model(self, request, obj, form, change):
        changes = {name: form.cleaned_data[name] for name in form.changed_data if name in INCIDENT_EDITABLE}
        if "services" in changes:
            changes["services"] = list(changes["services"])
        if changes:
            services.update_fields(obj, request.user, **changes)
        public = changed_values(form, PUBLIC_TITLE_FIELDS)
        if public:
            services.set_public_title(
                obj, request.user, title=public.get("public_title"), titles=public.get("public_titles")
            )

    def save_related(self, request, form, formsets, change):
        # No form.save_m2m(): the affected services were set, and logged, by update_fields.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)


class ServiceAdminForm(forms.ModelForm):
    class Meta:
        model = Service
        fields = ["name", "slug", "group", "owner", "description", "public", "position"]

    def validate_unique(self):
        # The catalog's naming rule (case-insensitive names) is checked in clean(), as the API has it.
        pass

    def clean(self):
        cleaned = super().clean()
        if "name" in cleaned and "slug" in cleaned:
            try:
                existing = self.instance if self.instance.pk else None
                services.check_service_name(cleaned["name"].strip(), cleaned["slug"], existing)
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    self.add_error(field, errors)
        return cleaned


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    form = ServiceAdminForm
    list_display = ["name", "slug", "group", "owner", "public", "position"]
    list_filter = ["group", "public"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}

    def save_model(self, request, obj, form, change):
        values = {name: form.cleaned_data[name] for name in ServiceAdminForm.Meta.fields}
        if change:
            services.update_service(obj, request.user, **values)
        else:
            created = services.create_service(request.user, **values)
            # The admin goes on with `obj` (its change log, the redirect): make it the new row.
            obj.pk, obj.name, obj.slug, obj.created_at = created.pk, created.name, created.slug, created.created_at
            obj._state.adding, obj._state.db = False, created._state.db

    def get_actions(self, request):
        # A bulk delete would skip the rule below; delete services one at a time.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request, obj=None):
        # A service an incident named is part of that incident's history (services.delete_service).
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or not services.service_in_use(obj))

    def delete_model(self, request, obj):
        services.delete_service(obj, request.user)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    """Read-only: roles are assigned in the war room (services.assign_role), which logs them."""

    list_display = ["incident", "user", "role", "assigned_at"]
    list_filter = ["role"]
    search_fields = ["user__username"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Impact)
class ImpactAdmin(admin.ModelAdmin):
    """Read-only: impacts are recorded in the war room (services.add_impact), which logs them and
    re-exports the status page."""

    list_display = ["incident", "service", "level", "started_at", "ended_at"]
    list_filter = ["level", "service"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


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
    """Read-only: the earlier text of an edited timeline entry is part of the audit trail."""

    list_display = ["entry", "replaced_at", "replaced_by"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Who holds which token, and ending them (delete, recorded in the audit log). Issuing is
    the holder's (the tokens page, the API) or `manage.py create_api_token`: the key is shown
    once and never stored, so there is nothing here to show or edit."""

    list_display = ["name", "prefix", "user", "scope", "created", "last_used", "expires_at"]
    list_select_related = ["user"]
    search_fields = ["user__username", "prefix", "name"]
    readonly_fields = ["user", "name", "prefix", "scope", "created", "last_used", "expires_at"]
    exclude = ["key_hash"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def delete_model(self, request, obj):
        credentials.revoke_token(obj, request.user)

    def delete_queryset(self, request, queryset):
        for token in queryset.select_related("user"):
            credentials.revoke_token(token, request.user)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The organisation-wide audit log, to read: nothing is added, changed or deleted here
    (the page /audit/ filters and exports it)."""

    list_display = ["at", "actor_name", "action", "subject", "address"]
    list_filter = ["action"]
    search_fields = ["actor_name", "subject", "address"]
    date_hierarchy = "at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return access.can_read_audit_log(request.user)


@admin.register(LanguagePreference)
class LanguagePreferenceAdmin(admin.ModelAdmin):
    """Each person's language (incidents/languages.py): set by the person on /account/, shown
    here for support ("why are my e-mails in Chinese?"), never changed here."""

    list_display = ["user", "language", "updated_at"]
    list_select_related = ["user"]
    list_filter = ["language"]
    search_fields = ["user__username"]
    readonly_fields = ["user", "language", "updated_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(SignInIdentity)
class SignInIdentityAdmin(admin.ModelAdmin):
    """Which person at the OpenID provider signs in as which user (incidents/sso.py). Made at a
    first sign-in, never here; deleting one makes the next sign-in look the user up by name."""

    list_display = ["user", "subject", "issuer", "created", "last_sign_in"]
    list_select_related = ["user"]
    search_fields = ["user__username", "subject"]
    readonly_fields = ["user", "issuer", "subject", "created", "last_sign_in"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# Accounts: unlocking sign-in and resetting the second factor go through the same services as
# the pages (incidents.signin.unlock, incidents.twofactor.reset), so both are recorded. The
# second-factor devices themselves are not shown: their admin would show the TOTP secrets.
for model in (TOTPDevice, StaticDevice):
    with contextlib.suppress(admin.sites.NotRegistered):
        admin.site.unregister(model)

User = get_user_model()
with contextlib.suppress(admin.sites.NotRegistered):
    admin.site.unregister(User)


@admin.register(User)
class WarroomUserAdmin(UserAdmin):
    actions = ["unlock_signin", "reset_two_factor"]

    @admin.action(description="Unlock sign-in (lift the throttle's pause)")
    def unlock_signin(self, request, queryset):
        if not access.can_unlock_signin(request.user):
            self.message_user(request, "Only superusers and the security group may unlock sign-in.", messages.ERROR)
            return
        for user in queryset:
            signin.unlock(request.user, username=user.get_username())
        self.message_user(request, f"Sign-in unlocked for {queryset.count()} account(s).", messages.SUCCESS)

    @admin.action(description="Reset two-factor sign-in (lost phone)")
    def reset_two_factor(self, request, queryset):
        if not access.can_reset_two_factor(request.user):
            self.message_user(request, "Only superusers and the security group may reset two-factor.", messages.ERROR)
            return
        reset = [user.get_username() for user in queryset if twofactor.reset(user, request.user)]
        self.message_user(request, f"Two-factor reset for: {', '.join(reset) or 'nobody (none had it)'}.")
