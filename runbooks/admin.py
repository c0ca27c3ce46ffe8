from django.contrib import admin

from .models import Runbook, RunbookRun, RunbookStep, RunbookVersion, StepRun


@admin.register(Runbook)
class RunbookAdmin(admin.ModelAdmin):
    list_display = ["slug", "latest", "archived", "updated_at"]
    list_filter = ["archived"]
    search_fields = ["slug"]
    readonly_fields = ["latest", "created_at", "updated_at"]


class StepInline(admin.TabularInline):
    model = RunbookStep
    extra = 0
    can_delete = False
    readonly_fields = ["position", "title", "role", "expected_minutes", "critical"]
    exclude = ["body"]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(RunbookVersion)
class RunbookVersionAdmin(admin.ModelAdmin):
    """Read-only: versions are immutable; edit a runbook in the app to make a new one."""

    list_display = ["runbook", "number", "title", "min_severity", "created_at"]
    search_fields = ["title", "runbook__slug"]
    inlines = [StepInline]

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False


class StepRunInline(admin.TabularInline):
    model = StepRun
    extra = 0
    fields = ["position", "step", "status", "assignee", "reason", "note"]
    readonly_fields = ["position", "step"]


@admin.register(RunbookRun)
class RunbookRunAdmin(admin.ModelAdmin):
    list_display = ["incident", "version", "started_at", "started_by"]
    inlines = [StepRunInline]


@admin.register(StepRun)
class StepRunAdmin(admin.ModelAdmin):
    list_display = ["run", "position", "status", "assignee", "updated_at"]
    list_filter = ["status"]


@admin.register(RunbookStep)
class RunbookStepAdmin(admin.ModelAdmin):
    """Steps belong to immutable versions: read-only here."""

    list_display = ["version", "position", "title", "role", "critical"]
    list_filter = ["role", "critical"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False
