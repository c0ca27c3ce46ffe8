"""REST API under /api/v1/: serializers and viewsets. Thin: validate, scope to the user
(through incidents.access), call incidents.services."""

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import mixins, serializers, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.views import exception_handler as drf_exception_handler

from . import access, services
from .filters import IncidentFilter, ServiceFilter
from .models import Impact, Incident, Membership, Service, TimelineEntry, TimelineRevision, status_from_rank

User = get_user_model()


def exception_handler(exc, context):
    """Errors are JSON with the field at fault and a human message; a service's Django
    ValidationError becomes a 400 in DRF's usual {field: [messages]} shape."""
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = ValidationError(detail)
    return drf_exception_handler(exc, context)


def _call(operation, *args, **kwargs):
    try:
        return operation(*args, **kwargs)
    except DjangoValidationError as exc:
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        raise ValidationError(detail) from exc


@extend_schema_field({"type": "string", "description": "Username"})
class UsernameField(serializers.SlugRelatedField):
    def __init__(self, **kwargs):
        super().__init__(slug_field=User.USERNAME_FIELD, **kwargs)

    def get_queryset(self):
        return User.objects.filter(is_active=True)


@extend_schema_field({"type": "string", "description": "Service slug (or numeric id)"})
class ServiceRefField(serializers.RelatedField):
    default_error_messages = {"unknown": "Unknown service {value!r}."}

    def get_queryset(self):
        return Service.objects.all()

    def to_internal_value(self, data):
        value = str(data).strip()
        service = Service.objects.filter(slug=value).first()
        if service is None and value.isdigit():
            service = Service.objects.filter(pk=int(value)).first()
        if service is None:
            self.fail("unknown", value=value)
        return service

    def to_representation(self, value):
        return value.slug


# Incidents -----------------------------------------------------------------------------------


class IncidentSerializer(serializers.ModelSerializer):
    reference = serializers.CharField(read_only=True)
    severity = serializers.ChoiceField(choices=Incident.Severity.values)
    status = serializers.ChoiceField(choices=Incident.Status.values, required=False)
    kind = serializers.ChoiceField(choices=Incident.Kind.values, required=False)
    services = ServiceRefField(many=True, required=False)
    commander = UsernameField(required=False, help_text="Username; defaults to the declaring user")
    reason = serializers.CharField(write_only=True, required=False, help_text="Why a time was corrected")

    class Meta:
        model = Incident
        fields = [
            "id",
            "reference",
            "title",
            "summary",
            "severity",
            "status",
            "kind",
            "confidential",
            "services",
            "commander",
            "started_at",
            "detected_at",
            "declared_at",
            "acknowledged_at",
            "mitigated_at",
            "resolved_at",
            "closed_at",
            "updated_at",
            "reason",
        ]
        read_only_fields = ["declared_at", "updated_at"]
        extra_kwargs = {"started_at": {"required": False}}

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["commander"] = next(
            (m.user.get_username() for m in instance.memberships.all() if m.role == Membership.Role.COMMANDER), None
        )
        return data

    def validate(self, attrs):
        now = timezone.now()
        for field in Incident.CORRECTABLE_TIMES:
            if attrs.get(field) and attrs[field] > now:
                raise ValidationError({field: "A recorded time cannot be in the future."})
        if self.instance is None and attrs.get("status", Incident.Status.INVESTIGATING) != "investigating":
            raise ValidationError({"status": "A new incident starts as investigating."})
        return attrs

    def create(self, validated):
        user = self.context["request"].user
        return _call(
            services.declare,
            user,
            title=validated["title"],
            summary=validated.get("summary", ""),
            severity=validated["severity"],
            kind=validated.get("kind", Incident.Kind.AVAILABILITY),
            confidential=validated.get("confidential", False),
            services=validated.get("services", []),
            started_at=validated.get("started_at"),
            detected_at=validated.get("detected_at"),
            commander=validated.get("commander"),
        )

    def update(self, incident, validated):
        user = self.context["request"].user
        reason = validated.pop("reason", "")
        fields = {
            k: validated.pop(k) for k in ("title", "summary", "kind", "confidential", "services") if k in validated
        }
        if fields:
            _call(services.update_fields, incident, user, **fields)
        if "severity" in validated:
            _call(services.change_severity, incident, validated.pop("severity"), user)
        if "commander" in validated:
            _call(services.hand_over_command, incident, validated.pop("commander"), user)
        for field in Incident.CORRECTABLE_TIMES:
            if field in validated:
                _call(services.correct_time, incident, field, validated.pop(field), user, reason)
        if "status" in validated and validated["status"] != incident.status:
            _call(services.change_status, incident, validated.pop("status"), user)
        return Incident.objects.prefetch_related(*INCIDENT_PREFETCH).get(pk=incident.pk)


