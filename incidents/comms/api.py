"""REST API for communications, in the style of incidents.api: serializers check shapes and
call incidents.comms.services; a service's refusal is a 400 keyed by field (or a 403 with its
message); a confidential incident is a 404 to non-members.

- /api/v1/incidents/<id>/communications/ list, create, retrieve, partial update, and the
  workflow actions submit, approve, send-back, discard, schedule, unschedule, publish and
  translations. Approve carries the `version` of the text the approver read: a 409 with the
  current communication if it changed since. Anyone who may see the incident reads; comms staff, commanders and the
  incident's commanders and comms lead write.
- /api/v1/communication-templates/ the template library: anyone signed in reads; comms staff
  and commanders write.
- /api/v1/recipient-lists/ and /api/v1/recipient-lists/<id>/members/: who customer, regulator
  and partner messages are delivered to (e-mail addresses, signed webhooks). Comms staff and
  commanders only, reading included (they are people's addresses). A communication names its
  `recipient_lists`; once published, its `deliveries` show each recipient's status to those
  who may write it.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Count
from django.shortcuts import get_object_or_404
from django.urls import include, path
from django.utils.translation import gettext, gettext_lazy
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from incidents import access
from incidents.api import IncidentChildMixin, call_service, validation_detail
from incidents.comms import delivery, recipients
from incidents.comms import services as communications
from incidents.comms.services import AFFECTED_LEVELS, LANGUAGE_CODE
from incidents.idempotency import IdempotentCreateModelMixin
from incidents.models import (
    AudienceDelivery,
    Communication,
    CommunicationTemplate,
    CommunicationTranslation,
    Recipient,
    RecipientList,
)


def _language(value):
    value = value.strip().lower()
    if not LANGUAGE_CODE.match(value):
        raise serializers.ValidationError(gettext("Use a language code such as en, de, pt-br or zh-hans."))
    return value


class AffectedSerializer(serializers.Serializer):
    service = serializers.CharField(max_length=120, help_text="Service slug")
    level = serializers.ChoiceField(choices=AFFECTED_LEVELS)


class TranslationSerializer(serializers.ModelSerializer):
    class Meta:
        model = CommunicationTranslation
        fields = ["language", "title", "body"]
        extra_kwargs = {"title": {"required": False}}
        validators = []  # one per language: set_translation replaces

    def validate_language(self, value):
        return _language(value)


MAX_ID = 2**31 - 1  # a PostgreSQL integer


class AudienceDeliverySerializer(serializers.ModelSerializer):
    status = serializers.CharField(read_only=True, help_text="pending (waiting), sending, sent or failed")
    list = serializers.CharField(source="list_name", read_only=True)
    error = serializers.CharField(source="last_error", read_only=True)
    address = serializers.CharField(
        read_only=True,
        help_text="The e-mail address or webhook URL it went to. A followed status page's subscriber's is masked "
        "(j•••@acme.example, https://hooks.acme.example/•••; `name` empty, the address left out of `error`) for "
        "those who may not manage the recipient lists",
    )

    class Meta:
        model = AudienceDelivery
        fields = ["id", "kind", "address", "name", "list", "status", "attempts", "error", "created_at", "sent_at"]
        read_only_fields = fields


class CommunicationSerializer(serializers.ModelSerializer):
    audience = serializers.ChoiceField(choices=Communication.Audience.values)
    public_status = serializers.ChoiceField(
        choices=["", *Communication.PublicStatus.values],
        required=False,
        help_text="The status page label; defaults to the incident's status for status-page updates",
    )
    public_impact = serializers.ChoiceField(
        choices=["", *Communication.PublicImpact.values],
        required=False,
        help_text="Status page: the incident's impact as this update states it (Statuspage's none, minor, major, "
        "critical); defaults to a suggestion from the severity. The page shows the latest published update's",
    )
    public_title = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        help_text="Status page: the incident's public title from this update's publication on; empty keeps the "
        "incident's. An incident without one cannot have an update submitted, approved or published",
    )
    affected = AffectedSerializer(many=True, required=False, help_text="Status page: each service's level")
    body = serializers.CharField(
        required=False, allow_blank=True, help_text="Markdown; filled from `template` when omitted"
    )
    template = serializers.PrimaryKeyRelatedField(
        queryset=CommunicationTemplate.objects.all(), required=False, allow_null=True
    )
    author = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    approved_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    published_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    translations = TranslationSerializer(many=True, read_only=True)
    version = serializers.IntegerField(
        source="content_version",
        read_only=True,
        help_text="Goes up with every change of the text or a translation; approve sends the one you read",
    )
    recipient_lists = serializers.PrimaryKeyRelatedField(
        many=True,
        queryset=RecipientList.objects.all(),
        required=False,
        help_text="Customers, regulators, partners: the ids of the recipient lists (of that audience) it goes to",
    )
    notifies_clock = serializers.IntegerField(
        source="notifies_clock_id",
        min_value=1,
        max_value=MAX_ID,
        required=False,
        allow_null=True,
        help_text="Regulators: the legal clock (of this incident) whose stage this message is the notification for",
    )
    notifies_stage = serializers.CharField(
        max_length=60,
        required=False,
        allow_blank=True,
        help_text="That clock's stage; publishing the message records the submission on it",
    )
    deliveries = serializers.SerializerMethodField(
        help_text="Once published: each recipient's delivery (shown to those who may write communications)"
    )

    class Meta:
        model = Communication
        fields = [
            "id",
            "audience",
            "title",
            "body",
            "language",
            "public_status",
            "public_impact",
            "public_title",
            "affected",
            "status",
            "version",
            "template",
            "author",
            "approved_by",
            "approved_at",
            "scheduled_for",
            "published_at",
            "published_by",
            "created_at",
            "updated_at",
            "translations",
            "recipient_lists",
            "notifies_clock",
            "notifies_stage",
            "deliveries",
        ]
        read_only_fields = [
            "status",
            "approved_at",
            "scheduled_for",
            "published_at",
            "created_at",
            "updated_at",
        ]

    def validate_language(self, value):
        return _language(value)

    @extend_schema_field(AudienceDeliverySerializer(many=True))
    def get_deliveries(self, comm):
        request = self.context.get("request")
        if request is None or not access.can_write_communication(request.user, comm.incident):
            return []
        shown = [d.seen_by(request.user) for d in comm.deliveries.all()]
        return AudienceDeliverySerializer(shown, many=True).data

    @staticmethod
    def _notifies(validated, comm=None):
        """(clock id, stage) from the request, None to clear it, or False when not sent."""
        if "notifies_clock_id" not in validated and "notifies_stage" not in validated:
            return False
        clock = validated.get("notifies_clock_id", comm.notifies_clock_id if comm else None)
        stage = validated.get("notifies_stage", comm.notifies_stage if comm else "")
        if clock is None and not stage:
            return None
        if clock is None:
            raise serializers.ValidationError({"notifies_clock": [gettext("Choose a legal clock of this incident.")]})
        return (clock, stage)

    def create(self, validated):
        incident = self.context["incident"]
        template = validated.get("template")
        body = validated.get("body", "")
        if not body.strip() and template is not None:
            body = communications.fill_template(template, incident)
        return call_service(
            communications.draft,
            incident,
            self.context["request"].user,
            audience=validated["audience"],
            body=body,
            title=validated.get("title", ""),
            language=validated.get("language") or (template.language if template else "en"),
            public_status=validated.get("public_status") or (template.public_status if template else ""),
            affected=[dict(item) for item in validated.get("affected", [])],
            template=template,
            recipient_lists=[item.pk for item in validated.get("recipient_lists", [])],
            notifies=self._notifies(validated) or None,
            public_impact=validated.get("public_impact", ""),
            public_title=validated.get("public_title", ""),
        )

    def update(self, comm, validated):
        if "template" in validated:
            raise serializers.ValidationError(
                {"template": [gettext("A draft's template cannot change; edit its body.")]}
            )
        fields = dict(validated)
        if "affected" in fields:
            fields["affected"] = [dict(item) for item in fields["affected"]]
        if "recipient_lists" in fields:
            fields["recipient_lists"] = [item.pk for item in fields["recipient_lists"]]
        notifies = self._notifies(validated, comm)
        fields.pop("notifies_clock_id", None)
        fields.pop("notifies_stage", None)
        if notifies is not False:
            fields["notifies"] = notifies
        return call_service(communications.edit, comm, self.context["request"].user, **fields)


MAX_VERSION = 2**31 - 1  # a PostgreSQL integer


class ApproveSerializer(serializers.Serializer):
    version = serializers.IntegerField(
        min_value=1,
        max_value=MAX_VERSION,
        help_text="The `version` of the text you read and approve; if it changed since, 409 and nothing is approved",
        error_messages={
            "required": "Give the version of the text you approve (its `version` when you read it).",
            "null": "Give the version of the text you approve (its `version` when you read it).",
            "invalid": "Give the version as a whole number.",
        },
    )


class Conflict(APIException):
    """409: the text changed since the approver read it. Keyed by the field at fault like a
    400, with the communication as it is now: {"version": ["..."], "communication": {...}}."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The communication changed since you read it."
    default_code = "conflict"


