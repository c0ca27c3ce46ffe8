"""REST API for security incidents: mitigations, the exposure assessment, the obligation
catalog and legal clocks. Thin, like incidents.api: validate, scope to the caller (a hidden
incident is a 404), call incidents.security.mitigations / incidents.security.clocks.

- /api/v1/incidents/<id>/mitigations/: list, create, PATCH (PATCH `ended_at` lifts; so does
  POST .../<mid>/lift/).
- /api/v1/incidents/<id>/exposure/: GET, PUT (every field; missing ones reset), PATCH.
- /api/v1/obligations/: the catalog; anyone signed in reads, admins write.
- /api/v1/incidents/<id>/clocks/: list (stages computed: due_at or null, time_left_seconds,
  overdue, submission), POST obligation + started_at; actions submit, not-required,
  correct-start.

Reading needs only sight of the incident; writing needs command of it or the security group.
Deadlines are defaults to check with counsel, not legal advice (each clock says so).
"""

import re

from django.db import transaction
from django.db.models import Prefetch
from django.urls import include, path
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from incidents import access
from incidents.api import IncidentChildMixin, SaneDateTimeField, UsernameField, call_service, is_text
from incidents.idempotency import IdempotentCreateModelMixin, idempotent
from incidents.models import Communication, ExposureAssessment, Mitigation, Obligation, RegulatoryClock, Submission
from incidents.security import clocks as regulatory
from incidents.security import mitigations as security

CODE = re.compile(r"[A-Z]{2}")


def _dt(**kwargs):
    return SaneDateTimeField(**kwargs)


# Mitigations -----------------------------------------------------------------------------------


class MitigationSerializer(serializers.ModelSerializer):
    owner = UsernameField(required=False, allow_null=True)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    started_at = _dt(required=False, help_text="Empty means now; not in the future")
    review_by = _dt(required=False, allow_null=True)
    ended_at = _dt(required=False, allow_null=True, help_text="Set to lift the mitigation (or POST .../lift/)")
    in_force = serializers.BooleanField(read_only=True)
    review_overdue = serializers.SerializerMethodField()

    class Meta:
        model = Mitigation
        fields = [
            "id",
            "title",
            "description",
            "affects",
            "owner",
            "started_at",
            "review_by",
            "ended_at",
            "public",
            "public_explanation",
            "public_explanations",
            "in_force",
            "review_overdue",
            "created_by",
            "updated_at",
        ]
        read_only_fields = ["updated_at"]

    def get_review_overdue(self, mitigation) -> bool:
        return security.review_overdue(mitigation)

    def create(self, validated):
        if validated.pop("ended_at", None) is not None:
            raise ValidationError({"ended_at": [gettext("Record the mitigation first, then lift it.")]})
        return call_service(
            security.add_mitigation, self.context["incident"], self.context["request"].user, **validated
        )

    def update(self, mitigation, validated):
        mitigation.incident = self.context["incident"]
        return call_service(security.update_mitigation, mitigation, self.context["request"].user, **validated)


class LiftSerializer(serializers.Serializer):
    ended_at = _dt(required=False, help_text="Empty means now")
    note = serializers.CharField(required=False, allow_blank=True, max_length=500)


