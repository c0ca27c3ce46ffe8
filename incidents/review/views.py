"""HTML for the post-incident review: the review page of one incident (metrics, the review
document, its action items), the follow-ups page (action items across incidents) and the
reviews page (resolved incidents, their reviews and the median metrics per severity).

Thin views over incidents.review.services, which checks every permission and validates every value.
Who may see what: every page goes through access.get_incident_for (a hidden incident is a
404) or, across incidents, review.action_items_visible_to and Incident.objects.visible_to.
Everything works with plain POST and redirect; htmx only adds the editor's live preview and
spares a reload when adding or ticking off action items.
"""

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, F, IntegerField, OuterRef, Prefetch, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from incidents import access, auditlog
from incidents.durations import shown_duration, zoned
from incidents.filters import ActionItemFilter
from incidents.forms import active_users, apply_errors, error_messages, keep_seconds
from incidents.htmx import is_htmx, next_url
from incidents.models import ActionItem, AuditEvent, Incident, Membership, Review
from incidents.review import services as review
from incidents.review.forms import (
    ActionItemForm,
    FollowUpFilter,
    PeriodForm,
    ReopenForm,
    ReviewForm,
    StartReviewForm,
)

# Labels in the viewer's language (incidents.review.services keeps English ones for the timeline).
METRIC_LABELS = {
    "detect": gettext_lazy("Time to detect"),
    "acknowledge": gettext_lazy("Time to acknowledge"),
    "mitigate": gettext_lazy("Time to mitigate"),
    "resolve": gettext_lazy("Time to resolve"),
}
TIME_LABELS = {
    "started_at": gettext_lazy("Impact started"),
    "detected_at": gettext_lazy("Detected"),
    "declared_at": gettext_lazy("Declared"),
    "acknowledged_at": gettext_lazy("Acknowledged"),
    "mitigated_at": gettext_lazy("Mitigated"),
    "resolved_at": gettext_lazy("Resolved"),
}
ENDED = (Incident.Status.RESOLVED, Incident.Status.CLOSED)


