"""The admin for reminders and notification delivery: what was sent, what is retrying and why."""

from django.contrib import admin

from incidents.reminders import delivery as notify
from incidents.reminders.models import (
    IncidentWebhook,
    NotificationDelivery,
    NotificationPreference,
    ReminderLedger,
    Snooze,
    UserNotification,
)


@admin.register(IncidentWebhook)
class IncidentWebhookAdmin(admin.ModelAdmin):
    list_display = ["__str__", "incident", "format", "active", "disabled_reason", "created_at"]
    list_filter = ["active", "format"]
    search_fields = ["name", "url"]
    raw_id_fields = ["incident", "created_by"]
    readonly_fields = ["disabled_reason", "created_at"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        if obj.active:
            obj.disabled_reason = ""
        super().save_model(request, obj, form, change)


@admin.register(NotificationDelivery)
class NotificationDeliveryAdmin(admin.ModelAdmin):
    """Where admins see what was sent, what is retrying and why it failed."""

    list_display = ["id", "channel", "target", "key", "status", "attempts", "last_error", "next_attempt_at", "sent_at"]
    list_filter = ["status", "channel"]
    search_fields = ["key", "last_error", "webhook__url", "notification__user__username"]
    list_select_related = ["webhook", "notification__user"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in NotificationDelivery._meta.fields]
    actions = ["send_again"]

    @admin.display(description="to")
    def target(self, obj):
        return obj.webhook if obj.webhook_id else obj.notification.user

    @admin.action(description="Send again now (failed or pending rows)")
    def send_again(self, request, queryset):
        count = notify.retry_now(queryset.values_list("pk", flat=True))
        self.message_user(request, f"{count} deliveries queued again.")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(UserNotification)
class UserNotificationAdmin(admin.ModelAdmin):
    list_display = ["title", "user", "incident", "kind", "created_at", "read_at"]
    list_filter = ["kind"]
    search_fields = ["title", "key", "user__username"]
    list_select_related = ["user", "incident"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in UserNotification._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(ReminderLedger)
class ReminderLedgerAdmin(admin.ModelAdmin):
    list_display = ["incident", "key", "window", "repeat", "created_at"]
    search_fields = ["key"]
    list_select_related = ["incident"]
    readonly_fields = ["incident", "key", "window", "repeat", "created_at"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Snooze)
class SnoozeAdmin(admin.ModelAdmin):
    """Read-only: snoozes are made on the war-room page or the inbox, and logged there."""

    list_display = ["incident", "key", "until", "created_by", "reason"]
    list_select_related = ["incident", "created_by"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "email", "updated_at"]
    raw_id_fields = ["user"]