class ScheduleSerializer(serializers.Serializer):
    scheduled_for = serializers.DateTimeField(help_text="When to publish; must be in the future")


class CommunicationViewSet(
    IncidentChildMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    IdempotentCreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """An incident's communications, newest first. Workflow: draft -> in review (submit) ->
    approved (approve, with the `version` read; for the status page, customers and regulators
    by someone who neither wrote nor changed the text) -> published (publish, done by a worker:
    202) or scheduled (schedule); send-back returns to draft; discard ends it. PATCH edits;
    editing an approved update sends it back to review."""

    serializer_class = CommunicationSerializer
    http_method_names = ["get", "post", "patch", "head", "options"]
    denied_message = gettext_lazy("Only comms staff and the incident's commanders may write communications.")
    write_rule = staticmethod(access.can_write_communication)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Communication.objects.none()
        return (
            self.get_incident()
            .communications.select_related("author", "approved_by", "published_by")
            .prefetch_related("translations", "recipient_lists", "deliveries")
            .order_by("-created_at", "-id")
        )

    def _respond(self, comm, code=status.HTTP_200_OK):
        comm = self.get_queryset().get(pk=comm.pk)
        return Response(self.get_serializer(comm).data, status=code)

    def _step(self, operation, *args):
        comm = self.get_object()  # 404 if hidden, 403 if the caller may not write
        return self._respond(call_service(operation, comm, self.request.user, *args))

    @extend_schema(request=None, responses=CommunicationSerializer)
    @action(detail=True, methods=["post"])
    def submit(self, request, incident_pk=None, pk=None):
        return self._step(communications.submit)

    @extend_schema(
        request=ApproveSerializer,
        responses={
            200: CommunicationSerializer,
            409: OpenApiResponse(description="The text changed since `version`; the body has the current one"),
        },
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, incident_pk=None, pk=None):
        """Approve the text at `version` (required). For the status page, customers and
        regulators, someone who neither wrote nor changed the text must approve it."""
        comm = self.get_object()
        data = ApproveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            comm = communications.approve(comm, request.user, data.validated_data["version"])
        except communications.StaleCommunication as exc:
            conflict = Conflict()
            # Set directly: the constructor would turn every value of the communication into text.
            conflict.detail = {**validation_detail(exc), "communication": self._current(comm)}
            raise conflict from exc
        except DjangoValidationError as exc:
            raise ValidationError(validation_detail(exc)) from exc
        return self._respond(comm)

    def _current(self, comm):
        return self.get_serializer(self.get_queryset().get(pk=comm.pk)).data

    @extend_schema(request=None, responses=CommunicationSerializer)
    @action(detail=True, methods=["post"], url_path="send-back")
    def send_back(self, request, incident_pk=None, pk=None):
        return self._step(communications.send_back)

    @extend_schema(request=None, responses=CommunicationSerializer)
    @action(detail=True, methods=["post"])
    def discard(self, request, incident_pk=None, pk=None):
        return self._step(communications.discard)

    @extend_schema(request=ScheduleSerializer, responses=CommunicationSerializer)
    @action(detail=True, methods=["post"])
    def schedule(self, request, incident_pk=None, pk=None):
        comm = self.get_object()
        serializer = ScheduleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        when = serializer.validated_data["scheduled_for"]
        return self._respond(call_service(communications.schedule, comm, request.user, when))

    @extend_schema(request=None, responses=CommunicationSerializer)
    @action(detail=True, methods=["post"])
    def unschedule(self, request, incident_pk=None, pk=None):
        return self._step(communications.unschedule)

    @extend_schema(request=None, responses={202: CommunicationSerializer})
    @action(detail=True, methods=["post"])
    def publish(self, request, incident_pk=None, pk=None):
        """Publish an approved or scheduled communication now. A worker does it: the answer is
        202 and `status` turns `published` when it is done. Asking twice publishes once."""
        comm = self.get_object()
        comm = call_service(communications.request_publish, comm, request.user)
        code = status.HTTP_200_OK if comm.status == Communication.Status.PUBLISHED else status.HTTP_202_ACCEPTED
        return self._respond(comm, code)

    @extend_schema(request=TranslationSerializer, responses=CommunicationSerializer)
    @action(detail=True, methods=["post"])
    def translations(self, request, incident_pk=None, pk=None):
        """Add or replace the translation in `language` (an approved update goes back to review)."""
        comm = self.get_object()
        serializer = TranslationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        call_service(
            communications.set_translation, comm, request.user, data["language"], data["body"], data.get("title", "")
        )
        return self._respond(comm)


# The template library ------------------------------------------------------------------------


class CommunicationTemplateSerializer(serializers.ModelSerializer):
    audience = serializers.ChoiceField(
        choices=["", *Communication.Audience.values], required=False, help_text="Empty: any audience"
    )
    public_status = serializers.ChoiceField(choices=["", *Communication.PublicStatus.values], required=False)

    class Meta:
        model = CommunicationTemplate
        fields = ["id", "name", "audience", "public_status", "language", "body", "created_at", "updated_at"]
        read_only_fields = ["created_at", "updated_at"]

    def validate_language(self, value):
        return _language(value)


class TemplatePermission(permissions.BasePermission):
    message = gettext_lazy("Only comms staff and commanders may change communication templates.")

    def has_permission(self, request, view):
        return request.method in permissions.SAFE_METHODS or access.can_manage_communication_templates(request.user)


class CommunicationTemplateViewSet(IdempotentCreateModelMixin, viewsets.ModelViewSet):
    """Templates for drafts, with {placeholders}: title, reference, severity, status, services,
    next_update, mitigations, started_at."""

    serializer_class = CommunicationTemplateSerializer
    permission_classes = [permissions.IsAuthenticated, TemplatePermission]
    queryset = CommunicationTemplate.objects.order_by("audience", "name")


# Recipient lists -----------------------------------------------------------------------------


class RecipientListsSerializer(serializers.ListSerializer):
    """Several lists: what the followed pages add is read once for all of them."""

    def to_representation(self, data):
        lists = list(data.all() if hasattr(data, "all") else data)
        following = delivery.following(lists)
        for item in lists:
            item.following = following.get(item.pk)
        return super().to_representation(lists)


class RecipientListSerializer(serializers.ModelSerializer):
    audience = serializers.ChoiceField(choices=[a.value for a in RecipientList.AUDIENCES])
    name = serializers.CharField(max_length=120)
    members = serializers.SerializerMethodField(help_text="How many members it has")
    follows_page = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="The id of a private status page whose confirmed subscribers (still allowed to see it) are "
        "members too, or null",
    )

    page_subscribers = serializers.SerializerMethodField(
        help_text="How many subscribers of the followed page (follows_page) a message to this list would also "
        "reach now: confirmed, still allowed to see the page, once per address, not counting those who are "
        "its own active members; 0 when it follows none. Not counted in members"
    )

    class Meta:
        model = RecipientList
        fields = [
            "id",
            "name",
            "audience",
            "active",
            "follows_page",
            "members",
            "page_subscribers",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]
        validators = []  # a taken name is the service's 400
        list_serializer_class = RecipientListsSerializer

    def get_members(self, recipient_list) -> int:
        counted = getattr(recipient_list, "member_count", None)
        return recipient_list.members.count() if counted is None else counted

    def get_page_subscribers(self, recipient_list) -> int:
        if not hasattr(recipient_list, "following"):  # one list (read, created or changed)
            recipient_list.following = delivery.following([recipient_list]).get(recipient_list.pk)
        return recipient_list.following.subscribers if recipient_list.following else 0

    def create(self, validated):
        return call_service(recipients.create_list, self.context["request"].user, **validated)

    def update(self, recipient_list, validated):
        return call_service(recipients.update_list, recipient_list, self.context["request"].user, **validated)


