"""The organisation-wide audit log (/audit/, with CSV and JSON exports) and the sign-in pauses
an admin may lift (/audit/lockouts/). The security group and superusers only
(access.can_read_audit_log, access.can_unlock_signin)."""

import csv
import io
import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from incidents import access, auditlog, signin
from incidents.forms import AuditFilterForm, UnlockForm
from incidents.models import AuditEvent

COLUMNS = ["at", "actor", "action", "subject", "address", "detail", "id"]
PAGE_SIZE = 100


def _cell(value):
    """A value for a CSV cell: ISO times, JSON for structures, and nothing a spreadsheet runs."""
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, cls=DjangoJSONEncoder)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _row(event):
    return {
        "id": event.pk,
        "at": event.at,
        "actor": event.actor_name,
        "action": event.action,
        "subject": event.subject,
        "address": event.address,
        "detail": event.detail,
    }


@login_required
@require_GET
def audit_log(request):
    if not access.can_read_audit_log(request.user):
        raise PermissionDenied(_("Only the security group may read the audit log."))
    form = AuditFilterForm(request.GET or None)
    events = AuditEvent.objects.order_by("-at", "-id")
    if form.is_bound:
        if not form.is_valid():
            return render(request, "account/audit_log.html", {"form": form, "page": None}, status=400)
        events = form.filter(events)
    fmt = request.GET.get("format", "")
    if fmt in ("csv", "json"):
        filters = {k: v for k, v in request.GET.items() if k not in ("format", "page") and v}
        auditlog.record(AuditEvent.Action.EXPORTED, subject=f"audit log ({fmt})", detail={"filters": filters})
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        rows = (_row(event) for event in events.iterator(chunk_size=2000))
        if fmt == "csv":
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(COLUMNS)
            for row in rows:
                writer.writerow([_cell(row[c]) for c in COLUMNS])
            response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
        else:
            body = {"exported_at": timezone.now(), "exported_by": request.user.get_username(), "filters": filters}
            body["events"] = list(rows)
            response = HttpResponse(
                json.dumps(body, cls=DjangoJSONEncoder, ensure_ascii=False, indent=1), content_type="application/json"
            )
        response["Content-Disposition"] = f'attachment; filename="warroom-audit-{stamp}.{fmt}"'
        return response
    if fmt:
        return HttpResponse("Unknown format: use ?format=csv or ?format=json.", status=400, content_type="text/plain")
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "account/audit_log.html", {"form": form, "page": page, "newest_first": True})


@login_required
def lockouts(request):
    if not access.can_unlock_signin(request.user):
        raise PermissionDenied(_("Only the security group may unlock sign-in."))
    form = UnlockForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        signin.unlock(request.user, username=form.cleaned_data["username"], address=form.cleaned_data["address"])
        who = form.cleaned_data["username"] or form.cleaned_data["address"]
        messages.success(request, _("Sign-in unlocked for %(who)s.") % {"who": who})
        return redirect("audit:lockouts")
    recent = list(signin.recent_lockouts()[:200])
    status = 400 if request.method == "POST" else 200
    return render(request, "account/lockouts.html", {"form": form, "lockouts": recent}, status=status)