INCIDENT_PREFETCH = (
    Prefetch("memberships", queryset=Membership.objects.select_related("user")),
    "services",
)


class IncidentViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Incidents the caller may see. Declaring needs the commander role; changes need command
    of the incident. A confidential incident is a 404 to non-members."""

    serializer_class = IncidentSerializer
    filterset_class = IncidentFilter

    def get_queryset(self):
        return Incident.objects.visible_to(self.request.user).open_first().prefetch_related(*INCIDENT_PREFETCH)

    def perform_update(self, serializer):
        if not access.can_command(self.request.user, serializer.instance):
            raise PermissionDenied("Only the incident's commanders may change it.")
        serializer.save()


class IncidentChildMixin:
    """For /incidents/<incident_pk>/...: the parent incident, scoped to the caller (404 if hidden)."""

    def get_incident(self):
        if not hasattr(self, "_incident"):
            self._incident = access.get_incident_for(
                self.request.user,
                self.kwargs["incident_pk"],
                Incident.objects.prefetch_related("memberships"),
            )
        return self._incident

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if "incident_pk" in self.kwargs and not getattr(self, "swagger_fake_view", False):
            context["incident"] = self.get_incident()
        return context


# Timeline -------------------------------------------------------------------------------------


class RevisionSerializer(serializers.ModelSerializer):
    replaced_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = TimelineRevision
        fields = ["body", "replaced_at", "replaced_by"]


class TimelineEntrySerializer(serializers.ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="username", read_only=True)
    revisions = RevisionSerializer(many=True, read_only=True)

    class Meta:
        model = TimelineEntry
        fields = ["id", "occurred_at", "recorded_at", "author", "kind", "body", "data", "edited_at", "revisions"]
        read_only_fields = ["recorded_at", "kind", "data", "edited_at"]

    def validate_occurred_at(self, value):
        if value and value > timezone.now():
            raise ValidationError("An event cannot have happened in the future.")
        return value

    def create(self, validated):
        return _call(
            services.log_entry,
            self.context["incident"],
            self.context["request"].user,
            validated["body"],
            occurred_at=validated.get("occurred_at"),
        )

    def update(self, entry, validated):
        if set(validated) - {"body"}:
            raise ValidationError({"occurred_at": "Only the text of an entry can be edited."})
        return _call(services.edit_entry, entry, self.context["request"].user, validated.get("body", entry.body))


class TimelineViewSet(
    IncidentChildMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """An incident's timeline, oldest first. Append-only: an edit keeps the earlier text in
    `revisions`."""

    serializer_class = TimelineEntrySerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return TimelineEntry.objects.none()
        return (
            self.get_incident()
            .timeline.select_related("author")
            .prefetch_related(Prefetch("revisions", queryset=TimelineRevision.objects.select_related("replaced_by")))
            .order_by("occurred_at", "id")
        )


# Impacts ---------------------------------------------------------------------------------------


class ImpactSerializer(serializers.ModelSerializer):
    service = ServiceRefField()
    level = serializers.ChoiceField(choices=Impact.Level.values)
    regions = serializers.ListField(child=serializers.CharField(max_length=100), required=False)

    class Meta:
        model = Impact
        fields = ["id", "service", "level", "regions", "started_at", "ended_at"]

    def validate(self, attrs):
        started = attrs.get("started_at", getattr(self.instance, "started_at", None)) or timezone.now()
        ended = attrs.get("ended_at", getattr(self.instance, "ended_at", None))
        if ended and ended < started:
            raise ValidationError({"ended_at": "An impact cannot end before it starts."})
        return attrs

    def create(self, validated):
        return _call(services.add_impact, self.context["incident"], self.context["request"].user, **validated)

    def update(self, impact, validated):
        if "service" in validated and validated["service"] != impact.service:
            raise ValidationError({"service": "Record a new impact for another service."})
        validated.pop("service", None)
        return _call(services.update_impact, impact, self.context["request"].user, **validated)


class ImpactViewSet(
    IncidentChildMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Services hit by this incident. End an impact with PATCH `ended_at`."""

    serializer_class = ImpactSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Impact.objects.none()
        return self.get_incident().impacts.select_related("service", "incident")


