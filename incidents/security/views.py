"""HTML for security incidents: the security page (mitigations, exposure assessment, legal
clocks), the clocks panel of the war-room page (htmx), mitigations in force across incidents,
and the audit page with its CSV and JSON export.

Who may see what: every page goes through access.get_incident_for (a hidden incident is a
404). Anyone who can see an incident reads its security page and clocks; the commanders and
the security group change them (access.can_manage_security); the audit page and its export are for
the incident's commanders, the security group and superusers (403 for other readers).
"""

import csv
import io
import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Case, IntegerField, Prefetch, Value, When
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from incidents import access, auditlog, services
from incidents.forms import apply_errors, error_messages, keep_seconds
from incidents.htmx import is_htmx, next_url
from incidents.models import (
    AuditEvent,
    Incident,
    Membership,
    Mitigation,
    Obligation,
    RegulatoryClock,
)
from incidents.security import audit as audit_trail
from incidents.security import clocks as regulatory
from incidents.security import mitigations as security
from incidents.security.forms import (
    AwarenessForm,
    CorrectStartForm,
    ExposureForm,
    LiftForm,
    MitigationForm,
    ReasonForm,
    StartClockForm,
    SubmissionForm,
)


def _form_errors(form):
    return [f"{form.fields[f].label or f}: {e}" if f in form.fields else e for f, es in form.errors.items() for e in es]


# Clocks: what the panel shows -------------------------------------------------------------------


def _clocks_context(request, incident, error=""):
    now = timezone.now()
    clocks = security.clocks_of(incident)
    for clock in clocks:
        clock.rows = security.clock_rows(clock, now)
        clock.open_stages = [r.name for r in clock.rows if not r.done]
        # A fresh form after each change to the clock; the same one (hx-preserve) otherwise.
        clock.form_key = f"{clock.pk}-{len(clock.rows) - len(clock.open_stages)}-{clock.status}"
    manage = access.can_manage_security(request.user, incident)
    started = {c.obligation_id for c in clocks}
    context = {
        "incident": incident,
        "clocks": clocks,
        "now": now,
        "can_manage": manage,
        "can_set_awareness": access.can_record_awareness(request.user, incident),
        "disclaimer": regulatory.DISCLAIMER,
        "error": error,
        "aware_key": int(incident.aware_at.timestamp()) if incident.aware_at else 0,
        "clocks_key": len(clocks),
    }
    if manage:
        context["suggestions"] = [o for o in regulatory.suggest(incident) if o.pk not in started]
        context["obligations"] = [o for o in Obligation.objects.filter(active=True) if o.pk not in started]
        context["communications"] = list(incident.communications.order_by("-created_at")[:100])
    return context


# Helpers --------------------------------------------------------------------------------------


def _incident(request, pk):
    qs = Incident.objects.prefetch_related(Prefetch("memberships", queryset=Membership.objects.select_related("user")))
    return access.get_incident_for(request.user, pk, qs)


def security_url(incident):
    return reverse("incidents:security:page", args=[incident.key])


def _after_clock_action(request, incident, error="", success=""):
    """htmx: the fresh panel (with the error, if any); otherwise back to the security page."""
    if is_htmx(request):
        incident.refresh_from_db(fields=["aware_at", "updated_at"])
        response = render(request, "incidents/security/_clocks.html", _clocks_context(request, incident, error))
        if not error:
            response["HX-Trigger"] = "warroom-changed"
        return response
    if error:
        messages.error(request, error)
    elif success:
        messages.success(request, success)
    return redirect(next_url(request, security_url(incident) + "#clocks-panel"))


def _clock_action(request, pk, clock_pk, form_class, operation, success):
    incident = _incident(request, pk)
    clock = None
    if clock_pk is not None:
        clock = get_object_or_404(RegulatoryClock.objects.select_related("obligation"), pk=clock_pk, incident=incident)
        clock.incident = incident
    form = form_class(request.POST, incident=incident) if form_class is SubmissionForm else form_class(request.POST)
    if not form.is_valid():
        return _after_clock_action(request, incident, " ".join(_form_errors(form)))
    try:
        operation(incident, clock, form.cleaned_data)
    except (ValidationError, PermissionDenied) as exc:
        return _after_clock_action(request, incident, " ".join(error_messages(exc)))
    return _after_clock_action(request, incident, success=success)