class RecipientSerializer(serializers.ModelSerializer):
    kind = serializers.ChoiceField(choices=Recipient.Kind.values)
    email = serializers.CharField(max_length=254, required=False, allow_blank=True, help_text="For kind email")
    webhook_url = serializers.CharField(
        max_length=500, required=False, allow_blank=True, help_text="For kind webhook: a public http(s) URL"
    )
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    language = serializers.CharField(
        max_length=15, required=False, allow_blank=True, help_text="E-mail in this language when translated"
    )
    secret = serializers.CharField(
        read_only=True, help_text="Webhooks: the HMAC key of X-Warroom-Signature (docs/audiences.md)"
    )

    class Meta:
        model = Recipient
        fields = ["id", "kind", "email", "name", "language", "webhook_url", "active", "secret", "created_at"]
        read_only_fields = ["created_at"]
        validators = []  # a repeated address is the service's 400

    def create(self, validated):
        return call_service(
            recipients.add_member, self.context["recipient_list"], self.context["request"].user, **validated
        )

    def update(self, member, validated):
        return call_service(recipients.update_member, member, self.context["request"].user, **validated)


class RecipientListPermission(permissions.BasePermission):
    message = recipients.REFUSED

    def has_permission(self, request, view):
        return access.can_manage_recipient_lists(request.user)


