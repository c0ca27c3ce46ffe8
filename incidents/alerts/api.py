"""REST API of alerts (docs/alerts.md, docs/api.md):

- POST /api/v1/alerts/<source-id>/ (secret as `Authorization: Bearer <secret>`) or
  /api/v1/alerts/<source-id>/<secret>/: a monitoring system's delivery. 202 once stored; its
  alerts are routed by a task. 400 names the field at fault; 401 for an unknown source, a
  wrong secret or signature alike; 423 while the source is paused; 429 with Retry-After past
  the source's rate; an Idempotency-Key replays the first answer.
- /api/v1/alert-sources/: commanders connect (the answer holds the secret, once), change,
  pause, rotate (`POST .../rotate/`) and remove sources; /api/v1/alert-sources/<id>/rules/ their
  routing rules, in order, and `POST .../rules/try/` to see what they would do with a sample.
- GET /api/v1/alerts/: alerts, filtered by source, service, status, unrouted; triage actions
  `POST /api/v1/alerts/triage/<alert-id>/open/` and `.../attach/`.
"""

import json
import re

from django.conf import settings
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import include, path
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter
from rest_framework.views import APIView

from incidents import access, ratelimit
from incidents.alerts import filters, payloads
from incidents.alerts import services as alerts
from incidents.alerts.models import Alert, AlertRule, AlertSource
from incidents.api import ServiceRefField, UsernameField, call_service, is_text
from incidents.idempotency import REPLAYED_HEADER, IdempotentCreateModelMixin, parse_key
from incidents.models import Incident

SIGNATURE_META = "HTTP_" + alerts.SIGNATURE_HEADER.upper().replace("-", "_")
BEARER = re.compile(r"^Bearer\s+(\S+)$", re.IGNORECASE)
REFUSED = {"detail": "Unknown alert source or wrong secret."}
REFUSED_LIMIT, REFUSED_WINDOW = 30, 600


# Ingestion --------------------------------------------------------------------------------------


class DeliverySerializer(serializers.Serializer):
    delivery = serializers.IntegerField()
    alerts = serializers.IntegerField(help_text="How many alerts the delivery holds; they are routed shortly")