# Clocks panel and its actions ------------------------------------------------------------------


@login_required
@require_GET
def clocks_panel(request, pk):
    """The legal-clocks panel (an htmx fragment for the war-room page)."""
    incident = _incident(request, pk)
    return render(request, "incidents/security/_clocks.html", _clocks_context(request, incident))


@login_required
@require_POST
def set_awareness(request, pk):
    return _clock_action(
        request,
        pk,
        None,
        AwarenessForm,
        lambda i, c, d: services.correct_time(i, "aware_at", d["value"], request.user, d["reason"]),
        _("Awareness time recorded."),
    )


@login_required
@require_POST
def start_clock(request, pk):
    return _clock_action(
        request,
        pk,
        None,
        StartClockForm,
        lambda i, c, d: regulatory.start_clock(
            i, d["obligation"], request.user, started_at=d["started_at"], target_hours=d["target_hours"]
        ),
        _("Clock started."),
    )


@login_required
@require_POST
def submit(request, pk, clock_pk):
    return _clock_action(
        request,
        pk,
        clock_pk,
        SubmissionForm,
        lambda i, c, d: regulatory.record_submission(
            c,
            d["stage"],
            request.user,
            submitted_at=d["submitted_at"],
            reference=d["reference"],
            communication=d["communication"],
            notes=d["notes"],
        ),
        _("Submission recorded."),
    )


@login_required
@require_POST
def not_required(request, pk, clock_pk):
    return _clock_action(
        request,
        pk,
        clock_pk,
        ReasonForm,
        lambda i, c, d: regulatory.mark_not_required(c, request.user, d["reason"]),
        _("Marked not required."),
    )


@login_required
@require_POST
def correct_start(request, pk, clock_pk):
    return _clock_action(
        request,
        pk,
        clock_pk,
        CorrectStartForm,
        lambda i, c, d: regulatory.correct_clock_start(c, d["started_at"], request.user, d["reason"]),
        _("Clock start corrected."),
    )


# The security page ---------------------------------------------------------------------------


def _exposure_initial(assessment):
    if assessment is None:
        return {"certainty": "suspected", "confidence": "low", "found_by": "internal"}
    return {
        "certainty": assessment.certainty,
        "categories": assessment.categories,
        "people_affected": assessment.people_affected,
        "records_affected": assessment.records_affected,
        "confidence": assessment.confidence,
        "jurisdictions": ", ".join(assessment.jurisdictions),
        "encrypted": assessment.encrypted,
        "found_by": assessment.found_by,
    }


def _render_page(request, incident, mitigation_form=None, exposure_form=None, status=200):
    now = timezone.now()
    mitigations = list(
        incident.mitigations.select_related("owner").order_by(
            Case(When(ended_at__isnull=True, then=Value(0)), default=Value(1), output_field=IntegerField()),
            "started_at",
            "id",
        )
    )
    for m in mitigations:
        m.review_overdue = security.review_overdue(m, now)
    assessment = security.exposure_of(incident)
    incident.exposure = assessment  # regulatory.suggest reads it: no second query
    context = _clocks_context(request, incident)
    context.update(
        {
            "mitigations": mitigations,
            "assessment": assessment,
            "mitigation_form": mitigation_form or MitigationForm(),
            "exposure_form": exposure_form or ExposureForm(initial=_exposure_initial(assessment)),
            "can_audit": access.can_audit_security(request.user, incident),
        }
    )
    return render(request, "incidents/security/page.html", context, status=status)


@login_required
@require_GET
def page(request, pk):
    return _render_page(request, _incident(request, pk))


