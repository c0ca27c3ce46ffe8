"""HTML views: parse, authorise (through incidents.access), call a service, render."""

from functools import cache

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch, Q, Subquery
from django.db.models.fields.json import KT
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from incidents import access, services, slash_commands
from incidents.entry_html import render_entries
from incidents.filters import IncidentFilter
from incidents.forms import (
    CorrectTimeForm,
    DeclareForm,
    EditIncidentForm,
    EntryEditForm,
    ImpactForm,
    RoleForm,
    ServiceForm,
    SeverityForm,
    StatusForm,
    apply_errors,
)
from incidents.htmx import is_htmx
from incidents.models import Impact, Incident, Membership, Service, TimelineEntry, status_from_rank

# Entries drawn on the war-room page, and in each "Show earlier entries" step: a long incident
# (thousands of entries) costs no more to open than a short one, and the page stays well under
# 60 KB compressed (bench/warroom.py measures it).
TIMELINE_PAGE = 100
# The live poll patches the page with up to this many new or edited entries; more (a laptop
# waking up after hours) and it asks for a fresh page instead.
LIVE_PATCH_LIMIT = 500


def _memberships():
    return Prefetch("memberships", queryset=Membership.objects.select_related("user").order_by("role", "assigned_at"))


# Incident list and declaration -----------------------------------------------------------


@login_required
@require_GET
def incident_list(request):
    visible = Incident.objects.visible_to(request.user)
    filterset = IncidentFilter(_without_blanks(request.GET), queryset=visible)
    valid = filterset.is_valid()
    incidents = filterset.qs if valid else visible.none()
    incidents = incidents.open_first().prefetch_related(_memberships(), "services")
    page = Paginator(incidents, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "incidents/incident_list.html",
        {
            "filter": filterset,
            "page": page,
            "services": Service.objects.all(),
            "can_declare": access.can_declare(request.user),
        },
        status=200 if valid else 400,
    )


def _without_blanks(query):
    """The filter form sends `status=` for "any status": an empty choice means no filter."""
    cleaned = query.copy()
    for key in list(cleaned):
        values = [v for v in cleaned.getlist(key) if v.strip()]
        if values:
            cleaned.setlist(key, values)
        else:
            del cleaned[key]
    return cleaned


