from django.contrib import admin

from incidents.admin import ReadOnlyInline

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


class StepRunInline(ReadOnlyInline):
    """Read-only: a step's status, assignee and note change in the war room (services.change_step),
    which logs each change on the incident's timeline."""

    model = StepRun
    fields = ["position", "step", "status", "assignee", "reason", "note"]


@admin.register(RunbookRun)
class RunbookRunAdmin(admin.ModelAdmin):
    """Runs are attached to incidents in the war room (services.attach), which logs them."""

    list_display = ["incident", "version", "started_at", "started_by"]
    inlines = [StepRunInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(StepRun)
class StepRunAdmin(admin.ModelAdmin):
    """Read-only, as in the run's inline above."""

    list_display = ["run", "position", "status", "assignee", "updated_at"]
    list_filter = ["status"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(RunbookStep)
class RunbookStepAdmin(admin.ModelAdmin):
    """Steps belong to immutable versions: read-only here."""

    list_display = ["version", "position", "title", "role", "critical"]
    list_filter = ["role", "critical"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False
