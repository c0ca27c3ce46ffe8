"""Alert pages. Who may see what: the alert list and triage need a global role
(access.can_see_alerts), and alerts of hidden incidents stay hidden (Alert.objects.visible_to);
the war room's alerts panel goes through access.get_incident_for (a hidden incident is a 404);
sources and rules are read by everyone with a role and changed by commanders
(access.can_manage_alert_sources); triage clicks follow the services' rules."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from incidents import access
from incidents.alerts import payloads
from incidents.alerts import services as alerts
from incidents.alerts.filters import AlertFilter
from incidents.alerts.forms import AttachForm, RuleForm, SourceForm
from incidents.alerts.models import Alert, AlertRule, AlertSource
from incidents.forms import apply_errors, error_messages
from incidents.models import Incident, Membership

PAGE_SIZE = 50


def _require_reader(request):
    if not access.can_see_alerts(request.user):
        raise PermissionDenied(_("Only people with a role in Warroom may see alerts."))


def _page(request, queryset):
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))


# The war room's panel -----------------------------------------------------------------------------


@login_required
@require_GET
def panel(request, pk):
    """The alerts panel of the war-room page (an htmx fragment): firing now, then resolved."""
    incident = access.get_incident_for(request.user, pk)
    rows = list(incident.alerts.select_related("source", "service").order_by("status", "-last_seen")[:100])
    return render(
        request,
        "incidents/alerts/_panel.html",
        {
            "incident": incident,
            "firing": [a for a in rows if a.status == Alert.Status.FIRING],
            "resolved": [a for a in rows if a.status == Alert.Status.RESOLVED],
            "drift": alerts.status_drift(incident.alerts.all()),
            "all_resolved": bool(rows) and incident.pk in alerts.all_alerts_resolved([incident.pk]),
        },
    )


# Alert list and triage ----------------------------------------------------------------------------


@login_required
@require_GET
def alert_list(request):
    _require_reader(request)
    queryset = Alert.objects.visible_to(request.user).select_related("source", "service", "incident")
    filtered = AlertFilter(request.GET, queryset=queryset)
    page = _page(request, filtered.qs if filtered.is_valid() else queryset.none())
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "incidents/alerts/list.html",
        {"filter": filtered, "page": page, "query": query.urlencode(), "sources": AlertSource.objects.all()},
    )


def _triage_queryset(user):
    return (
        Alert.objects.visible_to(user)
        .filter(incident__isnull=True, status=Alert.Status.FIRING)
        .select_related("source", "service")
    )


@login_required
@require_GET
def triage(request):
    """Firing alerts on no incident (no rule matched, or routing could not place them)."""
    _require_reader(request)
    page = _page(request, _triage_queryset(request.user))
    mine = (
        Incident.objects.visible_to(request.user)
        .filter(status__in=Incident.OPEN_STATUSES)
        .order_by("-declared_at")
        .only("pk", "title")[:50]
    )
    return render(
        request,
        "incidents/alerts/triage.html",
        {
            "page": page,
            "open_incidents": list(mine),
            "can_open": access.can_declare(request.user),
            "can_attach": access.can_triage_alerts(request.user),
            "form": AttachForm(),
        },
    )


def _triaged_alert(request, alert_pk):
    _require_reader(request)
    return get_object_or_404(_triage_queryset(request.user), pk=alert_pk)


@login_required
@require_POST
def triage_open(request, alert_pk):
    alert = _triaged_alert(request, alert_pk)
    try:
        incident = alerts.open_incident_from(alert, request.user)
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, " ".join(error_messages(exc)))
        return redirect("alerts:triage")
    messages.success(request, _("Opened %(reference)s from the alert.") % {"reference": incident.reference})
    return redirect(incident.get_absolute_url())


@login_required
@require_POST
def triage_attach(request, alert_pk):
    alert = _triaged_alert(request, alert_pk)
    form = AttachForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose an incident to attach the alert to."))
        return redirect("alerts:triage")
    qs = Incident.objects.prefetch_related(Prefetch("memberships", queryset=Membership.objects.all()))
    try:
        incident = access.get_incident_for(request.user, form.cleaned_data["incident"], qs)
    except Http404:
        messages.error(request, _("No such incident."))
        return redirect("alerts:triage")
    try:
        alerts.attach_to(alert, incident, request.user)
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, " ".join(error_messages(exc)))
        return redirect("alerts:triage")
    messages.success(request, _("Alert attached to %(reference)s.") % {"reference": incident.reference})
    return redirect("alerts:triage")


# Sources and rules ---------------------------------------------------------------------------------


@login_required
@require_GET
def source_list(request):
    _require_reader(request)
    sources = AlertSource.objects.select_related("owner").prefetch_related("services").order_by("name")
    return render(
        request,
        "incidents/alerts/sources.html",
        {"sources": sources, "can_manage": access.can_manage_alert_sources(request.user)},
    )


def _show_secret_once(request, source, secret, signing_key):
    # Kept in the session for the one page that shows it, then dropped.
    request.session[f"alert-source-secret:{source.pk}"] = [secret, signing_key]


@login_required
@require_http_methods(["GET", "POST"])
def source_create(request):
    if not access.can_manage_alert_sources(request.user):
        raise PermissionDenied(_("Only commanders may connect alert sources."))
    form = SourceForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        values = dict(form.cleaned_data)
        try:
            source, secret, signing_key = alerts.create_source(request.user, **values)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            _show_secret_once(request, source, secret, signing_key)
            return redirect("alerts:source", source.pk)
    return render(request, "incidents/alerts/source_form.html", {"form": form, "source": None})


def _source(request, source_pk):
    _require_reader(request)
    return get_object_or_404(AlertSource.objects.select_related("owner"), pk=source_pk)


def _source_page(request, source, rule_form=None, tried=None, sample_error="", status=200):
    secret = request.session.pop(f"alert-source-secret:{source.pk}", None)
    rules = list(source.rules.select_related("service").order_by("position", "id"))
    return render(
        request,
        "incidents/alerts/source.html",
        {
            "source": source,
            "services": list(source.services.all()),
            "rules": rules,
            "can_manage": access.can_manage_alert_sources(request.user),
            "ingest_path": reverse("alert-ingest", args=[source.pk]),
            "secret": secret[0] if secret else None,
            "signing_key": secret[1] if secret else None,
            "rule_form": rule_form or RuleForm(source=source),
            "tried": tried,
            "sample_error": sample_error,
            "recent": source.alerts.visible_to(request.user).select_related("incident")[:20],
        },
        status=status,
    )


@login_required
@require_GET
def source_detail(request, source_pk):
    return _source_page(request, _source(request, source_pk))


def _manage(request, source_pk):
    source = _source(request, source_pk)
    if not access.can_manage_alert_sources(request.user):
        raise PermissionDenied(_("Only commanders may change alert sources."))
    return source


@login_required
@require_http_methods(["GET", "POST"])
def source_edit(request, source_pk):
    source = _manage(request, source_pk)
    initial = {
        "name": source.name,
        "kind": source.kind,
        "services": list(source.services.all()),
        "owner": source.owner,
        "grouping_minutes": source.grouping_minutes,
        "require_signature": source.require_signature,
    }
    form = SourceForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        values = dict(form.cleaned_data)
        if values["owner"] is None:
            values.pop("owner")
        try:
            alerts.update_source(source, request.user, **values)
        except ValidationError as exc:
            apply_errors(form, exc)
        else:
            messages.success(request, _("Source saved."))
            return redirect("alerts:source", source.pk)
    return render(request, "incidents/alerts/source_form.html", {"form": form, "source": source})


@login_required
@require_POST
def source_rotate(request, source_pk):
    source = _manage(request, source_pk)
    secret, signing_key = alerts.rotate_secret(source, request.user)
    _show_secret_once(request, source, secret, signing_key)
    messages.success(request, _("New secret made; the old one no longer works."))
    return redirect("alerts:source", source.pk)


@login_required
@require_POST
def source_pause(request, source_pk):
    source = _manage(request, source_pk)
    alerts.set_paused(source, request.user, not source.paused)
    messages.success(request, _("Source paused.") if source.paused else _("Source resumed."))
    return redirect("alerts:source", source.pk)


def _try(source, form, rule=None):
    """The Try button: the rules, with this form's rule in its place, on the pasted sample."""
    sample = form.cleaned_data.get("sample") or ""
    if not sample.strip():
        return None, _("Paste a sample payload to try the rules on.")
    candidate = AlertRule(source=source, pk=rule.pk if rule else None, **form.rule_values())
    candidate.position = candidate.position if candidate.position is not None else 10**6
    try:
        alerts._check_rule(source, {f: getattr(candidate, f) for f in alerts.RULE_FIELDS})
        return alerts.try_rules(source, sample, candidate), ""
    except ValidationError as exc:
        return None, " ".join(error_messages(exc))
    except payloads.PayloadError as exc:
        return None, f"{exc.field}: {exc.message}"


