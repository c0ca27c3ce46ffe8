"""REST API under /api/v1/: serializers and viewsets. Thin: validate, scope to the user
(through incidents.access), call incidents.services."""

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone
from django.utils.translation import gettext
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from incidents import access, credentials, idempotency, services
from incidents.filters import IncidentFilter, ServiceFilter
from incidents.idempotency import IdempotentCreateModelMixin
from incidents.models import (
    ApiToken,
    Impact,
    Incident,
    Membership,
    Service,
    TimelineEntry,
    TimelineRevision,
    status_from_rank,
)

User = get_user_model()


def exception_handler(exc, context):
    """Errors are JSON with the field at fault and a human message: a 400 is always
    {field: [messages]} (a service's Django ValidationError included), and a refusal from a
    service keeps its message ("Only the incident's commanders may ...")."""
    if isinstance(exc, DjangoValidationError):
        exc = ValidationError(validation_detail(exc))
    elif isinstance(exc, DjangoPermissionDenied):
        exc = PermissionDenied(str(exc) or None)
    if isinstance(exc, ValidationError) and isinstance(exc.detail, dict):
        exc.detail = {
            field: value if isinstance(value, list | dict) else [value] for field, value in exc.detail.items()
        }
    return drf_exception_handler(exc, context)


# The errors every operation can answer, documented in the schema so generated clients and
# schemathesis (tests/test_api_fuzz.py) know them: {status: (description, applies to)}.
ERROR_RESPONSES = {
    400: "Bad input: {field: [messages]}; `non_field_errors` for the request as a whole, `detail` for malformed JSON.",
    401: "No or wrong credentials.",
    403: "Signed in, but not allowed: {detail: message saying who may}.",
    404: "No such object, or one you may not see (a confidential incident), or a page past the end.",
    409: "The state changed since you read it, or a request with the same Idempotency-Key is still running.",
    422: "An Idempotency-Key sent again with another request.",
}
ERROR_SCHEMA = {
    "type": "object",
    "description": "An error: `detail` with a message, or each field at fault with a list of messages.",
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": True,
}


IDEMPOTENCY_KEY = OpenApiParameter(
    idempotency.HEADER,
    OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        f"A unique key (at most {idempotency.MAX_KEY_LENGTH} characters) that makes a retry safe: the same "
        f"request sent again with the same key returns the first answer (with `{idempotency.REPLAYED_HEADER}: "
        f"true`) and stores nothing new. Keys are kept per user for "
        f"{int(idempotency.KEY_TTL.total_seconds() // 3600)} hours."
    ),
)


class WarroomAutoSchema(AutoSchema):
    """drf-spectacular's schema, declaring the `Idempotency-Key` header on the operations that honour it."""

    def get_override_parameters(self):
        parameters = list(super().get_override_parameters())
        if idempotency.takes_key(self.view, self.method):
            parameters.append(IDEMPOTENCY_KEY)
        return parameters


def takes_idempotency_key(operation):
    return any(
        parameter.get("in") == "header" and parameter.get("name") == idempotency.HEADER
        for parameter in operation.get("parameters", [])
    )


def error_codes(method, operation):
    """The error statuses one operation can answer (docs/api.md, Errors)."""
    writes = method in ("post", "put", "patch", "delete")
    reads_query = any(parameter.get("in") == "query" for parameter in operation.get("parameters", []))
    path_parameters = any(parameter.get("in") == "path" for parameter in operation.get("parameters", []))
    codes = [401]
    if writes or reads_query:
        codes.append(400)
    if writes:
        codes += [403, 409]
    if path_parameters or reads_query:
        codes.append(404)
    if takes_idempotency_key(operation):
        codes.append(422)
    return sorted(codes)


def document_errors(result, generator, request, public):
    """drf-spectacular postprocessing hook: add the error answers each operation can give,
    keeping any an operation documents itself (extend_schema responses)."""
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    reference = {"$ref": "#/components/schemas/Error"}
    for item in result.get("paths", {}).values():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            for code in error_codes(method, operation):
                operation["responses"].setdefault(
                    str(code),
                    {"description": ERROR_RESPONSES[code], "content": {"application/json": {"schema": reference}}},
                )
    return result


