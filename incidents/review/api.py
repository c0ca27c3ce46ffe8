"""REST API for the post-incident review and its action items. Thin, like incidents.api:
check shapes, scope to the caller (a hidden incident is a 404), call incidents.review.services.

- /api/v1/incidents/<id>/review/: GET (a 404 saying so until it is started), POST starts it
  (201), PATCH edits it and must carry the `version` the editor read: a 409 when someone
  saved since, so no edit is silently lost.
- /api/v1/incidents/<id>/review/publish/ and .../review/reopen/ (with a `reason`).
- /api/v1/incidents/<id>/metrics/: the incident's metrics, whether or not a review exists.
- /api/v1/incidents/<id>/action-items/: list, create, retrieve, PATCH (`status` done or
  wont_do completes an item; open reopens it).
- /api/v1/action-items/: the action items of every incident the caller may see, filtered.

Reading needs only sight of the incident. Starting and editing the review and adding items
need a working role (incidents.access.can_edit_review); publishing and reopening need command of the
incident or ownership of the review; an item's owner may also change their item.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Count, Q
from django.urls import include, path
from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import mixins, permissions, serializers, status, viewsets
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.generics import GenericAPIView, get_object_or_404
from rest_framework.response import Response
from rest_framework.routers import DefaultRouter

from incidents import access
from incidents.api import IncidentChildMixin, SaneDateTimeField, UsernameField, call_service, one_of, validation_detail
from incidents.filters import ActionItemFilter
from incidents.idempotency import IdempotentCreateModelMixin, idempotent
from incidents.markup import render_markdown
from incidents.models import ActionItem, Review
from incidents.review import services as review

MAX_VERSION = 2**31 - 1  # the column is a PostgreSQL integer


class Conflict(APIException):
    """409: the review changed since the caller read it. The body is keyed by the field at
    fault, like a 400: {"version": ["bob changed the review at ..."]}."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The review changed since you read it."
    default_code = "conflict"


class TextField(serializers.CharField):
    """Text only: a number or a boolean where text belongs is the caller's mistake, not
    something to turn into "5" or "True"."""

    default_error_messages = {"not_text": "Give text."}

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("not_text")
        return super().to_internal_value(data)


# Metrics ------------------------------------------------------------------------------------


class MetricSerializer(serializers.Serializer):
    key = serializers.CharField(help_text="One of: " + ", ".join(review.METRIC_KEYS))
    label = serializers.CharField()
    started_at = serializers.DateTimeField(allow_null=True, help_text="The incident's time named by `from`")
    ended_at = serializers.DateTimeField(allow_null=True, help_text="The incident's time named by `to`")
    seconds = serializers.IntegerField(
        allow_null=True, help_text="null when either time is missing or the span ends before it starts"
    )
    duration = serializers.CharField(allow_null=True, help_text="The span for people: '2 h 05 min'")
    problem = serializers.CharField(help_text="Empty, or why the span cannot be measured")

    def get_fields(self):
        # "from" and "to" are Python keywords, so they cannot be declared above.
        fields = super().get_fields()
        names = ", ".join(review.TIME_LABELS)
        ends = {
            "from": serializers.CharField(help_text=f"The incident's time the span starts at: one of {names}"),
            "to": serializers.CharField(help_text=f"The incident's time the span ends at: one of {names}"),
        }
        order = ["key", "label", "from", "to", "started_at", "ended_at", "seconds", "duration", "problem"]
        return {name: fields.get(name) or ends[name] for name in order}


class MetricsSerializer(serializers.Serializer):
    incident = serializers.CharField(help_text="The incident's id (its opaque key)")
    reference = serializers.CharField()
    metrics = MetricSerializer(many=True)


class MetricsView(IncidentChildMixin, GenericAPIView):
    """The incident's metrics (time to detect, acknowledge, mitigate, resolve), computed from
    its recorded times, so a corrected time corrects them. Available whether or not a review
    has been started; the review carries the same list."""

    serializer_class = MetricsSerializer
    pagination_class = None
    permission_classes = [permissions.IsAuthenticated]  # reading only

    def get(self, request, incident_pk=None):
        incident = self.get_incident()
        data = {"incident": incident.key, "reference": incident.reference, "metrics": review.metric_rows(incident)}
        return Response(MetricsSerializer(data).data)


# The review ---------------------------------------------------------------------------------


class ActionItemCountsSerializer(serializers.Serializer):
    open = serializers.IntegerField()
    done = serializers.IntegerField()
    wont_do = serializers.IntegerField()
    overdue = serializers.IntegerField(help_text="Open and past their due date")
    total = serializers.IntegerField()