class RecipientListViewSet(IdempotentCreateModelMixin, viewsets.ModelViewSet):
    """Recipient lists of customer, regulator and partner messages. Comms staff and commanders
    only. Deleting a list keeps what was delivered to it on the deliveries."""

    serializer_class = RecipientListSerializer
    permission_classes = [permissions.IsAuthenticated, RecipientListPermission]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self):
        return RecipientList.objects.annotate(member_count=Count("members")).order_by("audience", "name")

    def perform_destroy(self, instance):
        call_service(recipients.delete_list, instance, self.request.user)


class RecipientViewSet(IdempotentCreateModelMixin, viewsets.ModelViewSet):
    """The members of one recipient list: e-mail addresses (with an optional name and language)
    and webhook URLs (each with its own signing secret). Addresses are checked: a valid e-mail
    address; a public http(s) URL (no private or local addresses)."""

    serializer_class = RecipientSerializer
    permission_classes = [permissions.IsAuthenticated, RecipientListPermission]
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_list(self):
        if not hasattr(self, "_recipient_list"):
            self._recipient_list = get_object_or_404(RecipientList, pk=self.kwargs["list_pk"])
        return self._recipient_list

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Recipient.objects.none()
        return self.get_list().members.order_by("kind", "email", "webhook_url", "pk")

    def get_serializer_context(self):
        context = super().get_serializer_context()
        if not getattr(self, "swagger_fake_view", False) and "list_pk" in self.kwargs:
            context["recipient_list"] = self.get_list()
        return context

    def perform_destroy(self, instance):
        call_service(recipients.remove_member, instance, self.request.user)


# URLs (included from incidents/api_urls.py) --------------------------------------------------

router = DefaultRouter()
router.include_root_view = False
router.register("communication-templates", CommunicationTemplateViewSet, basename="communication-template")
router.register("recipient-lists", RecipientListViewSet, basename="recipient-list")

list_children = DefaultRouter()
list_children.include_root_view = False
list_children.register("members", RecipientViewSet, basename="recipient")

incident_children = DefaultRouter()
incident_children.include_root_view = False
incident_children.register("communications", CommunicationViewSet, basename="communication")

urlpatterns = [
    path("", include(router.urls)),
    path("incidents/<incident:incident_pk>/", include(incident_children.urls)),
    path("recipient-lists/<int:list_pk>/", include(list_children.urls)),
]