INGEST_SCHEMA = dict(
    tags=["alerts"],
    request={"application/json": OpenApiTypes.OBJECT},
    responses={
        202: DeliverySerializer,
        401: OpenApiResponse(description="Unknown source, wrong secret or wrong signature (the same answer)."),
        409: OpenApiResponse(description="A delivery with this Idempotency-Key is being stored."),
        413: OpenApiResponse(description="The body is larger than WARROOM_ALERT_MAX_BYTES."),
        422: OpenApiResponse(description="An Idempotency-Key sent again with another body."),
        423: OpenApiResponse(description="The source is paused: nothing is recorded."),
        429: OpenApiResponse(description="Over the source's rate limit; see Retry-After."),
    },
    parameters=[
        OpenApiParameter("Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False),
        OpenApiParameter(alerts.SIGNATURE_HEADER, OpenApiTypes.STR, OpenApiParameter.HEADER, required=False),
    ],
)


def _answer(data, status_code, headers=None):
    """A JSON answer as DRF's JSONRenderer writes it (compact, UTF-8), without DRF's view
    machinery: the ingestion endpoint is the hottest path of all (issue #11). `.data` holds
    what was sent, as on DRF's responses."""
    response = HttpResponse(
        json.dumps(data, ensure_ascii=False, separators=(",", ":")),
        content_type="application/json",
        status=status_code,
        headers=headers,
    )
    response.data = data
    return response


@csrf_exempt  # the source's secret is the credential, not a session
def ingest(request, source_id, secret=None):
    """A delivery of alerts from a monitoring system, in the source's format (Alertmanager
    webhook v4, Grafana alerting webhook or the generic JSON of docs/alerts.md). A plain Django
    view (IngestView documents it in the OpenAPI schema); incidents.alerts.middleware answers it
    ahead of the staff middleware."""
    if request.method != "POST":
        response = _answer({"detail": gettext('Method "{method}" not allowed.').format(method=request.method)}, 405)
        response["Allow"] = "POST"
        return response
    if secret is None:
        m = BEARER.match(request.META.get("HTTP_AUTHORIZATION", ""))  # META: `headers` parses them all
        secret = m[1] if m else ""
    body = None
    # This process's copy of the source first; a fresh read when it no longer holds
    # (services.SourceChanged: rotated, paused or re-keyed since), so a change counts at once.
    for fresh in (False, True):
        try:
            source = alerts.authenticate(source_id, secret, fresh=fresh)
        except alerts.SourceRefused:
            return _refused(request)
        if body is None:
            refusal = _over_limits(request, source)
            if refusal is not None:
                return refusal
            body = request.read(settings.WARROOM_ALERT_MAX_BYTES + 1)
            if len(body) > settings.WARROOM_ALERT_MAX_BYTES:
                return _too_large()
        try:
            alerts.check_signature(source, body, request.META.get(SIGNATURE_META))
            delivery, count, replayed = alerts.receive(source, body, parse_key(request) or "")
        except ValidationError as exc:  # the Idempotency-Key header
            return _answer(exc.detail, 400)
        except alerts.SourceChanged:
            continue
        except alerts.SourceRefused:
            return _refused(request)
        except alerts.SourcePaused:
            return _answer({"detail": gettext("This alert source is paused.")}, 423)
        except payloads.PayloadError as exc:
            return _answer({exc.field: [exc.message]}, 400)
        except alerts.KeyReused:
            return _answer(
                {"idempotency_key": ["This Idempotency-Key was already used with another body: use a new key."]}, 422
            )
        except alerts.KeyInUse:
            return _answer({"idempotency_key": ["A delivery with this Idempotency-Key is being stored; retry."]}, 409)
        headers = {REPLAYED_HEADER: "true"} if replayed else None
        return _answer({"delivery": delivery, "alerts": count}, 202, headers)
    raise AssertionError("a fresh read never raises SourceChanged")


def _over_limits(request, source):
    if alerts.over_rate(source.pk):
        return _too_many(settings.WARROOM_ALERT_RATE_WINDOW)
    length = request.META.get("CONTENT_LENGTH") or "0"
    if not length.isdigit() or int(length) > settings.WARROOM_ALERT_MAX_BYTES:
        return _too_large()
    return None


def _too_large():
    return _answer({"body": [f"At most {settings.WARROOM_ALERT_MAX_BYTES} bytes per request."]}, 413)


def _refused(request):
    # Guessing secrets is slowed per client address; the answer never says whether the source exists.
    address = ratelimit.key_part(ratelimit.client_address(request))
    if ratelimit.over_limit(f"alerts:refused:{address}", REFUSED_LIMIT, REFUSED_WINDOW):
        return _too_many(REFUSED_WINDOW)
    return _answer(REFUSED, 401)


def _too_many(window):
    return _answer({"detail": gettext("Too many requests; slow down.")}, 429, {"Retry-After": str(window)})


class IngestView(APIView):
    """A delivery of alerts from a monitoring system, in the source's format (Alertmanager
    webhook v4, Grafana alerting webhook or the generic JSON of docs/alerts.md)."""

    # Only the OpenAPI schema reads this class: the URL serves `ingest`, a plain Django view
    # (see `_documented_by`), and a DRF request would only delegate to it.
    authentication_classes = []  # the source's secret is the credential
    permission_classes = [permissions.AllowAny]
    throttle_classes = []  # limited per source, and wrong secrets per address

    @extend_schema(**INGEST_SCHEMA)
    def post(self, request, source_id, secret=None):
        return ingest(request._request, source_id, secret)


class SecretInPathIngestView(IngestView):
    @extend_schema(operation_id="alerts_ingest_secret_in_path", **INGEST_SCHEMA)
    def post(self, request, source_id, secret=None):
        """The same, with the secret in the path, for systems that cannot set a header."""
        return super().post(request, source_id, secret)


def _documented_by(view_class, function):
    """`function` as the URL's view, described in the OpenAPI schema by the DRF `view_class`:
    drf-spectacular (through DRF's endpoint enumerator) takes a view whose `cls` is an APIView
    and reads the operation from that class, never calling it."""

    def view(request, *args, **kwargs):
        return function(request, *args, **kwargs)

    view.cls, view.initkwargs, view.csrf_exempt = view_class, {}, True
    view.__name__ = view.__qualname__ = function.__name__
    view.__doc__ = function.__doc__
    return view


ingest_with_bearer = _documented_by(IngestView, ingest)
ingest_with_secret_in_path = _documented_by(SecretInPathIngestView, ingest)


# Sources and rules --------------------------------------------------------------------------------


class AlertSourceSerializer(serializers.ModelSerializer):
    # Slugs (or ids), each checked as text first: a NUL reaching the query was a 500.
    services = ServiceRefField(many=True, required=False)
    owner = UsernameField(required=False, help_text="Declares and commands the incidents it opens (a commander)")
    ingest_url = serializers.SerializerMethodField()
    secret = serializers.SerializerMethodField(help_text="Only in the answer to creating or rotating")
    signing_key = serializers.SerializerMethodField(help_text="Only in the answer to creating or rotating")

    class Meta:
        model = AlertSource
        fields = [
            "id",
            "name",
            "kind",
            "services",
            "owner",
            "paused",
            "require_signature",
            "grouping_minutes",
            "secret_prefix",
            "secret_rotated_at",
            "ingest_url",
            "secret",
            "signing_key",
            "created_at",
        ]
        read_only_fields = ["paused", "secret_prefix", "secret_rotated_at", "created_at"]

    def get_ingest_url(self, source) -> str:
        return f"{settings.SITE_URL}/api/v1/alerts/{source.pk}/"

    def get_secret(self, source) -> str | None:
        return self.context.get("secret")

    def get_signing_key(self, source) -> str | None:
        return self.context.get("signing_key")

    def validate_name(self, value):
        if not is_text(value):
            raise ValidationError(gettext("Must be text without NUL characters."))
        return value

    def create(self, validated):
        source, secret, signing_key = call_service(alerts.create_source, self.context["request"].user, **validated)
        self.context.update(secret=secret, signing_key=signing_key)
        return source

    def update(self, source, validated):
        return call_service(alerts.update_source, source, self.context["request"].user, **validated)


class CommanderWrites(permissions.BasePermission):
    message = gettext_lazy("Only commanders may connect and change alert sources and rules.")

    def has_permission(self, request, view):
        return request.method in permissions.SAFE_METHODS or access.can_manage_alert_sources(request.user)


class SourceReaders(permissions.BasePermission):
    message = gettext_lazy("Only people with a role in Warroom may see alert sources.")

    def has_permission(self, request, view):
        return access.can_see_alerts(request.user)


class AlertSourceViewSet(IdempotentCreateModelMixin, viewsets.ModelViewSet):
    """Alert sources. Everyone with a role reads them; commanders write. The secret (and
    signing key) is in the answer to create and rotate only."""

    serializer_class = AlertSourceSerializer
    permission_classes = [permissions.IsAuthenticated, SourceReaders, CommanderWrites]

    def get_queryset(self):
        return AlertSource.objects.select_related("owner").prefetch_related("services").order_by("name")

    def perform_destroy(self, source):
        call_service(alerts.delete_source, source, self.request.user)

    @extend_schema(request=None, responses=AlertSourceSerializer)
    @action(detail=True, methods=["post"])
    def rotate(self, request, pk=None):
        """A new secret and signing key; the old ones stop working at once."""
        source = self.get_object()
        secret, signing_key = call_service(alerts.rotate_secret, source, request.user)
        context = self.get_serializer_context() | {"secret": secret, "signing_key": signing_key}
        return Response(AlertSourceSerializer(source, context=context).data)

    @extend_schema(request=None, responses=AlertSourceSerializer)
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        source = call_service(alerts.set_paused, self.get_object(), request.user, True)
        return Response(AlertSourceSerializer(source, context=self.get_serializer_context()).data)

    @extend_schema(request=None, responses=AlertSourceSerializer)
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        source = call_service(alerts.set_paused, self.get_object(), request.user, False)
        return Response(AlertSourceSerializer(source, context=self.get_serializer_context()).data)


class AlertRuleSerializer(serializers.ModelSerializer):
    service = ServiceRefField(required=False, allow_null=True)
    severity = serializers.IntegerField(
        min_value=1, max_value=4, required=False, allow_null=True, help_text="SEV 1-4; null: from the severity label"
    )
    kind = serializers.ChoiceField(
        choices=Incident.Kind.values,
        required=False,
        help_text="Of the incidents it opens (security kinds: confidential)",
    )
    matchers = serializers.ListField(
        child=serializers.CharField(max_length=600), max_length=20, required=False, help_text='e.g. ["service=api"]'
    )

    class Meta:
        model = AlertRule
        fields = ["id", "position", "name", "matchers", "service", "severity", "kind", "action"]

    def create(self, validated):
        return call_service(alerts.create_rule, self.context["source"], self.context["request"].user, **validated)

    def update(self, rule, validated):
        return call_service(alerts.update_rule, rule, self.context["request"].user, **validated)


class TryRulesSerializer(serializers.Serializer):
    payload = serializers.JSONField(help_text="A sample payload, as the source would post it")
    rule = AlertRuleSerializer(required=False, help_text="An unsaved rule to try in its position")


class TriedAlertSerializer(serializers.Serializer):
    title = serializers.CharField()
    fingerprint = serializers.CharField()
    action = serializers.CharField()
    rule = serializers.IntegerField(allow_null=True)
    service = serializers.CharField(allow_null=True)
    severity = serializers.IntegerField()
    outcome = serializers.CharField()


class AlertRuleViewSet(IdempotentCreateModelMixin, viewsets.ModelViewSet):
    """A source's routing rules, in the order they are tried (position, then id)."""

    serializer_class = AlertRuleSerializer
    permission_classes = [permissions.IsAuthenticated, SourceReaders, CommanderWrites]

    def get_source(self):
        if not hasattr(self, "_source"):
            self._source = get_object_or_404(AlertSource, pk=self.kwargs["source_pk"])
        return self._source

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return AlertRule.objects.none()
        return self.get_source().rules.select_related("service").order_by("position", "id")

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if not getattr(self, "swagger_fake_view", False):
            context["source"] = self.get_source()
        return context

    def perform_destroy(self, rule):
        call_service(alerts.delete_rule, rule, self.request.user)

    @extend_schema(request=TryRulesSerializer, responses=TriedAlertSerializer(many=True))
    @action(detail=False, methods=["post"], url_path="try")
    def try_rules(self, request, source_pk=None):
        """What the rules (with an unsaved `rule` in its place) would do with a sample payload.
        Saves nothing."""
        source = self.get_source()
        data = TryRulesSerializer(data=request.data, context=self.get_serializer_context())
        data.is_valid(raise_exception=True)
        candidate = None
        if "rule" in data.validated_data:
            values = dict(data.validated_data["rule"])
            values.setdefault("action", AlertRule.Action.OPEN)
            values.setdefault("kind", Incident.Kind.AVAILABILITY)
            values.setdefault("position", 10**6)
            values = call_service(alerts._check_rule, source, values)
            candidate = AlertRule(source=source, **values)
        try:
            tried = alerts.try_rules(source, data.validated_data["payload"], candidate)
        except payloads.PayloadError as exc:
            raise ValidationError({f"payload.{exc.field}": [exc.message]}) from None
        return Response(
            [
                {
                    "title": alert["title"],
                    "fingerprint": alert["fingerprint"],
                    "action": decision.action,
                    "rule": decision.rule.pk if decision.rule else None,
                    "service": decision.service.slug if decision.service else None,
                    "severity": decision.severity,
                    "outcome": sentence,
                }
                for alert, decision, sentence in tried
            ]
        )


# Alerts -------------------------------------------------------------------------------------------


class AlertSerializer(serializers.ModelSerializer):
    source = serializers.SlugRelatedField(slug_field="name", read_only=True)
    severity = serializers.IntegerField(read_only=True, help_text="SEV 1-4")
    service = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    incident = serializers.CharField(
        source="incident.key", read_only=True, allow_null=True, help_text="The incident's id (its opaque key)"
    )

    class Meta:
        model = Alert
        fields = [
            "id",
            "source",
            "fingerprint",
            "status",
            "title",
            "labels",
            "annotations",
            "url",
            "starts_at",
            "ends_at",
            "first_seen",
            "last_seen",
            "routed",
            "service",
            "severity",
            "incident",
            "fired_count",
            "resolved_count",
            "note",
        ]


class AlertReaders(permissions.BasePermission):
    message = gettext_lazy("Only people with a role in Warroom may see alerts.")

    def has_permission(self, request, view):
        return access.can_see_alerts(request.user)


class AlertListView(ListAPIView):
    """Alerts, newest first; those of incidents the caller may not see are left out."""

    serializer_class = AlertSerializer
    permission_classes = [permissions.IsAuthenticated, AlertReaders]
    filterset_class = filters.AlertFilter

    def get_queryset(self):
        return Alert.objects.visible_to(self.request.user).select_related("source", "service", "incident")


class AttachSerializer(serializers.Serializer):
    incident = serializers.RegexField(
        r"^([0-9]{1,18}|[a-z][a-z0-9]{11})$",
        help_text="The incident's id (its key), or its number",
        error_messages={"invalid": "Give the incident's id (e.g. k7mq2xw9pd3e) or its number."},
    )


class OpenSerializer(serializers.Serializer):
    severity = serializers.IntegerField(min_value=1, max_value=4, required=False, help_text="Default: the alert's")


class TriageView(GenericAPIView):
    serializer_class = AlertSerializer
    permission_classes = [permissions.IsAuthenticated, AlertReaders]

    def get_alert(self):
        try:
            return (
                Alert.objects.visible_to(self.request.user)
                .select_related("source", "incident")
                .get(pk=self.kwargs["alert_pk"])
            )
        except Alert.DoesNotExist:
            raise Http404("No such alert.") from None


class TriageOpenView(TriageView):
    @extend_schema(request=OpenSerializer, responses={201: AlertSerializer})
    def post(self, request, alert_pk):
        """Open an incident for this alert (responders and commanders; see docs/alerts.md for who commands it)."""
        alert = self.get_alert()
        data = OpenSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        call_service(alerts.open_incident_from, alert, request.user, data.validated_data.get("severity"))
        alert.refresh_from_db()
        return Response(AlertSerializer(alert).data, status=status.HTTP_201_CREATED)


class TriageAttachView(TriageView):
    @extend_schema(request=AttachSerializer, responses=AlertSerializer)
    def post(self, request, alert_pk):
        """Attach this alert to an open incident the caller works on."""
        alert = self.get_alert()
        data = AttachSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        incident = access.get_incident_for(
            request.user, data.validated_data["incident"], Incident.objects.prefetch_related("memberships")
        )
        if not access.can_triage_alerts(request.user):
            raise PermissionDenied(gettext("Only responders and commanders may attach alerts."))
        call_service(alerts.attach_to, alert, incident, request.user)
        alert.refresh_from_db()
        return Response(AlertSerializer(alert).data)


# URLs (included from incidents/api_urls.py) -------------------------------------------------------

router = DefaultRouter()
router.include_root_view = False
router.register("alert-sources", AlertSourceViewSet, basename="alert-source")

rules_router = DefaultRouter()
rules_router.include_root_view = False
rules_router.register("rules", AlertRuleViewSet, basename="alert-rule")

# The ingestion endpoint, included by config/urls.py ahead of every other pattern of the site:
# the hottest path of all, it is resolved in a few steps rather than after the whole API.
ingest_urlpatterns = [
    path("<int:source_id>/", ingest_with_bearer, name="alert-ingest"),
    path("<int:source_id>/<str:secret>/", ingest_with_secret_in_path, name="alert-ingest-secret"),
]

urlpatterns = [
    path("alerts/", AlertListView.as_view(), name="alert-list"),
    path("alerts/triage/<int:alert_pk>/open/", TriageOpenView.as_view(), name="alert-triage-open"),
    path("alerts/triage/<int:alert_pk>/attach/", TriageAttachView.as_view(), name="alert-triage-attach"),
    path("", include(router.urls)),
    path("alert-sources/<int:source_pk>/", include(rules_router.urls)),
]