def action_item_counts(incident):
    """The incident's action items by status, in one query."""
    return ActionItem.objects.filter(incident=incident).aggregate(
        open=Count("pk", filter=Q(status=ActionItem.Status.OPEN)),
        done=Count("pk", filter=Q(status=ActionItem.Status.DONE)),
        wont_do=Count("pk", filter=Q(status=ActionItem.Status.WONT_DO)),
        overdue=Count("pk", filter=Q(status=ActionItem.Status.OPEN, due_on__lt=ActionItem.today())),
        total=Count("pk"),
    )


class ReviewSerializer(serializers.ModelSerializer):
    incident = serializers.CharField(
        source="incident.key", read_only=True, help_text="The incident's id (its opaque key)"
    )
    reference = serializers.CharField(source="incident.reference", read_only=True)
    owner = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, help_text="Who runs the review"
    )
    body_html = serializers.SerializerMethodField(help_text="`body` rendered from Markdown and sanitised")
    version = serializers.IntegerField(read_only=True, help_text="Send it back with every PATCH")
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    updated_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    published_by = serializers.SerializerMethodField(help_text="Who published it; null while it is a draft")
    metrics = serializers.SerializerMethodField()
    action_item_counts = serializers.SerializerMethodField()

    class Meta:
        model = Review
        fields = [
            "incident",
            "reference",
            "status",
            "owner",
            "meeting_at",
            "body",
            "body_html",
            "version",
            "created_at",
            "created_by",
            "updated_at",
            "updated_by",
            "published_at",
            "published_by",
            "metrics",
            "action_item_counts",
        ]
        read_only_fields = fields

    def get_body_html(self, current) -> str:
        return str(render_markdown(current.body))

    def get_published_by(self, current) -> str | None:
        # Publishing is the last change a published review can take (editing needs a reopen,
        # which clears published_at), so whoever changed it last published it.
        if current.status != Review.Status.PUBLISHED or current.updated_by is None:
            return None
        return current.updated_by.get_username()

    @extend_schema_field(MetricSerializer(many=True))
    def get_metrics(self, current):
        return MetricSerializer(review.metric_rows(current.incident), many=True).data

    @extend_schema_field(ActionItemCountsSerializer)
    def get_action_item_counts(self, current):
        counts = self.context.get("action_item_counts")
        if counts is None:
            counts = action_item_counts(current.incident)
        return counts


class ReviewStartSerializer(serializers.Serializer):
    owner = UsernameField(required=False, allow_null=True, help_text="Username of who runs the review")
    meeting_at = SaneDateTimeField(required=False, allow_null=True, help_text="When the review meeting is held")


class ReviewChangeSerializer(serializers.Serializer):
    version = serializers.IntegerField(
        min_value=1,
        max_value=MAX_VERSION,
        help_text="The `version` you read; if the review changed since, the answer is 409 and nothing is saved",
        error_messages={
            "required": "Give the version of the review you edited (its `version` when you read it).",
            "null": "Give the version of the review you edited (its `version` when you read it).",
            "invalid": "Give the version as a whole number.",
        },
    )
    body = TextField(
        required=False, allow_blank=True, trim_whitespace=False, max_length=review.MAX_BODY, help_text="Markdown"
    )
    owner = UsernameField(required=False, allow_null=True, help_text="Username of who runs the review")
    meeting_at = SaneDateTimeField(required=False, allow_null=True)

    def validate(self, attrs):
        if "status" in self.initial_data:
            raise ValidationError(
                {"status": [gettext("Publish or reopen the review with POST .../review/publish/ or /reopen/.")]}
            )
        return attrs


class ReopenSerializer(serializers.Serializer):
    reason = TextField(
        max_length=1000,
        help_text="Why the review is reopened; it goes into the timeline",
        error_messages={
            "required": "Say why the review is reopened.",
            "blank": "Say why the review is reopened.",
            "null": "Say why the review is reopened.",
        },
    )