def _rule_action(request, source, rule=None):
    form = RuleForm(request.POST, source=source)
    if not form.is_valid():
        return _source_page(request, source, rule_form=form, status=400)
    if "try" in request.POST:
        tried, error = _try(source, form, rule)
        return _source_page(request, source, rule_form=form, tried=tried, sample_error=error)
    try:
        if rule is None:
            alerts.create_rule(source, request.user, **form.rule_values())
        else:
            alerts.update_rule(rule, request.user, **form.rule_values())
    except ValidationError as exc:
        apply_errors(form, exc)
        return _source_page(request, source, rule_form=form, status=400)
    messages.success(request, _("Rule saved."))
    return redirect("alerts:source", source.pk)


@login_required
@require_POST
def rule_create(request, source_pk):
    return _rule_action(request, _manage(request, source_pk))


@login_required
@require_http_methods(["GET", "POST"])
def rule_edit(request, source_pk, rule_pk):
    source = _manage(request, source_pk)
    rule = get_object_or_404(AlertRule, pk=rule_pk, source=source)
    if request.method == "POST":
        return _rule_action(request, source, rule)
    form = RuleForm(
        source=source,
        initial={
            "name": rule.name,
            "position": rule.position,
            "matchers": "\n".join(rule.matchers),
            "service": rule.service,
            "severity": rule.severity,
            "kind": rule.kind,
            "action": rule.action,
        },
    )
    return render(request, "incidents/alerts/rule_form.html", {"source": source, "rule": rule, "form": form})


@login_required
@require_POST
def rule_delete(request, source_pk, rule_pk):
    source = _manage(request, source_pk)
    rule = get_object_or_404(AlertRule, pk=rule_pk, source=source)
    alerts.delete_rule(rule, request.user)
    messages.success(request, _("Rule removed."))
    return redirect("alerts:source", source.pk)
