"""Runbook library, authoring, and the runbook panel of the war-room page."""

import difflib

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_POST

from incidents import access
from incidents.forms import error_messages
from incidents.htmx import is_htmx
from incidents.markup import render_markdown
from incidents.models import Incident

from . import services
from .fileformat import SLUG_RE, RunbookFileError, parse
from .fileformat import render as render_file
from .forms import MoveStepsForm, RunbookTextForm, StepChangeForm
from .models import Runbook, RunbookVersion, StepRun


@login_required
@require_GET
def library(request):
    return render(
        request,
        "runbooks/library.html",
        {"versions": services.library(), "can_author": access.can_author_runbooks(request.user)},
    )


def _version(slug, number=None):
    runbook = get_object_or_404(Runbook.objects.select_related("latest"), slug=slug)
    qs = RunbookVersion.objects.filter(runbook=runbook).select_related("runbook", "owner", "created_by")
    qs = qs.prefetch_related("services", "steps")
    if number is not None:
        version = get_object_or_404(qs, number=number)
    else:
        version = get_object_or_404(qs, pk=runbook.latest_id)
    return runbook, version


@login_required
@require_GET
def detail(request, slug, number=None):
    runbook, version = _version(slug, number)
    versions = runbook.versions.only("number", "created_at", "created_by").select_related("created_by")
    return render(
        request,
        "runbooks/detail.html",
        {
            "runbook": runbook,
            "version": version,
            "versions": versions,
            "can_author": access.can_author_runbooks(request.user),
            # Runs on incidents the viewer may see: a count of all would reveal confidential ones.
            "used": version.runs.filter(incident__in=Incident.objects.visible_to(request.user)).count(),
        },
    )


@login_required
@require_GET
def diff(request, slug):
    runbook = get_object_or_404(Runbook, slug=slug)
    try:
        a, b = int(request.GET["a"]), int(request.GET["b"])
    except (KeyError, ValueError):
        return HttpResponse("Give the two version numbers to compare, e.g. ?a=1&b=2.", status=400)
    _, old = _version(slug, a)
    _, new = _version(slug, b)
    old_text = render_file(services.data_of(old)).splitlines()
    new_text = render_file(services.data_of(new)).splitlines()
    lines = list(difflib.unified_diff(old_text, new_text, f"v{a}", f"v{b}", lineterm="", n=3))
    return render(request, "runbooks/diff.html", {"runbook": runbook, "old": old, "new": new, "lines": lines})


@login_required
def edit(request, slug=None):
    if not access.can_author_runbooks(request.user):
        raise PermissionDenied(gettext("Only commanders may edit runbooks."))
    runbook = get_object_or_404(Runbook, slug=slug) if slug else None
    initial = {"text": render_file(services.data_of(_version(slug)[1])) if runbook else NEW_TEMPLATE}
    form = RunbookTextForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            data = parse(form.cleaned_data["text"], "runbook")
            if runbook and data.slug != runbook.slug:
                raise ValidationError({"text": gettext("The slug cannot change; create a new runbook instead.")})
            if runbook is None and Runbook.objects.filter(slug=data.slug).exists():
                raise ValidationError(
                    {"text": gettext("A runbook {slug!r} exists already; edit it instead.").format(slug=data.slug)}
                )
            version, created = services.save_runbook(request.user, data)
        except RunbookFileError as exc:
            form.add_error("text", gettext("Line {line}: {reason}").format(line=exc.line, reason=exc.reason))
        except ValidationError as exc:
            for message in error_messages(exc):
                form.add_error("text", message)
        else:
            if created:
                messages.success(request, gettext("Saved as version %(number)s.") % {"number": version.number})
            else:
                messages.info(request, gettext("No change: no new version made."))
            return redirect(version.runbook)
    status = 400 if request.method == "POST" else 200
    return render(request, "runbooks/edit.html", {"form": form, "runbook": runbook}, status=status)


@login_required
@require_POST
def preview(request):
    """Live Markdown preview of the runbook being edited (htmx)."""
    text = request.POST.get("text", "")
    try:
        data = parse(text, "runbook")
    except RunbookFileError as exc:
        return render(request, "runbooks/_preview.html", {"error": f"Line {exc.line}: {exc.reason}"})
    steps = [(s, render_markdown(s.body)) for s in data.steps]
    return render(
        request, "runbooks/_preview.html", {"data": data, "steps": steps, "summary": render_markdown(data.summary)}
    )


NEW_TEMPLATE = """---
slug: new-runbook
title: New runbook
summary: When to use it and what it achieves.
applies_to:
  kinds: [availability]
  min_severity: 2
---

## First step
role: responder
minutes: 10

What to do, with commands and links.
"""


# The war-room panel --------------------------------------------------------------------------


def _incident(request, pk):
    return access.get_incident_for(request.user, pk, Incident.objects.prefetch_related("memberships", "services"))