class ReviewMixin(IncidentChildMixin):
    serializer_class = ReviewSerializer
    pagination_class = None
    permission_classes = [permissions.IsAuthenticated]  # and each view's own rule below

    def get_review(self):
        """The incident's review, or a 404 saying it has not been started."""
        incident = self.get_incident()
        current = Review.objects.filter(incident=incident).select_related("owner", "created_by", "updated_by").first()
        if current is None:
            raise NotFound(
                gettext(
                    "The review of {reference} has not been started: POST to {review} starts it once the "
                    "incident is resolved. Its metrics are at {metrics}."
                ).format(
                    reference=incident.reference,
                    review=f"/api/v1/incidents/{incident.key}/review/",
                    metrics=f"/api/v1/incidents/{incident.pk}/metrics/",
                )
            )
        current.incident = incident  # memberships prefetched: permission checks need no query
        return current

    def respond(self, code=status.HTTP_200_OK):
        current = self.get_review()
        context = {**self.get_serializer_context(), "action_item_counts": action_item_counts(current.incident)}
        return Response(ReviewSerializer(current, context=context).data, status=code)


class ReviewView(ReviewMixin, GenericAPIView):
    """The incident's post-incident review: a Markdown document drafted from the timeline when
    it is started, its metrics and how many action items it has. 404 until it is started."""

    def check_permissions(self, request):
        super().check_permissions(request)
        writing = request.method not in permissions.SAFE_METHODS and not getattr(self, "swagger_fake_view", False)
        if writing and not access.can_edit_review(request.user, self.get_incident()):
            self.permission_denied(
                request, message=gettext("Only the incident's responders and commanders may start or edit its review.")
            )

    @extend_schema(
        responses={200: ReviewSerializer, 404: OpenApiResponse(description="No such incident, or no review yet")}
    )
    def get(self, request, incident_pk=None):
        return self.respond()

    @extend_schema(request=ReviewStartSerializer, responses={201: ReviewSerializer})
    @idempotent
    def post(self, request, incident_pk=None):
        """Start the review of a resolved (or closed) incident, drafted from its record."""
        data = ReviewStartSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        call_service(review.start_review, self.get_incident(), request.user, **data.validated_data)
        return self.respond(status.HTTP_201_CREATED)

    @extend_schema(
        request=ReviewChangeSerializer,
        responses={200: ReviewSerializer, 409: OpenApiResponse(description="The review changed since `version`")},
    )
    def patch(self, request, incident_pk=None):
        """Change `body`, `owner` or `meeting_at` of a draft. `version` is required."""
        current = self.get_review()
        data = ReviewChangeSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        version = values.pop("version")
        try:
            review.update_review(current, request.user, version=version, **values)
        except review.StaleReview as exc:
            raise Conflict(validation_detail(exc)) from exc
        except DjangoValidationError as exc:
            raise ValidationError(validation_detail(exc)) from exc
        return self.respond()


class ReviewPublishView(ReviewMixin, GenericAPIView):
    """Publish the review: the team's account of the incident is final until reopened."""

    @extend_schema(request=None, responses=ReviewSerializer)
    def post(self, request, incident_pk=None):
        current = self.get_review()
        if not access.can_publish_review(request.user, current):
            self.permission_denied(
                request, message=gettext("Only the incident's commanders and the review's owner may publish it.")
            )
        call_service(review.publish_review, current, request.user)
        return self.respond()


class ReviewReopenView(ReviewMixin, GenericAPIView):
    """Reopen a published review for editing; the reason goes into the timeline."""

    serializer_class = ReopenSerializer

    @extend_schema(request=ReopenSerializer, responses=ReviewSerializer)
    def post(self, request, incident_pk=None):
        current = self.get_review()
        if not access.can_publish_review(request.user, current):
            self.permission_denied(
                request, message=gettext("Only the incident's commanders and the review's owner may reopen it.")
            )
        data = ReopenSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        call_service(review.reopen_review, current, request.user, data.validated_data["reason"])
        return self.respond()


# Action items -------------------------------------------------------------------------------


ITEM_RELATED = ("incident", "owner", "created_by", "completed_by")


