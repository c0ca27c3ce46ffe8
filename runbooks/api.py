"""REST API for runbooks, their versions, runs on incidents and step runs."""

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import F
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext, gettext_lazy
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from incidents import access
from incidents.api import IncidentChildMixin, UsernameField, is_text
from incidents.idempotency import IdempotentCreateModelMixin, idempotent
from incidents.models import Incident

from . import services
from .fileformat import RunbookData, RunbookFileError, StepData, parse, render
from .models import Runbook, RunbookRun, RunbookStep, RunbookVersion, StepRun

User = get_user_model()


def call_service(operation, *args, **kwargs):
    try:
        return operation(*args, **kwargs)
    except DjangoValidationError as exc:
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        raise ValidationError(detail) from exc


class StepSerializer(serializers.ModelSerializer):
    role = serializers.ChoiceField(choices=RunbookStep.Role.values, default=RunbookStep.Role.RESPONDER)

    class Meta:
        model = RunbookStep
        fields = ["position", "title", "body", "role", "expected_minutes", "critical"]
        read_only_fields = ["position"]


class VersionSerializer(serializers.ModelSerializer):
    slug = serializers.CharField(source="runbook.slug", read_only=True)
    services = serializers.SlugRelatedField(slug_field="slug", many=True, read_only=True)
    owner = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    steps = StepSerializer(many=True, read_only=True)
    text = serializers.SerializerMethodField(help_text="The version as a runbook file")

    class Meta:
        model = RunbookVersion
        fields = [
            "slug",
            "number",
            "title",
            "summary",
            "kinds",
            "min_severity",
            "services",
            "tags",
            "owner",
            "review_by",
            "created_at",
            "steps",
            "text",
        ]

    def get_text(self, version) -> str:
        return render(services.data_of(version))


@extend_schema_field({"type": "string", "enum": list(Incident.Kind.values)})
class _IncidentKind(serializers.ChoiceField):
    """An incident kind; described inline so the schema keeps one enum component per field name."""

    def __init__(self, **kwargs):
        super().__init__(choices=Incident.Kind.values, **kwargs)


class RunbookWriteSerializer(serializers.Serializer):
    """Write a runbook either as file `text` or as fields; either way it becomes a new version
    (or none, when nothing changed)."""

    text = serializers.CharField(required=False, help_text="Markdown with YAML front matter (docs/runbooks.md)")
    slug = serializers.SlugField(required=False)
    title = serializers.CharField(required=False, max_length=200)
    summary = serializers.CharField(required=False, allow_blank=True)
    kinds = serializers.ListField(child=_IncidentKind(), required=False)
    min_severity = serializers.IntegerField(min_value=1, max_value=4, required=False)
    services = serializers.ListField(child=serializers.SlugField(), required=False)
    tags = serializers.ListField(child=serializers.CharField(max_length=50), required=False)
    owner = serializers.CharField(required=False, allow_blank=True)
    review_by = serializers.DateField(required=False, allow_null=True)
    steps = StepSerializer(many=True, required=False)

    def validate(self, attrs):
        if "text" in attrs:
            try:
                data = parse(attrs["text"], "text")
            except RunbookFileError as exc:
                raise ValidationError(
                    {"text": gettext("Line {line}: {reason}").format(line=exc.line, reason=exc.reason)}
                ) from None
        else:
            for name in ("slug", "title", "steps"):
                if not attrs.get(name):
                    raise ValidationError({name: gettext("This field is required (or send the runbook as `text`).")})
            data = RunbookData(
                slug=attrs["slug"],
                title=attrs["title"],
                summary=attrs.get("summary", ""),
                kinds=attrs.get("kinds", []),
                min_severity=attrs.get("min_severity", 4),
                services=attrs.get("services", []),
                tags=attrs.get("tags", []),
                owner=attrs.get("owner", ""),
                review_by=attrs.get("review_by"),
                steps=[
                    StepData(
                        title=s["title"],
                        body=s.get("body", ""),
                        role=s.get("role", RunbookStep.Role.RESPONDER),
                        expected_minutes=s.get("expected_minutes"),
                        critical=s.get("critical", False),
                    )
                    for s in attrs["steps"]
                ],
            )
        expected = self.context.get("slug")
        if expected and data.slug != expected:
            raise ValidationError({"slug": gettext("The slug cannot change; create a new runbook instead.")})
        return {"data": data}


