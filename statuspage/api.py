"""REST API for scheduled maintenance, /api/v1/maintenances/: the list, one window, schedule
(POST), change (PATCH or PUT) and cancel (POST .../<id>/cancel/). Thin, like incidents.api:
validate the shapes, authorise (incidents.access.can_manage_maintenance, the staff pages' rule),
call statuspage.services, which holds the rules (a window ends after it starts and in the
future; a completed or cancelled one no longer changes).

Who: anyone signed in reads (maintenance is public anyway, internal services included here as
on the staff list); comms staff, commanders and superusers write, and anyone else gets a 403
saying so before their input is judged. A window that can no longer change answers 409.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException
from rest_framework.response import Response

from incidents import access
from incidents.api import SaneDateTimeField, ServiceRefField, call_service
from incidents.idempotency import IdempotentCreateModelMixin

from . import services
from .models import Maintenance
from .views import page_path


class NoLongerChangeable(APIException):
    """409: the window completed or was cancelled since the caller read it."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class MaintenanceSerializer(serializers.ModelSerializer):
    services = ServiceRefField(
        many=True,
        required=False,
        help_text="Slugs of the affected services; none (the default) means the whole platform. "
        "Internal services are accepted but never shown on the status page.",
    )
    scheduled_for = SaneDateTimeField(help_text="When the window starts")
    scheduled_until = SaneDateTimeField(help_text="When it ends: after it starts, and in the future")
    verify_minutes = serializers.IntegerField(
        min_value=0,
        max_value=24 * 60,
        required=False,
        default=15,
        help_text="How long the status page says “verifying” after the window ends",
    )
    status = serializers.SerializerMethodField(
        help_text="scheduled, in_progress, verifying or completed by the clock; cancelled once called off"
    )
    public_url = serializers.SerializerMethodField(
        help_text="Its page on the public status page; null when not shown there (cancelled, or internal services only)"
    )
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = Maintenance
        fields = [
            "id",
            "public_id",
            "title",
            "body",
            "services",
            "scheduled_for",
            "scheduled_until",
            "verify_minutes",
            "status",
            "cancelled",
            "public_url",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["public_id", "cancelled", "created_at", "updated_at"]
        extra_kwargs = {"body": {"required": False, "help_text": "Markdown: what changes for users"}}

    def get_status(self, m) -> str:
        return "cancelled" if m.cancelled else m.status_at(self.context.get("now"))

    def get_public_url(self, m) -> str | None:
        chosen = list(m.services.all())
        if m.cancelled or (chosen and not any(s.public for s in chosen)):
            return None
        return self.context["request"].build_absolute_uri(page_path("maintenance", m.public_id))

    def validate(self, data):
        scheduled_for = data.get("scheduled_for", getattr(self.instance, "scheduled_for", None))
        scheduled_until = data.get("scheduled_until", getattr(self.instance, "scheduled_until", None))
        if scheduled_for and scheduled_until and scheduled_until <= scheduled_for:
            raise serializers.ValidationError({"scheduled_until": [gettext("The window must end after it starts.")]})
        return data

    def create(self, validated):
        return call_service(services.schedule, self.context["request"].user, **validated)

    def update(self, maintenance, validated):
        try:
            services.check_change(maintenance)
        except DjangoValidationError as exc:
            raise NoLongerChangeable(" ".join(exc.messages)) from exc
        return call_service(services.change, maintenance, self.context["request"].user, **validated)


class MaintenancePermission(permissions.BasePermission):
    """Reading for everyone signed in; writing for maintenance managers, asked before the input
    is judged."""

    def has_permission(self, request, view):
        if request.method in permissions.SAFE_METHODS or getattr(view, "swagger_fake_view", False):
            return True
        # The staff pages' own words (statuspage.services), in the caller's language.
        self.message = gettext("Only comms staff and commanders may schedule or change maintenance.")
        return access.can_manage_maintenance(request.user)


class MaintenanceViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    IdempotentCreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Scheduled maintenance windows, newest start first (cancelled ones included, with
    `status: cancelled`). The status page shows those that are not cancelled and touch a public
    service or none at all (the whole platform)."""

    serializer_class = MaintenanceSerializer
    permission_classes = [permissions.IsAuthenticated, MaintenancePermission]

    def get_queryset(self):
        return (
            Maintenance.objects.select_related("created_by")
            .prefetch_related("services")
            .order_by("-scheduled_for", "-id")
        )

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "now": timezone.now()}

    def perform_update(self, serializer):
        with transaction.atomic():
            serializer.save()

    @extend_schema(request=None, responses=MaintenanceSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Call the window off: it disappears from the status page, its JSON and feeds at once.
        Cancelling a cancelled window again changes nothing (200); a completed one is a 409."""
        maintenance = self.get_object()
        try:
            services.cancel(maintenance, request.user)
        except DjangoValidationError as exc:
            raise NoLongerChangeable(" ".join(exc.messages)) from exc
        return Response(self.get_serializer(self.get_queryset().get(pk=maintenance.pk)).data)
