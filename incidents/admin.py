from django.contrib import admin

from .models import Impact, Incident, Membership, Service, TimelineEntry, TimelineRevision


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