class RunbookViewSet(viewsets.GenericViewSet, mixins.ListModelMixin, mixins.RetrieveModelMixin):
    """The runbook library: the latest version of each runbook. Commanders write; every write
    with a change makes a new version."""

    lookup_field = "slug"
    lookup_value_regex = "[a-z0-9-]+"
    serializer_class = VersionSerializer

    def get_queryset(self):
        return (
            RunbookVersion.objects.filter(runbook__archived=False, runbook__latest=F("pk"))
            .select_related("runbook", "owner")
            .prefetch_related("services", "steps")
            .order_by("runbook__slug")
        )

    def get_object(self):
        return get_object_or_404(self.get_queryset(), runbook__slug=self.kwargs["slug"])

    def _save(self, request, slug=None, status=201):
        if not access.can_author_runbooks(request.user):
            raise PermissionDenied(gettext("Only commanders may edit runbooks."))
        writer = RunbookWriteSerializer(data=request.data, context={"slug": slug})
        writer.is_valid(raise_exception=True)
        version, created = call_service(services.save_runbook, request.user, writer.validated_data["data"])
        version = self.get_queryset().get(pk=version.pk)
        return Response({**VersionSerializer(version).data, "created": created}, status=status if created else 200)

    @extend_schema(request=RunbookWriteSerializer, responses=VersionSerializer)
    @idempotent
    def create(self, request):
        return self._save(request)

    @extend_schema(request=RunbookWriteSerializer, responses=VersionSerializer)
    def update(self, request, slug=None):
        get_object_or_404(Runbook, slug=slug)
        return self._save(request, slug=slug, status=200)

    # A plain list, newest first (a runbook has few versions): not paginated.
    @extend_schema(
        responses=VersionSerializer(many=True),
        parameters=[OpenApiParameter("number", int, description="Only this version number")],
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def versions(self, request, slug=None):
        runbook = get_object_or_404(Runbook, slug=slug)
        versions = (
            runbook.versions.select_related("runbook", "owner")
            .prefetch_related("services", "steps")
            .order_by("-number")
        )
        number = request.query_params.get("number")
        if number:
            plain = number.isascii() and number.isdigit() and len(number) <= 9  # int() refuses "²"
            versions = versions.filter(number=int(number)) if plain else versions.none()
        return Response(VersionSerializer(versions, many=True).data)


@extend_schema_field({"type": "integer", "nullable": True})
class _Minutes(serializers.IntegerField):
    pass


class StepRunSerializer(serializers.ModelSerializer):
    title = serializers.CharField(source="step.title", read_only=True)
    role = serializers.CharField(source="step.role", read_only=True)
    critical = serializers.BooleanField(source="step.critical", read_only=True)
    expected_minutes = _Minutes(source="step.expected_minutes", read_only=True)
    status = serializers.ChoiceField(choices=StepRun.Status.values, required=False)
    assignee = UsernameField(required=False, allow_null=True)
    incident = serializers.CharField(
        source="run.incident.key", read_only=True, help_text="The incident's id (its opaque key)"
    )

    class Meta:
        model = StepRun
        fields = [
            "id",
            "incident",
            "position",
            "title",
            "role",
            "critical",
            "expected_minutes",
            "status",
            "assignee",
            "note",
            "reason",
            "started_at",
            "completed_at",
            "updated_at",
        ]
        read_only_fields = ["position", "started_at", "completed_at", "updated_at"]

    def update(self, step_run, validated):
        kwargs = {k: validated[k] for k in ("status", "note", "reason") if k in validated}
        if "assignee" in validated:
            kwargs["assignee"] = validated["assignee"]
        return call_service(services.change_step, step_run, self.context["request"].user, **kwargs)


class RunbookSlugField(serializers.SlugRelatedField):
    default_error_messages = {"invalid": "Give a runbook slug."}

    def to_internal_value(self, data):
        if not is_text(data):  # a NUL byte would reach PostgreSQL, which refuses it (a 500)
            self.fail("invalid")
        return super().to_internal_value(data)


class RunSerializer(serializers.ModelSerializer):
    runbook = RunbookSlugField(
        source="version.runbook", slug_field="slug", queryset=Runbook.objects.filter(archived=False)
    )
    version = serializers.IntegerField(source="version.number", read_only=True)
    title = serializers.CharField(source="version.title", read_only=True)
    started_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    step_runs = StepRunSerializer(many=True, read_only=True)
    progress = serializers.SerializerMethodField()

    class Meta:
        model = RunbookRun
        fields = ["id", "runbook", "version", "title", "started_at", "started_by", "progress", "step_runs"]
        read_only_fields = ["started_at"]

    @extend_schema_field(
        {
            "type": "object",
            "properties": {k: {"type": "integer"} for k in ("done", "total", "critical_open", "overdue", "blocked")},
        }
    )
    def get_progress(self, run):
        progress = services.progress(run)
        return {k: progress[k] for k in ("done", "total", "critical_open", "overdue", "blocked")}

    def create(self, validated):
        run = call_service(
            services.attach, self.context["incident"], validated["version"]["runbook"], self.context["request"].user
        )
        return services.runs_for(self.context["incident"]).get(pk=run.pk)


class RunViewSet(IncidentChildMixin, mixins.ListModelMixin, IdempotentCreateModelMixin, viewsets.GenericViewSet):
    """Runbooks followed on an incident. POST `runbook` (a slug) attaches its latest version."""

    serializer_class = RunSerializer
    pagination_class = None
    denied_message = gettext_lazy("Only the incident's commanders may attach runbooks.")
    write_rule = staticmethod(access.can_command)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return RunbookRun.objects.none()
        return services.runs_for(self.get_incident())


class StepRunViewSet(mixins.RetrieveModelMixin, mixins.UpdateModelMixin, viewsets.GenericViewSet):
    """One step of a run: PATCH `status`, `note`, `reason` (needed to skip or block),
    `assignee` (a username, or null)."""

    serializer_class = StepRunSerializer
    http_method_names = ["get", "patch", "head", "options"]

    def get_queryset(self):
        visible = Incident.objects.visible_to(self.request.user)
        return StepRun.objects.filter(run__incident__in=visible).select_related("step", "assignee", "run__incident")

    def check_object_permissions(self, request, step_run):
        # Refuse a viewer before judging their input: a 403, not a 400 about a field.
        super().check_object_permissions(request, step_run)
        if request.method not in ("GET", "HEAD", "OPTIONS") and not access.can_log(request.user, step_run.run.incident):
            raise PermissionDenied(gettext("Only responders and commanders may work on runbook steps."))