class MitigationViewSet(
    IncidentChildMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    IdempotentCreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Temporary measures on this incident that affect users, oldest first. A public one needs
    `public_explanation`, shown on the status page while it is in force; `public_explanations`
    gives it in other languages ({"zh-hans": "..."}), shown to readers of that language."""

    serializer_class = MitigationSerializer
    denied_message = gettext_lazy(
        "Only the incident's commanders and the security group may record or change mitigations."
    )
    write_rule = staticmethod(access.can_manage_security)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Mitigation.objects.none()
        return self.get_incident().mitigations.select_related("owner", "created_by").order_by("started_at", "id")

    @extend_schema(request=LiftSerializer, responses=MitigationSerializer)
    @action(detail=True, methods=["post"])
    def lift(self, request, incident_pk=None, pk=None):
        mitigation = self.get_object()
        mitigation.incident = self.get_incident()
        data = LiftSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        lifted = call_service(
            security.lift_mitigation,
            mitigation,
            request.user,
            ended_at=data.validated_data.get("ended_at"),
            note=data.validated_data.get("note", ""),
        )
        return Response(MitigationSerializer(lifted, context=self.get_serializer_context()).data)


# Exposure assessment -------------------------------------------------------------------------


class CountryCodeField(serializers.CharField):
    def __init__(self, **kwargs):
        super().__init__(min_length=2, max_length=2, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not CODE.fullmatch(value):
            raise ValidationError(gettext("Use a two-letter country code in capitals, e.g. DE."))
        return value


class ExposureSerializer(serializers.ModelSerializer):
    assessed = serializers.SerializerMethodField(help_text="False until the first PUT or PATCH")
    categories = serializers.ListField(
        child=serializers.ChoiceField(choices=ExposureAssessment.Category.values), required=False, max_length=20
    )
    jurisdictions = serializers.ListField(child=CountryCodeField(), required=False, max_length=300)
    people_affected = serializers.IntegerField(
        min_value=0, max_value=security.MAX_COUNT, allow_null=True, required=False
    )
    records_affected = serializers.IntegerField(
        min_value=0, max_value=security.MAX_COUNT, allow_null=True, required=False
    )
    encrypted = serializers.BooleanField(allow_null=True, required=False, help_text="null: unknown")
    updated_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = ExposureAssessment
        fields = [
            "assessed",
            "certainty",
            "categories",
            "people_affected",
            "records_affected",
            "confidence",
            "jurisdictions",
            "encrypted",
            "found_by",
            "updated_at",
            "updated_by",
        ]
        read_only_fields = ["updated_at"]
        extra_kwargs = {
            "certainty": {"required": False},
            "confidence": {"required": False},
            "found_by": {"required": False},
        }

    def get_assessed(self, assessment) -> bool:
        return assessment.pk is not None


EXPOSURE_DEFAULTS = {
    "certainty": ExposureAssessment.Certainty.SUSPECTED,
    "categories": [],
    "people_affected": None,
    "records_affected": None,
    "confidence": ExposureAssessment.Confidence.LOW,
    "jurisdictions": [],
    "encrypted": None,
    "found_by": ExposureAssessment.Source.INTERNAL,
}


class ExposureView(IncidentChildMixin, GenericAPIView):
    """The incident's data-exposure assessment (one per incident). GET before any assessment
    gives the defaults with `assessed: false`. PUT sets every field (missing ones take their
    defaults); PATCH changes the fields given. Every change is on the timeline with old and new
    value."""

    serializer_class = ExposureSerializer
    pagination_class = None
    permission_classes = [permissions.IsAuthenticated]  # and check_permissions below
    denied_message = gettext_lazy("Only the incident's commanders and the security group may assess data exposure.")
    write_rule = staticmethod(access.can_manage_security)

    def check_permissions(self, request):
        super().check_permissions(request)
        writing = request.method not in permissions.SAFE_METHODS and not getattr(self, "swagger_fake_view", False)
        if writing and not access.can_manage_security(request.user, self.get_incident()):
            self.permission_denied(request, message=self.denied_message)

    def _current(self):
        incident = self.get_incident()
        return security.exposure_of(incident) or ExposureAssessment(incident=incident, **EXPOSURE_DEFAULTS)

    def get(self, request, incident_pk=None):
        return Response(self.get_serializer(self._current()).data)

    def _write(self, request, partial):
        serializer = self.get_serializer(self._current(), data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        values = dict(serializer.validated_data)
        if not partial:
            values = {**EXPOSURE_DEFAULTS, **values}
        assessment = call_service(security.assess_exposure, self.get_incident(), request.user, **values)
        return Response(self.get_serializer(assessment).data)

    def put(self, request, incident_pk=None):
        return self._write(request, partial=False)

    def patch(self, request, incident_pk=None):
        return self._write(request, partial=True)


# Obligations -----------------------------------------------------------------------------------

STAGE_KEYS = {"name", "amount", "unit", "after", "cap_hours", "recipient"}


def _check_stage_shapes(stages):
    """What validate_stages leaves to trust: types that later arithmetic and storage rely on."""
    if not isinstance(stages, list):
        raise ValidationError({"stages": [gettext("Give a list of stages.")]})
    if len(stages) > 20:
        raise ValidationError({"stages": [gettext("At most 20 stages.")]})
    for stage in stages:
        if not isinstance(stage, dict):
            raise ValidationError({"stages": [gettext("Each stage is an object with a name.")]})
        unknown = set(stage) - STAGE_KEYS
        if unknown:
            raise ValidationError({"stages": [gettext("Unknown stage key {key!r}.").format(key=sorted(unknown)[0])]})
        for key in ("name", "recipient", "after", "unit"):
            value = stage.get(key)
            if value is not None and (not isinstance(value, str) or "\x00" in value or len(value) > 300):
                raise ValidationError({"stages": [gettext("Stage {key} must be text.").format(key=key)]})
        if len(stage.get("name") or "") > Submission._meta.get_field("stage").max_length:
            raise ValidationError({"stages": [gettext("Keep stage names under 60 characters.")]})
        cap = stage.get("cap_hours")
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or not 0 < cap <= 24 * 366):
            raise ValidationError({"stages": [gettext("cap_hours is a whole number of hours (or null).")]})
        amount = stage.get("amount")
        if isinstance(amount, bool) or (isinstance(amount, int) and amount > 10000):
            raise ValidationError({"stages": [gettext("amount is a whole number up to 10000 (or null).")]})
    names = [s.get("name") for s in stages]
    if len(set(names)) != len(names):
        raise ValidationError({"stages": [gettext("Stage names must differ.")]})


class PlaceField(serializers.CharField):
    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not CODE.fullmatch(value):
            raise ValidationError(gettext("Use a two-letter country code in capitals (EU for the EU's members)."))
        return value


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "string"},
        "description": "Exposure categories that suggest the obligation (empty: any): "
        + ", ".join(ExposureAssessment.Category.values),
    }
)
class CategoryListField(serializers.ListField):
    """Documented as plain strings: one enum (the exposure assessment's) names the categories."""

    child = serializers.ChoiceField(choices=ExposureAssessment.Category.values)


class ObligationSerializer(serializers.ModelSerializer):
    stages = serializers.JSONField(
        help_text='[{"name", "amount" (null: without undue delay), "unit" (hours|days|business_days|months), '
        '"after" ("start" or an earlier stage), "cap_hours" (limit from awareness), "recipient"}]'
    )
    jurisdictions = serializers.ListField(child=PlaceField(), required=False, max_length=300)
    data_categories = CategoryListField(required=False, max_length=20)

    class Meta:
        model = Obligation
        fields = [
            "key",
            "regime",
            "recipient",
            "clock_starts",
            "stages",
            "jurisdictions",
            "data_categories",
            "personal_data",
            "notes",
            "proposed",
            "active",
        ]

    def validate_stages(self, stages):
        _check_stage_shapes(stages)
        try:
            regulatory.validate_stages(stages)
            regulatory.check_stages_change(self.instance, stages)
        except Exception as exc:  # a Django ValidationError keyed by "stages"
            messages = getattr(exc, "message_dict", {}).get("stages") or getattr(exc, "messages", [str(exc)])
            raise ValidationError(messages) from exc
        return stages


class ObligationPermission(permissions.BasePermission):
    message = gettext_lazy("Only administrators may edit the obligation catalog.")

    def has_permission(self, request, view):
        if request.method in permissions.SAFE_METHODS:
            return True
        return request.user.is_superuser or request.user.has_perm("incidents.change_obligation")


class ObligationViewSet(IdempotentCreateModelMixin, viewsets.ModelViewSet):
    """The catalog of notification duties (defaults to check with counsel, not legal advice).
    Anyone signed in reads it; administrators edit it. An obligation in use cannot be deleted
    (deactivate it)."""

    serializer_class = ObligationSerializer
    permission_classes = [permissions.IsAuthenticated, ObligationPermission]
    lookup_field = "key"
    lookup_value_regex = "[-a-zA-Z0-9_]+"
    pagination_class = None
    queryset = Obligation.objects.order_by("key")

    def perform_destroy(self, obligation):
        if obligation.clocks.exists():
            raise ValidationError({"key": [gettext("Clocks on incidents use this obligation: deactivate it instead.")]})
        obligation.delete()


# Clocks ------------------------------------------------------------------------------------------


class SubmissionOutSerializer(serializers.ModelSerializer):
    submitted_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = Submission
        fields = ["id", "stage", "submitted_at", "submitted_by", "reference", "communication", "notes"]


class StageSerializer(serializers.Serializer):
    name = serializers.CharField()
    recipient = serializers.CharField()
    due_at = serializers.DateTimeField(allow_null=True, help_text='null: "without undue delay", due now')
    due_now = serializers.BooleanField(help_text="No hour figure and not submitted yet")
    target_at = serializers.DateTimeField(allow_null=True, help_text="The team's own target, for duties due now")
    capped = serializers.BooleanField(help_text="The due time is the limit counted from awareness")
    time_left_seconds = serializers.IntegerField(allow_null=True)
    overdue = serializers.BooleanField()
    submission = SubmissionOutSerializer(allow_null=True)


class ObligationKeyField(serializers.SlugRelatedField):
    default_error_messages = {
        "does_not_exist": "No active obligation {slug_name}={value!r}.",
        "invalid": "Give an obligation key.",
    }

    def to_internal_value(self, data):
        if not is_text(data):
            self.fail("invalid")
        return super().to_internal_value(data)


class ClockSerializer(serializers.ModelSerializer):
    obligation = ObligationKeyField(
        slug_field="key", queryset=Obligation.objects.filter(active=True), help_text="Obligation key, e.g. gdpr-33"
    )
    regime = serializers.CharField(source="obligation.regime", read_only=True)
    recipient = serializers.CharField(source="obligation.recipient", read_only=True)
    started_at = _dt(required=False, help_text="Empty means the incident's awareness time")
    target_hours = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=24 * 366)
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    stages = serializers.SerializerMethodField()
    disclaimer = serializers.SerializerMethodField()

    class Meta:
        model = RegulatoryClock
        fields = [
            "id",
            "obligation",
            "regime",
            "recipient",
            "started_at",
            "status",
            "not_required_reason",
            "target_hours",
            "stages",
            "created_by",
            "created_at",
            "disclaimer",
        ]
        read_only_fields = ["status", "not_required_reason", "created_at"]
        validators = []  # "already running" is the service's to say, keyed by obligation

    @extend_schema_field(StageSerializer(many=True))
    def get_stages(self, clock):
        incident = self.context.get("incident")
        if incident is not None and incident.pk == clock.incident_id:
            clock.incident = incident  # its awareness time caps deadlines: no query per clock
        rows = security.clock_rows(clock, timezone.now())
        return [
            {
                "name": r.name,
                "recipient": r.recipient,
                "due_at": serializers.DateTimeField().to_representation(r.due_at) if r.due_at else None,
                "due_now": r.due_now,
                "target_at": serializers.DateTimeField().to_representation(r.target_at) if r.target_at else None,
                "capped": r.capped,
                "time_left_seconds": r.time_left_seconds,
                "overdue": r.overdue,
                "submission": SubmissionOutSerializer(r.submission).data if r.submission else None,
            }
            for r in rows
        ]

    def get_disclaimer(self, clock) -> str:
        return str(regulatory.DISCLAIMER)

    def create(self, validated):
        return call_service(
            regulatory.start_clock,
            self.context["incident"],
            validated["obligation"],
            self.context["request"].user,
            started_at=validated.get("started_at"),
            target_hours=validated.get("target_hours"),
        )


class SubmitSerializer(serializers.Serializer):
    stage = serializers.CharField(max_length=60)
    submitted_at = _dt(required=False, help_text="Empty means now")
    reference = serializers.CharField(required=False, allow_blank=True, max_length=200)
    communication = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=2**63 - 1,
        help_text="Id of a communication of this incident",
    )
    notes = serializers.CharField(required=False, allow_blank=True, max_length=5000)


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=1000)