# Roles --------------------------------------------------------------------------------------


class MembershipSerializer(serializers.ModelSerializer):
    user = UsernameField()
    role = serializers.ChoiceField(choices=Membership.Role.values)
    assigned_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = Membership
        fields = ["id", "user", "role", "assigned_at", "assigned_by"]
        read_only_fields = ["assigned_at"]
        validators = []  # uniqueness is the service's to judge, with a clearer message

    def create(self, validated):
        incident = self.context["incident"]
        _call(services.assign_role, incident, validated["user"], validated["role"], self.context["request"].user)
        return Membership.objects.select_related("user", "assigned_by").get(
            incident=incident, user=validated["user"], role=validated["role"]
        )


class RoleViewSet(
    IncidentChildMixin,
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Who holds which role. POST `role`=commander hands over command in one step."""

    serializer_class = MembershipSerializer
    pagination_class = None

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Membership.objects.none()
        return self.get_incident().memberships.select_related("user", "assigned_by")

    def perform_destroy(self, membership):
        _call(services.remove_role, self.get_incident(), membership, self.request.user)


# Services ---------------------------------------------------------------------------------------


class ServiceSerializer(serializers.ModelSerializer):
    owner = UsernameField(required=False, allow_null=True)
    status = serializers.SerializerMethodField(help_text="Current status derived from open impacts")

    class Meta:
        model = Service
        fields = [
            "id",
            "name",
            "slug",
            "group",
            "owner",
            "description",
            "public",
            "position",
            "status",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]
        extra_kwargs = {"slug": {"required": False}}

    @extend_schema_field(serializers.ChoiceField(choices=["operational", *Impact.Level.values]))
    def get_status(self, service):
        return status_from_rank(getattr(service, "status_rank", 0))

    def create(self, validated):
        return _call(services.create_service, self.context["request"].user, **validated)


class ServiceViewSet(viewsets.ModelViewSet):
    """The service catalog. Anyone signed in reads it; commanders edit it. `status` counts only
    incidents the caller may see."""

    serializer_class = ServiceSerializer
    filterset_class = ServiceFilter

    def get_queryset(self):
        visible = Incident.objects.visible_to(self.request.user)
        return Service.objects.with_current_status(visible).select_related("owner")

    def check_permissions(self, request):
        super().check_permissions(request)
        if request.method not in ("GET", "HEAD", "OPTIONS") and not access.can_manage_services(request.user):
            self.permission_denied(request, message="Only commanders may edit the service catalog.")

    def perform_destroy(self, service):
        if service.impacts.exists():
            raise ValidationError({"service": "This service has recorded impacts and cannot be deleted."})
        service.delete()
