from django.contrib import admin

from .models import Maintenance, Notification, PublicComponent, PublicIncident, PublicUpdate, Subscriber


@admin.register(Maintenance)
class MaintenanceAdmin(admin.ModelAdmin):
    list_display = ["title", "scheduled_for", "scheduled_until", "status", "cancelled"]
    list_filter = ["status", "cancelled"]
    filter_horizontal = ["services"]
    readonly_fields = ["public_id", "status", "created_at", "updated_at"]


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
