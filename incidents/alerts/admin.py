"""The admin shows alert sources and their rules, read-only: connecting, changing, pausing and
rotating go through incidents.alerts.services on the Sources page and the API (a secret is
shown once there). Neither the secret's hash nor the signing key is shown. Alerts themselves are
not in the admin: the alert list scopes them to the incidents each person may see."""

from django.contrib import admin

from incidents.admin import ReadOnlyInline
from incidents.alerts.models import AlertRule, AlertSource


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class RuleInline(ReadOnlyInline):
    model = AlertRule
    fields = ["position", "name", "matchers", "service", "severity", "kind", "action"]


@admin.register(AlertSource)
class AlertSourceAdmin(ReadOnly):
    list_display = ["name", "kind", "owner", "paused", "require_signature", "secret_prefix", "secret_rotated_at"]
    list_filter = ["kind", "paused"]
    fields = [
        "name",
        "kind",
        "services",
        "owner",
        "paused",
        "require_signature",
        "grouping_minutes",
        "secret_prefix",
        "secret_rotated_at",
        "created_by",
        "created_at",
    ]
    inlines = [RuleInline]