@login_required
@require_POST
def add_mitigation(request, pk):
    incident = _incident(request, pk)
    form = MitigationForm(request.POST)
    if form.is_valid():
        try:
            security.add_mitigation(incident, request.user, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Mitigation recorded."))
            return redirect(security_url(incident) + "#mitigations")
    return _render_page(request, incident, mitigation_form=form, status=400)


@login_required
def edit_mitigation(request, pk, mitigation_pk):
    incident = _incident(request, pk)
    mitigation = get_object_or_404(Mitigation, pk=mitigation_pk, incident=incident)
    mitigation.incident = incident
    if not access.can_manage_security(request.user, incident):
        raise PermissionDenied(_("Only the incident's commanders and the security group may change mitigations."))
    initial = {f: getattr(mitigation, f) for f in MitigationForm.base_fields}
    form = MitigationForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        data["started_at"] = data["started_at"] or mitigation.started_at
        for field in ("started_at", "review_by"):
            data[field] = keep_seconds(data[field], getattr(mitigation, field))
        try:
            security.update_mitigation(mitigation, request.user, **data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Mitigation updated."))
            return redirect(security_url(incident) + "#mitigations")
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "incidents/security/mitigation_edit.html",
        {"incident": incident, "mitigation": mitigation, "form": form},
        status=status,
    )


@login_required
@require_POST
def lift_mitigation(request, pk, mitigation_pk):
    incident = _incident(request, pk)
    mitigation = get_object_or_404(Mitigation, pk=mitigation_pk, incident=incident)
    mitigation.incident = incident
    form = LiftForm(request.POST)
    try:
        note = form.cleaned_data["note"] if form.is_valid() else ""
        security.lift_mitigation(mitigation, request.user, note=note)
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, " ".join(error_messages(exc)))
    else:
        messages.success(request, _("Lifted: %(title)s.") % {"title": mitigation.title})
    target = next_url(request, security_url(incident) + "#mitigations")
    return redirect(target)


@login_required
@require_POST
def assess(request, pk):
    incident = _incident(request, pk)
    form = ExposureForm(request.POST)
    if form.is_valid():
        try:
            security.assess_exposure(incident, request.user, **form.cleaned_data)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Exposure assessment saved."))
            return redirect(security_url(incident) + "#exposure")
    return _render_page(request, incident, exposure_form=form, status=400)


# Mitigations in force across incidents ------------------------------------------------------------


@login_required
@require_GET
def mitigations_in_force(request):
    """Every mitigation in force on the incidents the viewer may see, oldest first."""
    now = timezone.now()
    page_ = Paginator(security.in_force(request.user), 100).get_page(request.GET.get("page"))
    for m in page_.object_list:
        m.review_overdue = security.review_overdue(m, now)
    return render(request, "incidents/security/in_force.html", {"page": page_, "now": now})


# Audit ------------------------------------------------------------------------------------------


def _filename(incident, ext):
    return f"{incident.reference}-audit.{ext}"


@login_required
@require_GET
def audit(request, pk):
    incident = _incident(request, pk)
    if not access.can_audit_security(request.user, incident):
        raise PermissionDenied(_("Only the incident's commanders and the security group may read its audit trail."))
    rows = audit_trail.audit_rows(incident, request.user)
    fmt = request.GET.get("format", "")
    if fmt in ("csv", "json"):
        auditlog.record(AuditEvent.Action.EXPORTED, subject=f"audit trail of {incident.reference} ({fmt})")
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(audit_trail.AUDIT_COLUMNS)
        for row in rows:
            writer.writerow([audit_trail.csv_cell(row[c]) for c in audit_trail.AUDIT_COLUMNS])
        response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{_filename(incident, "csv")}"'
        return response
    if fmt == "json":
        body = {
            "incident": {
                "id": incident.pk,
                "reference": incident.reference,
                "title": incident.title,
                "kind": incident.kind,
                "confidential": incident.confidential,
            },
            "exported_at": timezone.now(),
            "exported_by": request.user.get_username(),
            "changes": rows,
        }
        response = HttpResponse(
            json.dumps(body, cls=DjangoJSONEncoder, ensure_ascii=False, indent=1),
            content_type="application/json",
        )
        response["Content-Disposition"] = f'attachment; filename="{_filename(incident, "json")}"'
        return response
    if fmt:
        return HttpResponse("Unknown format: use ?format=csv or ?format=json.", status=400, content_type="text/plain")
    for row in rows:  # the page shows values as the JSON export has them
        row["old_text"] = audit_trail.shown(row["old"])
        row["new_text"] = audit_trail.shown(row["new"])
    return render(request, "incidents/security/audit.html", {"incident": incident, "rows": rows})