def _minute(now=None):
    return int((now or timezone.now()).timestamp() // 60)


def _panel(request, incident, error=""):
    now = timezone.now()
    runs = list(services.runs_for(incident))
    for run in runs:
        run.progress = services.progress(run, now)
    can_command = access.can_command(request.user, incident)
    versions = list(services.library()) if can_command else []
    return render(
        request,
        "runbooks/_panel.html",
        {
            "incident": incident,
            "runs": runs,
            "suggestions": services.suggestions(incident, versions) if can_command else [],
            "unassigned": sum(
                1 for run in runs for sr in run.step_runs.all() if not sr.is_finished and not sr.assignee_id
            ),
            "handover": services.handover_offer(incident) if can_command and runs else None,
            "others": versions,
            "can_command": can_command,
            "can_work": access.can_log(request.user, incident),
            "members": _members(incident),
            "error": error,
            "version": incident.version,
            "minute": _minute(now),
            "poll_seconds": max(1, settings.WARROOM_TIMELINE_POLL_SECONDS),
        },
    )


def _members(incident):
    User = get_user_model()
    ids = {m.user_id for m in incident.memberships.all()}
    return User.objects.filter(pk__in=ids, is_active=True).order_by("username")


@login_required
@require_GET
def panel(request, pk):
    """The runbook panel. It polls itself with `v` (the incident's version it shows) and
    `m` (the minute it was drawn): 204 when nothing changed, so polling costs one small query;
    redrawn when a step or run changed (every change moves the incident's version on) or a
    minute passed (steps fall overdue)."""
    if "v" in request.GET:
        try:
            raw = request.GET["v"]
            # A panel drawn before versions were numbers sent a timestamp: redraw it.
            since, minute = (-1 if "." in raw else int(raw)), int(request.GET.get("m", "0"))
        except ValueError:
            return HttpResponse("Bad poll parameters.", status=400)
        version = (
            Incident.objects.visible_to(request.user)
            .filter(**access.incident_lookup(pk))
            .values_list("version", flat=True)
            .first()
        )
        if version is None:
            raise Http404("No such incident.")
        if version <= since and minute == _minute():
            return HttpResponse(status=204)
    return _panel(request, _incident(request, pk))


@login_required
@require_POST
def attach(request, pk):
    incident = _incident(request, pk)
    slug = request.POST.get("runbook", "")
    # A slug is plain letters, digits and dashes; anything else (a NUL byte, which PostgreSQL
    # refuses) is no runbook rather than a server error.
    runbook = Runbook.objects.filter(slug=slug, archived=False).first() if SLUG_RE.match(slug) else None
    error = ""
    if runbook is None:
        error = gettext("Choose a runbook to attach.")
    else:
        try:
            services.attach(incident, runbook, request.user)
        except (ValidationError, PermissionDenied) as exc:
            error = " ".join(error_messages(exc))
    if is_htmx(request):
        response = _panel(request, incident, error)
        response["HX-Trigger"] = "warroom-changed"
        return response
    if error:
        messages.error(request, error)
    return redirect(incident)


def _bulk(request, pk, operation):
    """A bulk step change from the runbook panel: the panel redrawn (htmx) or the war room."""
    incident = _incident(request, pk)
    error = ""
    try:
        operation(incident)
    except (ValidationError, PermissionDenied) as exc:
        error = " ".join(error_messages(exc))
    if is_htmx(request):
        response = _panel(request, incident, error)
        response["HX-Trigger"] = "warroom-changed"
        return response
    if error:
        messages.error(request, error)
    return redirect(incident)


@login_required
@require_POST
def assign_evenly(request, pk):
    """ "Assign the open steps evenly" among the people on the incident."""
    return _bulk(request, pk, lambda incident: services.assign_open_steps_evenly(incident, request.user))


@login_required
@require_POST
def move_steps(request, pk):
    """Move one person's open steps to another (offered after a handover of command)."""
    form = MoveStepsForm(request.POST)

    def move(incident):
        if not form.is_valid():
            raise ValidationError(gettext("Choose whose steps to move and to whom."))
        services.move_open_steps(incident, form.cleaned_data["from_user"], form.cleaned_data["to_user"], request.user)

    return _bulk(request, pk, move)


@login_required
@require_POST
def change_step(request, step_run_pk):
    visible = Incident.objects.visible_to(request.user)
    step_run = get_object_or_404(
        StepRun.objects.select_related("run__incident"), pk=step_run_pk, run__incident__in=visible
    )
    incident = step_run.run.incident
    form = StepChangeForm(request.POST)
    error = ""
    if form.is_valid():
        data = form.cleaned_data
        kwargs = {"status": data["status"] or None, "note": data["note"], "reason": data["reason"]}
        if data["unassign"]:
            kwargs["assignee"] = None
        elif data["assignee"]:
            kwargs["assignee"] = data["assignee"]
        try:
            services.change_step(step_run, request.user, **kwargs)
        except (ValidationError, PermissionDenied) as exc:
            error = " ".join(error_messages(exc))
    else:
        error = " ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
    source = request.POST.get("from")
    if is_htmx(request) and source != "my-steps":
        response = _panel(request, _incident(request, incident.pk), error)
        response["HX-Trigger"] = "warroom-changed"
        return response
    if error:
        messages.error(request, error)
    return redirect("runbooks:my_steps" if source == "my-steps" else incident.get_absolute_url())


@login_required
@require_GET
def my_steps(request):
    steps = list(services.my_steps(request.user))
    return render(request, "runbooks/my_steps.html", {"steps": steps})
