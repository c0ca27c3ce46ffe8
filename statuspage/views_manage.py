"""Staff pages for scheduled maintenance under /status/manage/maintenance/: the list, schedule,
change, cancel; and the status pages under /status/manage/pages/ (comms staff: define pages,
make and revoke access links). Thin: parse, authorise, call statuspage.services, render (in the staff
layout, base.html).

Who may see what: anyone signed in reads the list and the windows (maintenance is public
anyway, except on internal services); comms staff, commanders and superusers schedule,
change and cancel (others get a 403 that says why). Never cached: /status/ may sit behind a
CDN, and these pages are per user.
"""

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from incidents import access
from incidents.forms import apply_errors

from . import pages, services
from .forms import AccessLinkForm, MaintenanceForm, StatusPageForm
from .models import Maintenance, PageAccessLink, StatusPage
from .views import page_path

PAGE_SIZE = 50


def staff_page(view):
    """Signed in, never cached, and a refusal is a 403 page that says why."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except PermissionDenied as exc:
            return render(request, "statuspage/manage/refused.html", {"message": str(exc)}, status=403)

    return login_required(never_cache(wrapped))


def _require_manager(request):
    if not access.can_manage_maintenance(request.user):
        raise PermissionDenied(_("Only comms staff and commanders may schedule or change maintenance."))


def _row(m, now):
    """A window as the list and the form show it: its status now, and where the public sees it."""
    status = m.status_at(now)
    public = [s for s in m.services.all() if s.public]
    shown = not m.cancelled and (public or not m.services.all())
    return {
        "maintenance": m,
        "status": "cancelled" if m.cancelled else status,
        "status_label": _("Cancelled") if m.cancelled else Maintenance.Status(status).label,
        "services": m.services.all(),
        "public_url": page_path("maintenance", m.public_id) if shown else "",
        "editable": not m.cancelled and status != Maintenance.Status.COMPLETED,
    }


def _warn_internal(request, form):
    internal = form.internal_services()
    if not internal:
        return
    if len(internal) == len(form.cleaned_data["services"]):
        messages.warning(
            request, _("Every chosen service is internal: this maintenance does not appear on the status page.")
        )
    else:
        messages.warning(
            request,
            _("Internal services are not shown on the status page: %(names)s.") % {"names": ", ".join(internal)},
        )


@staff_page
@require_GET
def maintenance_list(request):
    now = timezone.now()
    qs = Maintenance.objects.select_related("created_by").prefetch_related("services").order_by("-scheduled_for", "-id")
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "statuspage/manage/list.html",
        {
            "page": page,
            "rows": [_row(m, now) for m in page.object_list],
            "can_manage": access.can_manage_maintenance(request.user),
            "can_manage_pages": access.can_manage_status_pages(request.user),
        },
    )


@staff_page
@require_http_methods(["GET", "POST"])
def maintenance_new(request):
    _require_manager(request)
    status = 200
    if request.method == "POST":
        form = MaintenanceForm(request.POST)
        if form.is_valid():
            try:
                maintenance = services.schedule(request.user, **form.values())
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                messages.success(request, _("Maintenance “%(title)s” scheduled.") % {"title": maintenance.title})
                _warn_internal(request, form)
                return redirect("statuspage:manage_maintenance")
        status = 400
    else:
        form = MaintenanceForm()
    return render(request, "statuspage/manage/form.html", {"form": form, "row": None}, status=status)


@staff_page
@require_http_methods(["GET", "POST"])
def maintenance_edit(request, pk):
    """A manager changes a window that has not completed; everyone else (and anyone, once it
    has completed or was cancelled) sees it read-only."""
    maintenance = get_object_or_404(Maintenance.objects.prefetch_related("services"), pk=pk)
    row = _row(maintenance, timezone.now())
    can_manage = access.can_manage_maintenance(request.user)
    if request.method == "POST":
        _require_manager(request)
    if not (can_manage and row["editable"]):
        return render(
            request,
            "statuspage/manage/form.html",
            {"form": None, "row": row, "can_manage": can_manage},
            status=409 if request.method == "POST" else 200,
        )
    status = 200
    if request.method == "POST":
        form = MaintenanceForm(request.POST)
        if form.is_valid():
            try:
                services.change(maintenance, request.user, **form.values())
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                messages.success(request, _("Maintenance “%(title)s” saved.") % {"title": maintenance.title})
                _warn_internal(request, form)
                return redirect("statuspage:manage_maintenance")
        status = 400
    else:
        form = MaintenanceForm(initial=MaintenanceForm.initial_for(maintenance))
    return render(
        request, "statuspage/manage/form.html", {"form": form, "row": row, "can_manage": can_manage}, status=status
    )


@staff_page
@require_POST
def maintenance_cancel(request, pk):
    _require_manager(request)
    maintenance = get_object_or_404(Maintenance, pk=pk)
    try:
        cancelled = services.cancel(maintenance, request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        if cancelled:
            messages.success(
                request,
                _("Maintenance “%(title)s” cancelled: it no longer shows on the status page.")
                % {"title": maintenance.title},
            )
        else:
            messages.info(request, _("Maintenance “%(title)s” was already cancelled.") % {"title": maintenance.title})
    return redirect("statuspage:manage_maintenance")


# Subscriber deliveries -----------------------------------------------------------------------

DELIVERY_KEYS_SHOWN = 30
DELIVERY_PROBLEMS_SHOWN = 100


@staff_page
@require_GET
def deliveries(request):
    """What subscribers were sent, per update, and every message that failed or waits for a
    retry, with its error: where comms staff see that the e-mail did not go out. Recipients'
    addresses are personal data: comms staff and commanders only."""
    if not access.can_manage_maintenance(request.user):
        raise PermissionDenied(_("Only comms staff and commanders may see subscriber deliveries."))
    return render(
        request,
        "statuspage/manage/deliveries.html",
        services.delivery_report(keys=DELIVERY_KEYS_SHOWN, problems=DELIVERY_PROBLEMS_SHOWN),
    )


# Status pages (operators: incidents.access.can_manage_status_pages) ------------------------------


def _require_page_manager(request):
    if not access.can_manage_status_pages(request.user):
        raise PermissionDenied(_("Only comms staff may define status pages or their access links."))


@staff_page
@require_GET
def page_list(request):
    _require_page_manager(request)
    rows = [
        {
            "page": page,
            "url": pages.base_path(page),
            "links": sum(1 for link in page.access_links.all() if link.is_active),
        }
        for page in StatusPage.objects.prefetch_related("access_links")
    ]
    return render(request, "statuspage/manage/pages.html", {"rows": rows})


@staff_page
@require_http_methods(["GET", "POST"])
def page_edit(request, pk=None):
    """Create (pk None) or change a page; on a page, its access links (make one, revoke)."""
    _require_page_manager(request)
    page = get_object_or_404(StatusPage, pk=pk) if pk is not None else None
    status = 200
    if request.method == "POST":
        form = StatusPageForm(request.POST)
        if form.is_valid():
            try:
                saved = services.save_page(request.user, page, **form.values())
            except ValidationError as exc:
                apply_errors(form, exc)
            else:
                messages.success(request, _("Status page “%(name)s” saved.") % {"name": pages.display_name(saved)})
                return redirect("statuspage:manage_page", saved.pk)
        status = 400
    else:
        form = StatusPageForm(initial=StatusPageForm.initial_for(page) if page else {"visibility": "public"})
    return render(request, "statuspage/manage/page_form.html", _page_context(page, form), status=status)


def _page_context(page, form, link_form=None, new_link=""):
    return {
        "page": page,
        "form": form,
        "url": pages.base_path(page) if page else "",
        "links": list(page.access_links.select_related("created_by")) if page else [],
        "link_form": link_form or AccessLinkForm(),
        "new_link": new_link,
    }


@staff_page
@require_POST
def page_link_new(request, pk):
    _require_page_manager(request)
    page = get_object_or_404(StatusPage, pk=pk)
    link_form = AccessLinkForm(request.POST)
    new_link = ""
    status = 400
    if link_form.is_valid():
        try:
            _link, token = services.create_access_link(request.user, page, label=link_form.cleaned_data["label"])
        except ValidationError as exc:
            apply_errors(link_form, exc)
        else:
            # Shown this once: only the token's hash is kept.
            new_link = f"{pages.url(page)}?{pages.ACCESS_PARAMETER}={token}"
            link_form, status = AccessLinkForm(), 201
    form = StatusPageForm(initial=StatusPageForm.initial_for(page))
    return render(
        request, "statuspage/manage/page_form.html", _page_context(page, form, link_form, new_link), status=status
    )


@staff_page
@require_POST
def page_link_revoke(request, pk, link_pk):
    _require_page_manager(request)
    link = get_object_or_404(PageAccessLink, pk=link_pk, page_id=pk)
    services.revoke_access_link(request.user, link)
    messages.success(request, _("Access link “%(label)s” revoked.") % {"label": link.label})
    return redirect("statuspage:manage_page", pk)