class ActionItemSerializer(serializers.ModelSerializer):
    incident = serializers.CharField(
        source="incident.key", read_only=True, help_text="The incident's id (its opaque key)"
    )
    reference = serializers.CharField(source="incident.reference", read_only=True)
    title = TextField(
        max_length=200,
        error_messages={
            "required": "Say what must be done, in a few words.",
            "blank": "Say what must be done, in a few words.",
            "null": "Say what must be done, in a few words.",
        },
    )
    description = TextField(required=False, allow_blank=True, max_length=20_000, help_text="Markdown")
    description_html = serializers.SerializerMethodField(help_text="`description` rendered and sanitised")
    owner = UsernameField(required=False, allow_null=True, help_text="Username; must be able to see the incident")
    due_on = serializers.DateField(
        required=False,
        allow_null=True,
        input_formats=["iso-8601"],
        help_text="YYYY-MM-DD; a new item cannot be due in the past",
        error_messages={
            "invalid": "Give a date (YYYY-MM-DD).",
            "datetime": "Give a date (YYYY-MM-DD), not a date and time.",
        },
    )
    priority = serializers.ChoiceField(
        choices=ActionItem.Priority.values,
        required=False,
        error_messages=one_of("priority", ActionItem.Priority.values),
    )
    status = serializers.ChoiceField(
        choices=ActionItem.Status.values,
        required=False,
        help_text="done or wont_do completes the item; open reopens it",
        error_messages=one_of("status", ActionItem.Status.values),
    )
    tracker_url = TextField(required=False, allow_blank=True, max_length=500, help_text="The ticket's http(s) address")
    overdue = serializers.SerializerMethodField(help_text="Open and past its due date")
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    completed_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)

    class Meta:
        model = ActionItem
        fields = [
            "id",
            "incident",
            "reference",
            "title",
            "description",
            "description_html",
            "owner",
            "due_on",
            "priority",
            "status",
            "tracker_url",
            "overdue",
            "created_by",
            "created_at",
            "updated_at",
            "completed_at",
            "completed_by",
        ]
        read_only_fields = ["created_at", "updated_at", "completed_at"]

    def get_description_html(self, item) -> str:
        return str(render_markdown(item.description))

    def get_overdue(self, item) -> bool:
        if "today" not in self.context:
            self.context["today"] = ActionItem.today()
        return item.is_overdue(self.context["today"])

    def create(self, validated):
        if validated.pop("status", ActionItem.Status.OPEN) != ActionItem.Status.OPEN:
            raise ValidationError({"status": [gettext("A new action item is open: mark it done once it is.")]})
        return call_service(review.add_action_item, self.context["incident"], self.context["request"].user, **validated)

    def update(self, item, validated):
        return call_service(review.update_action_item, item, self.context["request"].user, **validated)


class ActionItemViewSet(
    IncidentChildMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    IdempotentCreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """Follow-ups of this incident, open ones first (soonest due first). Responders and
    commanders add and change them; an item's owner may change it too (mark it done)."""

    serializer_class = ActionItemSerializer
    filterset_class = ActionItemFilter
    http_method_names = ["get", "post", "patch", "head", "options"]
    write_rule = staticmethod(access.can_edit_review)
    object_rule = staticmethod(access.can_change_action_item)

    def permission_denied(self, request, message=None, code=None):
        if message is None and request.user.is_authenticated:
            message = (
                gettext("Only the incident's responders and commanders may add action items.")
                if self.action == "create"
                else gettext("Only the incident's responders and commanders and the item's owner may change it.")
            )
        super().permission_denied(request, message, code)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ActionItem.objects.none()
        return review.open_first(ActionItem.objects.filter(incident=self.get_incident()).select_related(*ITEM_RELATED))

    def get_object(self):
        item = get_object_or_404(self.get_queryset(), pk=self.kwargs["pk"])
        item.incident = self.get_incident()  # memberships prefetched: the permission check needs no query
        self.check_object_permissions(self.request, item)
        return item


class AllActionItemsViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Action items of every incident you may see (a confidential incident's only if you may
    see it), open ones first, soonest due first. Filters: `status`, `priority`, `owner` (a
    username, or `me`), `overdue`, `incident` (id or INC-<id>)."""

    serializer_class = ActionItemSerializer
    filterset_class = ActionItemFilter

    def get_queryset(self):
        return review.open_first(review.action_items_visible_to(self.request.user).select_related(*ITEM_RELATED))


# URLs (included from incidents/api_urls.py) --------------------------------------------------

router = DefaultRouter()
router.include_root_view = False
router.register("action-items", AllActionItemsViewSet, basename="all-action-item")

incident_children = DefaultRouter()
incident_children.include_root_view = False
incident_children.register("action-items", ActionItemViewSet, basename="action-item")

urlpatterns = [
    path("", include(router.urls)),
    path("incidents/<incident:incident_pk>/", include(incident_children.urls)),
    path("incidents/<incident:incident_pk>/review/", ReviewView.as_view(), name="review"),
    path("incidents/<incident:incident_pk>/review/publish/", ReviewPublishView.as_view(), name="review-publish"),
    path("incidents/<incident:incident_pk>/review/reopen/", ReviewReopenView.as_view(), name="review-reopen"),
    path("incidents/<incident:incident_pk>/metrics/", MetricsView.as_view(), name="metrics"),
]