class Conflict(APIException):
    """409: the request was decided on a state that has changed since (another commander
    moved the incident). The body says why, keyed by the field at fault like a 400, and
    carries the current state: {"status": ["..."], "incident": {...}}."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The incident changed since you read it."
    default_code = "conflict"

    @classmethod
    def with_incident(cls, exc, incident, context):
        conflict = cls()
        current = Incident.objects.prefetch_related(*INCIDENT_PREFETCH).get(pk=incident.pk)
        # Set directly: the constructor would turn every value of the incident into a string.
        conflict.detail = {**validation_detail(exc), "incident": IncidentSerializer(current, context=context).data}
        return conflict


def validation_detail(exc, rename=None):
    detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
    rename = rename or {}
    return {rename.get(field, field): messages for field, messages in detail.items()}


def call_service(operation, *args, rename=None, **kwargs):
    """Call a service; its ValidationError becomes DRF's 400, keyed by the API's field names
    (`rename` maps a service's argument name to the field the caller sent)."""
    try:
        return operation(*args, **kwargs)
    except services.StatusConflict:
        # Someone moved the incident between our read and our lock: the caller answers 409 with
        # the current state (IncidentSerializer.update), not a 400 as if the input were wrong.
        raise
    except DjangoValidationError as exc:
        raise ValidationError(validation_detail(exc, rename)) from exc


def one_of(name, values):
    return {"invalid_choice": f"Unknown {name} {{input!r}}; use one of {', '.join(map(str, values))}."}


def is_text(data):
    # PostgreSQL refuses NUL in any text parameter (a 500 if it reaches the query).
    return isinstance(data, str) and "\x00" not in data


class SaneDateTimeField(serializers.DateTimeField):
    """A date-time within years 1900-2999: far-off values would overflow deadline arithmetic
    and, stored in UTC, the database's timestamps."""

    def to_internal_value(self, value):
        result = super().to_internal_value(value)
        if not 1900 <= result.year <= 2999:
            raise ValidationError(gettext("Give a date between the years 1900 and 2999."))
        return result


@extend_schema_field({"type": "string", "description": "Username"})
class UsernameField(serializers.SlugRelatedField):
    default_error_messages = {
        "does_not_exist": "No active user named {value!r}.",
        "invalid": "Give a username.",
    }

    def __init__(self, **kwargs):
        super().__init__(slug_field=User.USERNAME_FIELD, **kwargs)

    def get_queryset(self):
        return User.objects.filter(is_active=True)

    def to_internal_value(self, data):
        if not is_text(data):
            self.fail("invalid")
        return super().to_internal_value(data.strip())


@extend_schema_field({"type": "string", "description": "Service slug (or numeric id)"})
class ServiceRefField(serializers.RelatedField):
    default_error_messages = {
        "unknown": "Unknown service {value!r}.",
        "invalid": "Give a service slug (or id).",
    }

    def get_queryset(self):
        return Service.objects.all()

    def to_internal_value(self, data):
        if isinstance(data, int) and not isinstance(data, bool):
            data = str(data)
        if not is_text(data):
            self.fail("invalid")
        value = data.strip()
        service = Service.objects.filter(slug=value).first()
        if service is None and value.isascii() and value.isdigit() and len(value) <= 18:
            service = Service.objects.filter(pk=int(value)).first()
        if service is None:
            self.fail("unknown", value=value)
        return service

    def to_representation(self, value):
        return value.slug


# Incidents -----------------------------------------------------------------------------------


class IncidentSerializer(serializers.ModelSerializer):
    id = serializers.CharField(
        source="key",
        read_only=True,
        help_text="Opaque identifier, used in this API's URLs and the pages' links",
    )
    reference = serializers.CharField(read_only=True, help_text="INC-<n>, the human reference")
    severity = serializers.ChoiceField(
        choices=Incident.Severity.values,
        error_messages={"invalid_choice": "Severity must be 1, 2, 3 or 4 (SEV1 is the worst)."},
    )
    status = serializers.ChoiceField(
        choices=Incident.Status.values, required=False, error_messages=one_of("status", Incident.Status.values)
    )
    kind = serializers.ChoiceField(
        choices=Incident.Kind.choices, required=False, error_messages=one_of("kind", Incident.Kind.values)
    )
    services = ServiceRefField(many=True, required=False)
    public_title = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        help_text="What the status page, its feeds and subscriber messages call the incident (never `title`). "
        "Empty until comms give one; comms staff and the incident's commanders and comms lead may set it",
    )
    public_titles = serializers.DictField(
        child=serializers.CharField(max_length=200),
        required=False,
        help_text='The public title in other languages, by language code: {"zh-hans": "…"}. Replaces the whole set',
    )
    commander = UsernameField(required=False, help_text="Username; defaults to the declaring user")
    aware_at = SaneDateTimeField(
        required=False,
        allow_null=True,
        help_text="When the organisation became aware of a breach: legal clocks count from it (DORA caps deadlines "
        "at 24 h from it). Commanders and the security group may set it (PATCH, with `reason`)",
    )
    reason = serializers.CharField(write_only=True, required=False, help_text="Why a time was corrected")
    from_status = serializers.ChoiceField(
        choices=Incident.Status.values,
        write_only=True,
        required=False,
        help_text="With `status`: the status you saw. If the incident has moved on since, 409 with its current state",
        error_messages=one_of("status", Incident.Status.values),
    )

    class Meta:
        model = Incident
        fields = [
            "id",
            "reference",
            "title",
            "public_title",
            "public_titles",
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
            "aware_at",
            "updated_at",
            "reason",
            "from_status",
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
                raise ValidationError({field: gettext("A recorded time cannot be in the future.")})
        if self.instance is None and attrs.get("status", Incident.Status.INVESTIGATING) != "investigating":
            raise ValidationError({"status": gettext("A new incident starts as investigating.")})
        return attrs

    def create(self, validated):
        user = self.context["request"].user
        public = {k: validated.pop(k) for k in ("public_title", "public_titles") if k in validated}
        with transaction.atomic():
            incident = self._declare(user, validated)
            if public:
                call_service(
                    services.set_public_title,
                    incident,
                    user,
                    title=public.get("public_title"),
                    titles=public.get("public_titles"),
                )
        return incident

    def _declare(self, user, validated):
        return call_service(
            services.declare,
            user,
            title=validated["title"],
            summary=validated.get("summary", ""),
            severity=validated["severity"],
            kind=validated.get("kind", Incident.Kind.AVAILABILITY),
            confidential=validated.get("confidential"),  # omitted: the kind decides
            services=validated.get("services", []),
            started_at=validated.get("started_at"),
            detected_at=validated.get("detected_at"),
            commander=validated.get("commander"),
        )

    def update(self, incident, validated):
        """One PATCH may touch several things; each goes through its own service (and writes
        its own timeline entry), all in one transaction, so a refused part (an illegal status
        move, say) leaves the whole incident as it was."""
        user = self.context["request"].user
        reason = validated.pop("reason", "")
        seen = validated.pop("from_status", None)
        fields = {
            k: validated.pop(k) for k in ("title", "summary", "kind", "confidential", "services") if k in validated
        }
        public = {k: validated.pop(k) for k in ("public_title", "public_titles") if k in validated}
        try:
            self._update(incident, user, validated, fields, reason, seen, public)
        except services.StatusConflict as exc:
            raise Conflict.with_incident(exc, incident, self.context) from exc
        return Incident.objects.prefetch_related(*INCIDENT_PREFETCH).get(pk=incident.pk)

    def _update(self, incident, user, validated, fields, reason, seen, public):
        with transaction.atomic():
            if "status" in validated and seen and seen != incident.status:
                # Someone moved it since the caller looked (even to the status asked for).
                raise services.StatusConflict(incident, incident.status, seen)
            if fields:
                call_service(services.update_fields, incident, user, **fields)
            if public:
                call_service(
                    services.set_public_title,
                    incident,
                    user,
                    title=public.get("public_title"),
                    titles=public.get("public_titles"),
                )
            if "severity" in validated:
                call_service(services.change_severity, incident, validated.pop("severity"), user)
            for field in Incident.CORRECTABLE_TIMES:
                if field in validated:
                    call_service(services.correct_time, incident, field, validated.pop(field), user, reason)
            if "status" in validated and validated["status"] != incident.status:
                call_service(services.change_status, incident, validated.pop("status"), user, expected=seen)
            # Last: handing over may take command away from the caller.
            if "commander" in validated:
                call_service(
                    services.hand_over_command, incident, validated.pop("commander"), user, rename={"user": "commander"}
                )


class IncidentPermission(permissions.BasePermission):
    """Checked before the input is judged, so a caller without the right gets a 403 whatever
    they sent. Reading is for everyone signed in (visibility is the queryset's job)."""

    def has_permission(self, request, view):
        if view.action == "create":
            return access.can_declare(request.user)
        return True

    def has_object_permission(self, request, view, incident):
        if request.method in permissions.SAFE_METHODS or access.can_command(request.user, incident):
            return True
        if view.action == "acknowledge":
            return access.can_acknowledge(request.user, incident)
        if view.action == "take_command":
            return access.can_take_command(request.user, incident)
        data = request.data
        if (
            request.method == "PATCH"
            and isinstance(data, dict)
            and data
            and set(data) <= PUBLIC_TITLE_FIELDS
            and access.can_write_communication(request.user, incident)
        ):
            return True  # the public title is the comms staff's and comms lead's too
        # A PATCH of the awareness time alone (and its reason) is the security group's too.
        return (
            request.method == "PATCH"
            and isinstance(data, dict)
            and "aware_at" in data
            and set(data) <= AWARENESS_FIELDS
            and access.can_record_awareness(request.user, incident)
        )


AWARENESS_FIELDS = {"aware_at", "reason"}
PUBLIC_TITLE_FIELDS = {"public_title", "public_titles"}


INCIDENT_PREFETCH = (
    Prefetch("memberships", queryset=Membership.objects.select_related("user")),
    "services",
)


class IncidentViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    IdempotentCreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Incidents the caller may see. Declaring needs the commander role; changes need command
    of the incident. A confidential incident is a 404 to non-members."""

    serializer_class = IncidentSerializer
    filterset_class = IncidentFilter
    permission_classes = [permissions.IsAuthenticated, IncidentPermission]

    def get_queryset(self):
        return Incident.objects.visible_to(self.request.user).open_first().prefetch_related(*INCIDENT_PREFETCH)

    def get_object(self):
        incident = access.get_incident_for(
            self.request.user, self.kwargs["pk"], Incident.objects.prefetch_related(*INCIDENT_PREFETCH)
        )
        self.check_object_permissions(self.request, incident)
        return incident

    def permission_denied(self, request, message=None, code=None):
        if message is None and request.user.is_authenticated:
            message = {
                "create": "Only commanders may declare incidents.",
                "acknowledge": "Only the incident's commanders and the on-call group may acknowledge it.",
                "take_command": "Only commanders and the on-call group may take command.",
            }.get(self.action, "Only the incident's commanders may change it.")
        super().permission_denied(request, message, code)

    def _changed(self, incident):
        incident = Incident.objects.prefetch_related(*INCIDENT_PREFETCH).get(pk=incident.pk)
        return Response(self.get_serializer(incident).data)

    @extend_schema(request=None, responses=IncidentSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        """Acknowledge the incident (logged; a second acknowledgement changes nothing): its
        commanders and the on-call group (WARROOM_ONCALL_GROUP), who are paged for it."""
        incident = self.get_object()
        call_service(services.acknowledge, incident, request.user)
        return self._changed(incident)

    @extend_schema(request=None, responses=IncidentSerializer)
    @action(detail=True, methods=["post"], url_path="take-command")
    def take_command(self, request, pk=None):
        """Make yourself the commander, and acknowledge the incident if nobody has (each
        logged): its commanders and the on-call group (WARROOM_ONCALL_GROUP)."""
        incident = self.get_object()
        call_service(services.take_command, incident, request.user)
        return self._changed(incident)


class IncidentChildPermission(permissions.BasePermission):
    """Who may write under /incidents/<incident_pk>/..., asked before the input is judged
    (a hidden incident is a 404 first, from `get_incident`). Each viewset names its rules from
    incidents.access: `write_rule(user, incident)` for adding and, unless `object_rule(user,
    obj)` says otherwise, for changing or removing."""

    def has_permission(self, request, view):
        if request.method in permissions.SAFE_METHODS or getattr(view, "swagger_fake_view", False):
            return True
        if view.action == "create":
            return view.write_rule(request.user, view.get_incident())
        return True  # changes to one object: has_object_permission decides

    def has_object_permission(self, request, view, obj):
        if request.method in permissions.SAFE_METHODS:
            return True
        object_rule = getattr(view, "object_rule", None)
        if object_rule is not None:
            return object_rule(request.user, obj)
        return view.write_rule(request.user, view.get_incident())


class IncidentChildMixin:
    """For /incidents/<incident_pk>/...: the parent incident, scoped to the caller (404 if hidden)."""

    permission_classes = [permissions.IsAuthenticated, IncidentChildPermission]
    denied_message = "Only the incident's commanders may do this."

    def permission_denied(self, request, message=None, code=None):
        if message is None and request.user.is_authenticated:
            message = self.denied_message
        super().permission_denied(request, message, code)

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
    replaced_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = TimelineRevision
        fields = ["body", "replaced_at", "replaced_by"]


class TimelineEntrySerializer(serializers.ModelSerializer):
    author = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    revisions = RevisionSerializer(many=True, read_only=True)

    class Meta:
        model = TimelineEntry
        fields = ["id", "occurred_at", "recorded_at", "author", "kind", "body", "data", "edited_at", "revisions"]
        read_only_fields = ["recorded_at", "kind", "data", "edited_at"]

    def validate_occurred_at(self, value):
        if value and value > timezone.now():
            raise ValidationError(gettext("An event cannot have happened in the future."))
        return value

    def create(self, validated):
        entry = call_service(
            services.log_entry,
            self.context["incident"],
            self.context["request"].user,
            validated["body"],
            occurred_at=validated.get("occurred_at"),
        )
        # A new entry has no revisions: say so rather than ask the database again.
        revisions = TimelineRevision.objects.none()
        revisions._result_cache, revisions._prefetch_done = [], True
        entry._prefetched_objects_cache = {"revisions": revisions}
        return entry

    def update(self, entry, validated):
        if set(validated) - {"body"}:
            raise ValidationError({"occurred_at": [gettext("Only the text of an entry can be edited.")]})
        return call_service(services.edit_entry, entry, self.context["request"].user, validated.get("body", entry.body))


class TimelineViewSet(
    IncidentChildMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    IdempotentCreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """An incident's timeline, oldest first. Append-only: an edit keeps the earlier text in
    `revisions`."""

    serializer_class = TimelineEntrySerializer
    denied_message = "Only responders and commanders may log to the timeline; only the author or a commander may edit."
    write_rule = staticmethod(access.can_log)
    object_rule = staticmethod(access.can_edit_entry)

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
    level = serializers.ChoiceField(choices=Impact.Level.values, error_messages=one_of("level", Impact.Level.values))
    regions = serializers.ListField(child=serializers.CharField(max_length=100), required=False)

    class Meta:
        model = Impact
        fields = ["id", "service", "level", "regions", "started_at", "ended_at"]

    def validate(self, attrs):
        started = attrs.get("started_at", getattr(self.instance, "started_at", None)) or timezone.now()
        ended = attrs.get("ended_at", getattr(self.instance, "ended_at", None))
        if ended and ended < started:
            raise ValidationError({"ended_at": gettext("An impact cannot end before it starts.")})
        return attrs

    def create(self, validated):
        return call_service(services.add_impact, self.context["incident"], self.context["request"].user, **validated)

    def update(self, impact, validated):
        if "service" in validated and validated["service"] != impact.service:
            raise ValidationError({"service": [gettext("Record a new impact for another service.")]})
        validated.pop("service", None)
        return call_service(services.update_impact, impact, self.context["request"].user, **validated)


class ImpactViewSet(
    IncidentChildMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    IdempotentCreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Services hit by this incident. End an impact with PATCH `ended_at`."""

    serializer_class = ImpactSerializer
    denied_message = "Only the incident's commanders may record or change impacts."
    write_rule = staticmethod(access.can_command)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Impact.objects.none()
        return self.get_incident().impacts.select_related("service", "incident")


# Roles --------------------------------------------------------------------------------------


class MembershipSerializer(serializers.ModelSerializer):
    user = UsernameField()
    role = serializers.ChoiceField(
        choices=Membership.Role.values, error_messages=one_of("role", Membership.Role.values)
    )
    assigned_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = Membership
        fields = ["id", "user", "role", "assigned_at", "assigned_by"]
        read_only_fields = ["assigned_at"]
        validators = []  # uniqueness is the service's to judge, with a clearer message

    def create(self, validated):
        incident = self.context["incident"]
        call_service(services.assign_role, incident, validated["user"], validated["role"], self.context["request"].user)
        return Membership.objects.select_related("user", "assigned_by").get(
            incident=incident, user=validated["user"], role=validated["role"]
        )


class RoleViewSet(
    IncidentChildMixin,
    mixins.ListModelMixin,
    IdempotentCreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Who holds which role. POST `role`=commander hands over command in one step."""

    serializer_class = MembershipSerializer
    pagination_class = None
    denied_message = "Only the incident's commanders may assign or remove roles."
    write_rule = staticmethod(access.can_command)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Membership.objects.none()
        return self.get_incident().memberships.select_related("user", "assigned_by")

    def perform_destroy(self, membership):
        call_service(services.remove_role, self.get_incident(), membership, self.request.user)


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
            "names",
            "status",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]
        # Uniqueness (of the name, case-insensitively) is the service's to judge.
        extra_kwargs = {"slug": {"required": False, "validators": []}, "name": {"validators": []}}

    @extend_schema_field(serializers.ChoiceField(choices=["operational", *Impact.Level.values]))
    def get_status(self, service):
        return status_from_rank(getattr(service, "status_rank", 0))

    def create(self, validated):
        return call_service(services.create_service, self.context["request"].user, **validated)

    def update(self, service, validated):
        return call_service(services.update_service, service, self.context["request"].user, **validated)


class ServiceViewSet(IdempotentCreateModelMixin, viewsets.ModelViewSet):
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
        call_service(services.delete_service, service, self.request.user)


# Personal API tokens -----------------------------------------------------------------------------


class ApiTokenSerializer(serializers.ModelSerializer):
    """One of the caller's tokens; `key` only in the answer to its creation (shown once)."""

    name = serializers.CharField(max_length=100)
    scope = serializers.ChoiceField(
        choices=ApiToken.Scope.choices,
        default=ApiToken.Scope.READ_WRITE,
        error_messages=one_of("scope", ApiToken.Scope.values),
    )
    expires_at = SaneDateTimeField(required=False, allow_null=True)
    key = serializers.SerializerMethodField(help_text="The token's key: in the answer to its creation only.")

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "scope", "created", "last_used", "expires_at", "key"]
        read_only_fields = ["id", "prefix", "created", "last_used", "key"]

    def validate_name(self, value):
        if not is_text(value) or not value.strip():
            raise ValidationError(gettext("Name the token after what will use it."))
        return value

    def get_key(self, token) -> str | None:
        return getattr(token, "issued_key", None)


class ApiTokenViewSet(
    mixins.ListModelMixin, mixins.CreateModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """The caller's own API tokens: list them, create one (its key is in the answer, and never
    again), revoke one (DELETE). A read-only token may list but not create or revoke."""

    serializer_class = ApiTokenSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # the schema's generation: no caller
            return ApiToken.objects.none()
        return ApiToken.objects.filter(user=self.request.user).select_related("user").order_by("-created", "-id")

    def perform_create(self, serializer):
        data = serializer.validated_data
        token, key = call_service(
            credentials.create_personal_token,
            self.request.user,
            name=data["name"],
            scope=data["scope"],
            expires_at=data.get("expires_at"),
        )
        token.issued_key = key
        serializer.instance = token

    def perform_destroy(self, token):
        credentials.revoke_token(token, self.request.user)