def with_review_state(incidents):
    """Annotate `review_status` (None, "draft" or "published") and `open_action_items`, for
    lists of incidents and the war-room header: two subqueries, never a query per incident."""
    status = Review.objects.filter(incident=OuterRef("pk")).values("status")[:1]
    open_items = (
        ActionItem.objects.filter(incident=OuterRef("pk"), status=ActionItem.Status.OPEN)
        .order_by()
        .values("incident")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return incidents.annotate(
        review_status=Subquery(status),
        open_action_items=Coalesce(Subquery(open_items, output_field=IntegerField()), Value(0)),
    )


# The review page ---------------------------------------------------------------------------


def _incident(request, pk):
    qs = Incident.objects.prefetch_related(Prefetch("memberships", queryset=Membership.objects.select_related("user")))
    return access.get_incident_for(request.user, pk, qs)


def review_url(incident, anchor=""):
    return reverse("incidents:review:page", args=[incident.key]) + anchor


def _review_of(incident):
    current = review.get_review(incident)
    if current is not None:
        current.incident = incident  # the one fetched with its memberships: no query per check
    return current


def metric_rows(incident):
    """The incident's metrics, labelled in the viewer's language."""
    return review.metric_rows(incident, METRIC_LABELS, TIME_LABELS)


def _items(request, incident):
    today = ActionItem.today()
    items = list(review.open_first(incident.action_items.select_related("owner")))
    for item in items:
        item.incident = incident
        item.overdue = item.is_overdue(today)
        item.can_change = access.can_change_action_item(request.user, item)
        item.can_edit = access.can_edit_action_item(request.user, item)
    return items


def _items_context(request, incident, item_form=None, notice=""):
    items = _items(request, incident)
    return {
        "incident": incident,
        "items": items,
        "open_count": sum(1 for i in items if i.is_open),
        "overdue_count": sum(1 for i in items if i.overdue),
        "can_edit": access.can_edit_review(request.user, incident),
        "item_form": item_form or ActionItemForm(),
        "notice": notice,
        "next": review_url(incident, "#action-items"),
    }


def _review_initial(current):
    return {"body": current.body, "owner": current.owner, "meeting_at": current.meeting_at, "version": current.version}


def _render_page(
    request, incident, current=None, *, start_form=None, review_form=None, reopen_form=None, item_form=None, status=200
):
    can_edit = access.can_edit_review(request.user, incident)
    context = _items_context(request, incident, item_form)
    context.update(
        {
            "review": current,
            "metrics": metric_rows(incident),
            "ended": incident.status in ENDED,
            "can_command": access.can_command(request.user, incident),
            "can_publish": current is not None and access.can_publish_review(request.user, current),
        }
    )
    # A form given back with its errors is shown whatever the state: what was typed stays.
    if start_form is not None or (current is None and can_edit and incident.status in ENDED):
        context["start_form"] = start_form or StartReviewForm()
    if review_form is not None or (current is not None and current.status == Review.Status.DRAFT and can_edit):
        context["review_form"] = review_form or ReviewForm(initial=_review_initial(current))
    if current is not None and current.status == Review.Status.PUBLISHED and context["can_publish"]:
        context["reopen_form"] = reopen_form or ReopenForm()
    return render(request, "incidents/review/page.html", context, status=status)


@login_required
@require_GET
def page(request, pk):
    incident = _incident(request, pk)
    return _render_page(request, incident, _review_of(incident))


@login_required
@require_POST
def start(request, pk):
    incident = _incident(request, pk)
    form = StartReviewForm(request.POST)
    if form.is_valid():
        try:
            review.start_review(incident, request.user, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Review started, drafted from the timeline."))
            return redirect(review_url(incident, "#review"))
    current = _review_of(incident)
    if current is not None:
        # Started by someone else meanwhile: show theirs, not a second start form.
        messages.error(request, " ".join(m for ms in form.errors.values() for m in ms))
        return redirect(review_url(incident, "#review"))
    return _render_page(request, incident, None, start_form=form, status=400)


@login_required
@require_POST
def save(request, pk):
    """Save the editor; with action=publish, save and publish together (or neither)."""
    incident = _incident(request, pk)
    current = _review_of(incident)
    if current is None:
        messages.error(request, _("This incident's review has not been started."))
        return redirect(review_url(incident))
    if not access.can_edit_review(request.user, incident):
        raise PermissionDenied(_("Only the incident's responders and commanders may edit its review."))
    form = ReviewForm(request.POST)
    publish = request.POST.get("action") == "publish"
    if form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():
                changes = {"owner": data["owner"], "meeting_at": keep_seconds(data["meeting_at"], current.meeting_at)}
                # The draft is stored as written (ending in a newline); an edit is stored stripped.
                if data["body"].strip() != current.body.strip():
                    changes["body"] = data["body"]
                saved = review.update_review(current, request.user, version=data["version"], **changes)
                if publish:
                    saved.incident = incident
                    review.publish_review(saved, request.user)
        except review.StaleReview:
            return _stale(request, incident, form)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Review published.") if publish else _("Review saved."))
            return redirect(review_url(incident, "#review"))
    return _render_page(request, incident, current, review_form=form, status=400)


def _stale(request, incident, form):
    """Someone saved since this editor loaded the review. Nothing is lost: the editor keeps
    what this user typed, now on the current version, and the current text is shown beside
    it; saving again replaces the current text, knowingly."""
    current = _review_of(incident)
    data = request.POST.copy()
    data["version"] = str(current.version)
    form = ReviewForm(data)
    form.is_valid()
    who = current.updated_by.get_username() if current.updated_by else _("someone")
    when = zoned(current.updated_at)
    form.add_error(
        None,
        _(
            "%(who)s changed the review at %(when)s, after you opened it. Your text was not saved: it is still "
            "in the editor, and their version is shown below it. Merge what you need, then save again."
        )
        % {"who": who, "when": when},
    )
    form.stale = current
    if current.status != Review.Status.DRAFT:
        messages.error(request, _("The review was published meanwhile: reopen it to edit it."))
    return _render_page(request, incident, current, review_form=form, status=409)


@login_required
@require_GET
def export(request, pk):
    """The review and its action items as a Markdown file, for whoever may read the review."""
    incident = _incident(request, pk)
    current = _review_of(incident)
    if current is None:
        raise Http404("This incident's review has not been started.")
    items = incident.action_items.select_related("owner").order_by("status", F("due_on").asc(nulls_last=True), "id")
    response = HttpResponse(review.export(current, list(items)), content_type="text/markdown; charset=utf-8")
    auditlog.record(AuditEvent.Action.EXPORTED, subject=f"review of {incident.reference} (markdown)")
    response["Content-Disposition"] = f'attachment; filename="{incident.reference}-review.md"'
    return response


@login_required
@require_POST
def reopen(request, pk):
    incident = _incident(request, pk)
    current = _review_of(incident)
    if current is None:
        messages.error(request, _("This incident's review has not been started."))
        return redirect(review_url(incident))
    form = ReopenForm(request.POST)
    if form.is_valid():
        try:
            review.reopen_review(current, request.user, reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Review reopened for editing."))
            return redirect(review_url(incident, "#review"))
    return _render_page(request, incident, current, reopen_form=form, status=400)


# Action items ------------------------------------------------------------------------------


def _item(incident, item_pk):
    item = get_object_or_404(ActionItem.objects.select_related("owner"), pk=item_pk, incident=incident)
    item.incident = incident
    return item


@login_required
@require_POST
def add_item(request, pk):
    incident = _incident(request, pk)
    form = ActionItemForm(request.POST)
    if form.is_valid():
        try:
            item = review.add_action_item(incident, request.user, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            notice = _("Action item added: %(title)s.") % {"title": item.title}
            if is_htmx(request):
                context = _items_context(request, incident, notice=notice)
                return render(request, "incidents/review/_action_items.html", context)
            messages.success(request, notice)
            return redirect(review_url(incident, "#action-items"))
    if is_htmx(request):
        # 200: htmx swaps only successful answers, and the errors must show.
        return render(request, "incidents/review/_action_items.html", _items_context(request, incident, form))
    current = _review_of(incident)
    return _render_page(request, incident, current, item_form=form, status=400)


@login_required
def edit_item(request, pk, item_pk):
    incident = _incident(request, pk)
    item = _item(incident, item_pk)
    if not access.can_edit_action_item(request.user, item):
        raise PermissionDenied(_("Only the incident's responders and commanders may edit an action item."))
    initial = {f: getattr(item, f) for f in ActionItemForm.base_fields}
    form = ActionItemForm(request.POST or None, initial=initial)
    if item.owner_id:  # an owner since deactivated stays chosen: saving must not unassign them silently
        form.fields["owner"].queryset = active_users() | get_user_model().objects.filter(pk=item.owner_id)
    if request.method == "POST" and form.is_valid():
        try:
            review.update_action_item(item, request.user, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Action item updated."))
            return redirect(next_url(request, review_url(incident, "#action-items")))
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "incidents/review/action_item_edit.html",
        {"incident": incident, "item": item, "form": form, "next": request.GET.get("next", "")},
        status=status,
    )


ITEM_STATUS_NOTICES = {
    ActionItem.Status.DONE: gettext_lazy("Done: %(title)s."),
    ActionItem.Status.WONT_DO: gettext_lazy("Won’t do: %(title)s."),
    ActionItem.Status.OPEN: gettext_lazy("Reopened: %(title)s."),
}


@login_required
@require_POST
def item_status(request, pk, item_pk):
    """The quick buttons: done, won't do, reopen."""
    incident = _incident(request, pk)
    item = _item(incident, item_pk)
    status = request.POST.get("status", "")
    error = notice = ""
    if status not in ActionItem.Status.values:
        error = _("Choose done, won’t do or open.")
    else:
        try:
            review.update_action_item(item, request.user, status=status)
        except (ValidationError, PermissionDenied) as exc:
            error = " ".join(error_messages(exc)) or _("You may not change this action item.")
        else:
            notice = ITEM_STATUS_NOTICES[status] % {"title": item.title}
    if is_htmx(request):
        context = _items_context(request, incident)
        context.update({"error": error, "notice": notice})
        return render(request, "incidents/review/_action_item_list.html", context)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, notice)
    return redirect(next_url(request, review_url(incident, "#action-items")))


# Across incidents ----------------------------------------------------------------------------


@login_required
@require_GET
def follow_ups(request):
    """Action items of every incident the viewer may see: open ones first, soonest due first."""
    form = FollowUpFilter(request.GET)
    valid = form.is_valid()
    data = form.cleaned_data if valid else {}
    status = data.get("status") or "open"
    today = ActionItem.today()
    # The page's few controls, put to the filter the API uses (one filter per model).
    query = QueryDict(mutable=True)
    if data.get("overdue"):
        query["overdue"] = "true"  # open and past due, whatever the status chosen
    elif status != "all":
        query["status"] = status
    if data.get("mine"):
        query["owner"] = "me"
    filterset = ActionItemFilter(query, queryset=review.action_items_visible_to(request.user), request=request)
    items = filterset.qs if valid and filterset.is_valid() else ActionItem.objects.none()
    items = items.select_related("incident", "owner").prefetch_related(
        Prefetch("incident__memberships", queryset=Membership.objects.only("incident_id", "user_id", "role"))
    )
    if status == "open" or data.get("overdue"):
        order = (F("due_on").asc(nulls_last=True), review.PRIORITY_RANK, "incident_id", "id")
    else:
        order = (
            review.OPEN_RANK,
            F("completed_at").desc(nulls_last=True),
            F("due_on").asc(nulls_last=True),
            "id",
        )
    page_ = Paginator(items.order_by(*order), 50).get_page(request.GET.get("page"))
    for item in page_.object_list:
        item.overdue = item.is_overdue(today)
        item.can_change = access.can_change_action_item(request.user, item)
    return render(
        request,
        "incidents/review/follow_ups.html",
        {"page": page_, "form": form, "status": status, "today": today},
        status=200 if valid else 400,
    )


@login_required
@require_GET
def reviews(request):
    """Resolved and closed incidents of a period, with their review and its action items, and
    the median metrics per severity over the whole period."""
    form = PeriodForm(request.GET)
    valid = form.is_valid()
    days = (form.cleaned_data.get("days") if valid else None) or 90
    since = timezone.now() - timedelta(days=days)
    ended = (
        Incident.objects.visible_to(request.user)
        .filter(status__in=ENDED)
        .annotate(ended_at=Coalesce("resolved_at", "closed_at"))
        .filter(ended_at__gte=since)
    )
    if not valid:
        ended = ended.none()
    times = ["severity", "started_at", "detected_at", "declared_at", "acknowledged_at", "mitigated_at", "resolved_at"]
    summary = review.summary(ended.only(*times).order_by())
    for row in summary:
        row["medians"] = [(METRIC_LABELS[key], shown_duration(row["medians"][key])) for key in review.METRIC_KEYS]
    page_ = Paginator(with_review_state(ended).order_by("-ended_at", "-id"), 50).get_page(request.GET.get("page"))
    for incident in page_.object_list:
        incident.metrics = metric_rows(incident)
    return render(
        request,
        "incidents/review/reviews.html",
        {
            "page": page_,
            "form": form,
            "days": days,
            "summary": summary,
            "metric_labels": [METRIC_LABELS[key] for key in review.METRIC_KEYS],
        },
        status=200 if valid else 400,
    )