class CorrectStartSerializer(serializers.Serializer):
    started_at = _dt()
    reason = serializers.CharField(max_length=300)


class ClockViewSet(
    IncidentChildMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    IdempotentCreateModelMixin,
    viewsets.GenericViewSet,
):
    """Legal notification clocks on this incident, each stage computed: `due_at` (null for
    "without undue delay": due now, with the team's `target_at`), `time_left_seconds`,
    `overdue` and the `submission` made. Deadlines are defaults to check with counsel, not
    legal advice."""

    serializer_class = ClockSerializer
    pagination_class = None  # one per obligation at most
    denied_message = gettext_lazy("Only the incident's commanders and the security group may manage legal clocks.")
    write_rule = staticmethod(access.can_manage_security)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return RegulatoryClock.objects.none()
        return (
            self.get_incident()
            .clocks.select_related("obligation", "created_by")
            .prefetch_related(Prefetch("submissions", queryset=Submission.objects.select_related("submitted_by")))
            .order_by("started_at", "id")
        )

    def _clock(self):
        clock = self.get_object()
        clock.incident = self.get_incident()
        return clock

    def _respond(self, clock, code=status.HTTP_200_OK):
        fresh = self.get_queryset().get(pk=clock.pk)
        return Response(self.get_serializer(fresh).data, status=code)

    @extend_schema(request=SubmitSerializer, responses={201: ClockSerializer})
    @action(detail=True, methods=["post"])
    @idempotent
    def submit(self, request, incident_pk=None, pk=None):
        clock = self._clock()
        data = SubmitSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        communication = None
        if values.get("communication") is not None:
            communication = Communication.objects.filter(pk=values["communication"], incident=clock.incident).first()
            if communication is None:
                raise ValidationError({"communication": [gettext("No such communication on this incident.")]})
        with transaction.atomic():
            call_service(
                regulatory.record_submission,
                clock,
                values["stage"],
                request.user,
                submitted_at=values.get("submitted_at"),
                reference=values.get("reference", ""),
                communication=communication,
                notes=values.get("notes", ""),
            )
        return self._respond(clock, status.HTTP_201_CREATED)

    @extend_schema(request=ReasonSerializer, responses=ClockSerializer)
    @action(detail=True, methods=["post"], url_path="not-required")
    def not_required(self, request, incident_pk=None, pk=None):
        clock = self._clock()
        data = ReasonSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        call_service(regulatory.mark_not_required, clock, request.user, data.validated_data["reason"])
        return self._respond(clock)

    @extend_schema(request=CorrectStartSerializer, responses=ClockSerializer)
    @action(detail=True, methods=["post"], url_path="correct-start")
    def correct_start(self, request, incident_pk=None, pk=None):
        clock = self._clock()
        data = CorrectStartSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        call_service(regulatory.correct_clock_start, clock, values["started_at"], request.user, values["reason"])
        return self._respond(clock)


# URLs (included from incidents/api_urls.py) ----------------------------------------------------

router = DefaultRouter()
router.include_root_view = False
router.register("obligations", ObligationViewSet, basename="obligation")

incident_children = DefaultRouter()
incident_children.include_root_view = False
incident_children.register("mitigations", MitigationViewSet, basename="mitigation")
incident_children.register("clocks", ClockViewSet, basename="clock")

urlpatterns = [
    path("", include(router.urls)),
    path("incidents/<incident:incident_pk>/exposure/", ExposureView.as_view(), name="exposure"),
    path("incidents/<incident:incident_pk>/", include(incident_children.urls)),
]