@login_required
def declare(request):
    if not access.can_declare(request.user):
        raise PermissionDenied(_("Only commanders may declare incidents."))
    form = DeclareForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            incident = services.declare(
                request.user,
                title=data["title"],
                summary=data["summary"],
                severity=data["severity"],
                kind=data["kind"],
                confidential=data["confidential"],
                services=list(data["services"]),
                started_at=data["started_at"],
                commander=data["commander"],
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            return redirect(incident)
    status = 400 if request.method == "POST" else 200
    return render(request, "incidents/declare.html", {"form": form}, status=status)


# The war-room page ------------------------------------------------------------------------


@cache
def _annotations(names):
    return [import_string(name) for name in names]


def with_wing_annotations(incidents):
    """The incidents annotated by the wings named in settings.WARROOM_INCIDENT_ANNOTATIONS
    (the review's state for the header's review link...): subqueries, no query of their own."""
    for annotate in _annotations(tuple(settings.WARROOM_INCIDENT_ANNOTATIONS)):
        incidents = annotate(incidents)
    return incidents


def _war_room_incident(request, pk, review_state=False):
    qs = Incident.objects.prefetch_related(_memberships(), "services")
    if review_state:
        qs = with_wing_annotations(qs)
    return access.get_incident_for(request.user, pk, qs)


def _drawable(entries):
    """Timeline entries with what incidents/_entry.html shows of them (entry_html.render_entries):
    not their structured data (only the communication a comms line links to), and of their
    author only the name."""
    fields = [f.name for f in TimelineEntry._meta.concrete_fields if f.name != "data"]
    return (
        entries.select_related("author")
        .only(*fields, f"author__{get_user_model().USERNAME_FIELD}")
        .annotate(linked_communication=KT("data__communication"))
    )


def _timeline(incident, before=None):
    """The newest TIMELINE_PAGE entries (older than the entry `before`, when given), oldest
    first, and whether there are earlier ones (one extra row tells, so no COUNT query).

    Paged by key, not by offset: the page after entry `before` costs the same at the end of a
    10,000-entry timeline as at its start. The key is (occurred_at, id), the timeline's order;
    an id of another incident (or none) gives an empty page."""
    entries = _drawable(incident.timeline.all())
    if before is not None:
        anchor = Subquery(incident.timeline.filter(pk=before).values("occurred_at")[:1])
        entries = entries.filter(Q(occurred_at__lt=anchor) | Q(occurred_at=anchor, id__lt=before))
    entries = list(entries.order_by("-occurred_at", "-id")[: TIMELINE_PAGE + 1])
    more = len(entries) > TIMELINE_PAGE
    return list(reversed(entries[:TIMELINE_PAGE])), more


class _BadBefore(Exception):
    pass


def _before(request):
    """The `before` entry id of a "Show earlier entries" link; None for the newest page."""
    raw = request.GET.get("before")
    if raw is None:
        return None
    try:
        before = int(raw)
    except ValueError:
        raise _BadBefore from None
    if not 0 < before < 2**63:  # a bigger number overflows the database's bigint
        raise _BadBefore
    return before


def _bad_before():
    return HttpResponseBadRequest(_("Earlier entries are asked for by entry number (before=<id>)."))


def _state_context(request, incident):
    impacts = list(incident.impacts.select_related("service").order_by("ended_at", "-started_at"))
    roles = {}
    for m in incident.memberships.all():
        roles.setdefault(m.role, []).append(m)
    return {
        "incident": incident,
        "impacts": impacts,
        "roles": [(role, roles.get(role.value, [])) for role in Membership.Role],
        "commander": next((m.user for m in roles.get("commander", [])), None),
        "can_command": access.can_command(request.user, incident),
        "can_log": access.can_log(request.user, incident),
        "can_acknowledge": access.can_acknowledge(request.user, incident),
        # "Take command" for those who may but do not hold it (the on-call person paged).
        "can_take_command": access.can_take_command(request.user, incident)
        and not any(m.user_id == request.user.pk for m in roles.get("commander", [])),
        "can_write_comms": access.can_write_communication(request.user, incident),
        "transitions": [Incident.Status(s) for s in Incident.Status if incident.can_move_to(s)],
        "steps": _steps(incident),
        "severities": Incident.Severity.values,
        "version": incident.version,
        "role_form": RoleForm(),
        "impact_form": ImpactForm(incident=incident, impacts=impacts),
        "time_form": CorrectTimeForm(),
    }


def _steps(incident):
    order = list(Incident.Status)
    current = order.index(incident.status)
    return [
        {"label": s.label, "state": "done" if i < current else "current" if i == current else "todo"}
        for i, s in enumerate(order)
    ]


@login_required
@require_GET
def war_room(request, pk):
    try:
        before = _before(request)
    except _BadBefore:
        return _bad_before()
    incident = _war_room_incident(request, pk, review_state=True)
    context = _state_context(request, incident)
    timeline, more = _timeline(incident, before)
    context.update(
        {
            "timeline_html": render_entries(
                timeline, incident=incident, reader=request.user, can_command=context["can_command"]
            ),
            "earlier": timeline[0].pk if more else None,
            "skipped": before is not None,
            "last_id": incident.timeline.order_by("-id").values_list("id", flat=True).first() or 0,
            "poll_seconds": _poll_seconds(),
            "box_value": request.session.pop("box_value", ""),
            "box_error": "",
            "panel_urls": [reverse(name, args=[incident.key]) for name in settings.WARROOM_INCIDENT_PANELS],
        }
    )
    return render(request, "incidents/war_room.html", context)


@login_required
@require_GET
def timeline_earlier(request, pk):
    """The "Show earlier entries" step of the war-room page: the TIMELINE_PAGE entries before
    entry `before`, put at the top of the timeline, and the link to the ones before them."""
    try:
        before = _before(request)
    except _BadBefore:
        return _bad_before()
    if before is None:
        return _bad_before()
    incident = access.get_incident_for(request.user, pk, Incident.objects.prefetch_related(_memberships()))
    timeline, more = _timeline(incident, before)
    can_command = access.can_command(request.user, incident)
    context = {
        "incident": incident,
        "timeline_html": render_entries(timeline, incident=incident, reader=request.user, can_command=can_command),
        "earlier": timeline[0].pk if more else None,
    }
    return render(request, "incidents/_earlier.html", context)


def _poll_seconds():
    return settings.WARROOM_TIMELINE_POLL_SECONDS


@login_required
@require_GET
def live(request, pk):
    """The war-room page's poll: 204 when nothing changed since version `v`; otherwise the
    fresh state panel and the timeline entries written (after id `after`) or edited since, swapped
    in out of band. Versions grow in commit order (services.bump_version), so a change that
    commits late is never skipped."""
    try:
        raw = request.GET.get("v", "0")
        # A page opened before versions were numbers sent a timestamp: show it everything.
        since = 0 if "." in raw else int(raw)
        after = int(request.GET.get("after", "0"))
    except ValueError:
        return HttpResponse("Bad poll parameters.", status=400)
    if not (0 <= after < 2**63 and 0 <= since < 2**63):
        return HttpResponse("Bad poll parameters.", status=400)
    version = (
        Incident.objects.visible_to(request.user)
        .filter(**access.incident_lookup(pk))
        .values_list("version", flat=True)
        .first()
    )
    if version is None:
        return HttpResponse("No such incident.", status=404)
    if version <= since:
        return HttpResponse(status=204)
    incident = _war_room_incident(request, pk, review_state=True)  # the header it renders shows it
    changed = list(
        _drawable(incident.timeline.filter(seq__gt=since)).order_by("occurred_at", "id")[: LIVE_PATCH_LIMIT + 1]
    )
    if len(changed) > LIVE_PATCH_LIMIT:
        # Far behind (a laptop waking up mid-incident): a fresh page is cheaper than a patch.
        return HttpResponse(status=200, headers={"HX-Refresh": "true"})
    new_entries = [e for e in changed if e.id > after]
    # An entry the last answer already brought (it committed while that answer was drawn)
    # comes again only if it was edited since.
    edited = [e for e in changed if e.id <= after and e.edited_at is not None]
    context = _state_context(request, incident)
    drawn = {"incident": incident, "reader": request.user, "can_command": context["can_command"]}
    context.update(
        {
            "new_entries_html": render_entries(new_entries, fresh=True, **drawn),
            "edited_entries_html": render_entries(edited, oob=True, **drawn),
            "last_id": max([after] + [e.id for e in new_entries]),
            "poll_seconds": _poll_seconds(),
        }
    )
    response = render(request, "incidents/_live.html", context)
    # Panels of other apps on the page (legal clocks...) refresh themselves on this event.
    response["HX-Trigger"] = "incident-updated"
    return response


@login_required
@require_POST
def log(request, pk):
    """The war-room box: a note or a slash command."""
    incident = _war_room_incident(request, pk)
    text = request.POST.get("body", "")
    error = ""
    try:
        slash_commands.run(incident, request.user, text)
    except ValidationError as exc:
        error = " ".join(exc.messages)
    except PermissionDenied as exc:
        error = str(exc) or _("You may not do that on this incident.")
    if is_htmx(request):
        response = render(
            request,
            "incidents/_box.html",
            {"incident": incident, "box_value": text if error else "", "box_error": error, "refocus": True},
        )
        if not error:
            response["HX-Trigger"] = "warroom-changed"
        return response
    if error:
        messages.error(request, error)
        request.session["box_value"] = text
    return redirect(incident)


def _action(request, pk, form_class, operation, success):
    """POST handler shared by the war-room panels' small forms."""
    incident = _war_room_incident(request, pk)
    form = form_class(request.POST)
    if not form.is_valid():
        for field, errors in form.errors.items():
            for error in errors:
                messages.error(request, f"{field}: {error}" if field != "__all__" else error)
        return redirect(incident)
    try:
        operation(incident, form.cleaned_data)
    except ValidationError as exc:
        for error in exc.messages:
            messages.error(request, error)
    except PermissionDenied as exc:
        messages.error(request, str(exc) or _("You may not do that on this incident."))
    else:
        if success:
            messages.success(request, success)
    return redirect(incident)


@login_required
@require_POST
def change_status(request, pk):
    return _action(
        request,
        pk,
        StatusForm,
        lambda i, d: services.change_status(i, d["status"], request.user, d["note"], expected=d["from_status"] or None),
        None,
    )


@login_required
@require_POST
def change_severity(request, pk):
    return _action(
        request, pk, SeverityForm, lambda i, d: services.change_severity(i, d["severity"], request.user), None
    )


@login_required
@require_POST
def acknowledge(request, pk):
    incident = _war_room_incident(request, pk)
    try:
        services.acknowledge(incident, request.user)
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    return redirect(incident)


@login_required
@require_POST
def take_command(request, pk):
    """Make oneself the commander (and acknowledge): the on-call person paged, or a commander."""
    incident = _war_room_incident(request, pk)
    try:
        services.take_command(incident, request.user)
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    else:
        messages.success(request, _("You are now the commander of %(reference)s.") % {"reference": incident.reference})
    return redirect(incident)


@login_required
@require_POST
def assign_role(request, pk):
    return _action(
        request, pk, RoleForm, lambda i, d: services.assign_role(i, d["user"], d["role"], request.user), None
    )


@login_required
@require_POST
def remove_role(request, pk, membership_pk):
    incident = _war_room_incident(request, pk)
    membership = get_object_or_404(Membership, pk=membership_pk, incident=incident)
    try:
        services.remove_role(incident, membership, request.user)
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    return redirect(incident)


@login_required
@require_POST
def add_impact(request, pk):
    return _action(
        request,
        pk,
        ImpactForm,
        lambda i, d: services.add_impacts(
            i, request.user, d["chosen"], level=d["level"], regions=d["regions"], started_at=d["started_at"]
        ),
        None,
    )


@login_required
@require_POST
def end_impact(request, pk, impact_pk):
    incident = _war_room_incident(request, pk)
    impact = get_object_or_404(Impact, pk=impact_pk, incident=incident)
    try:
        services.update_impact(impact, request.user, ended_at=timezone.now())
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    return redirect(incident)


@login_required
@require_POST
def correct_time(request, pk):
    return _action(
        request,
        pk,
        CorrectTimeForm,
        lambda i, d: services.correct_time(i, d["field"], d["value"], request.user, d["reason"]),
        _("Time corrected."),
    )


@login_required
def edit_incident(request, pk):
    incident = _war_room_incident(request, pk)
    if not access.can_command(request.user, incident):
        raise PermissionDenied(_("Only the incident's commanders may edit it."))
    initial = {
        "title": incident.title,
        "summary": incident.summary,
        "kind": incident.kind,
        "confidential": incident.confidential,
        "services": list(incident.services.all()),
    }
    form = EditIncidentForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.update_fields(
                incident,
                request.user,
                title=data["title"],
                summary=data["summary"],
                kind=data["kind"],
                confidential=data["confidential"],
                services=list(data["services"]),
            )
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            return redirect(incident)
    status = 400 if request.method == "POST" else 200
    return render(request, "incidents/edit.html", {"form": form, "incident": incident}, status=status)


@login_required
def edit_entry(request, pk, entry_pk):
    incident = _war_room_incident(request, pk)
    entry = get_object_or_404(TimelineEntry, pk=entry_pk, incident=incident)
    entry.incident = incident  # the one already fetched, memberships prefetched
    if not access.can_edit_entry(request.user, entry):
        raise PermissionDenied(_("Only the author or a commander may edit this entry."))
    form = EntryEditForm(request.POST or None, initial={"body": entry.body})
    if request.method == "POST" and form.is_valid():
        try:
            services.edit_entry(entry, request.user, form.cleaned_data["body"])
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            return redirect(reverse("incidents:detail", args=[incident.key]) + f"#entry-{entry.pk}")
    status = 400 if request.method == "POST" else 200
    return render(
        request, "incidents/entry_edit.html", {"form": form, "incident": incident, "entry": entry}, status=status
    )


# Services ------------------------------------------------------------------------------------


@login_required
@require_GET
def service_list(request):
    visible = Incident.objects.visible_to(request.user)
    catalog = list(Service.objects.with_current_status(visible).select_related("owner"))
    for service in catalog:
        service.current_status = status_from_rank(service.status_rank)
    return render(
        request,
        "incidents/service_list.html",
        {"services": catalog, "can_manage": access.can_manage_services(request.user)},
    )


@login_required
@require_GET
def service_detail(request, slug):
    visible = Incident.objects.visible_to(request.user)
    service = get_object_or_404(Service.objects.with_current_status(visible).select_related("owner"), slug=slug)
    service.current_status = status_from_rank(service.status_rank)
    impacts = (
        Impact.objects.filter(service=service, incident__in=visible)
        .select_related("incident")
        .order_by("-started_at")[:50]
    )
    return render(request, "incidents/service_detail.html", {"service": service, "impacts": impacts})


@login_required
def service_create(request):
    if not access.can_manage_services(request.user):
        raise PermissionDenied(_("Only commanders may edit the service catalog."))
    form = ServiceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            service = services.create_service(request.user, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Service %(name)s added.") % {"name": service.name})
            return redirect("services:list")
    status = 400 if request.method == "POST" else 200
    return render(request, "incidents/service_form.html", {"form": form}, status=status)
