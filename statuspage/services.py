"""Scheduled maintenance, as staff manage it: who may, and the operations (schedule, change,
cancel). The staff pages (statuspage.views_manage), the admin and tasks call these, so the
rules live here.

Who: comms staff, commanders and superusers manage maintenance; anyone signed in reads the
list. A completed window is history and no longer changes; a cancelled one disappears from the
status page at once (statuspage.public skips cancelled rows).

Every change saves the row with a fresh `updated_at`: the status page's content version
(statuspage.views.content_version) counts and dates maintenance rows, so the cached page and
JSON are rebuilt on the next request, here and in every other web process.
"""

import re
import secrets

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Max, Min, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from incidents.access import can_manage_maintenance, can_manage_status_pages

from .models import Maintenance, Notification, PageAccessLink, StatusPage, hash_access_token

EDITABLE_FIELDS = ("title", "body", "scheduled_for", "scheduled_until", "verify_minutes")


def _require_manager(user):
    if not can_manage_maintenance(user):
        raise PermissionDenied(_("Only comms staff and commanders may schedule or change maintenance."))


def is_finished(maintenance, now=None):
    return maintenance.status_at(now) == Maintenance.Status.COMPLETED


def _check_window(scheduled_for, scheduled_until):
    if scheduled_for and scheduled_until and scheduled_until <= scheduled_for:
        raise ValidationError({"scheduled_until": _("The window must end after it starts.")})


def schedule(user, *, title, scheduled_for, scheduled_until, services=(), body="", verify_minutes=15):
    """Schedule a maintenance window on some services (none: the whole platform)."""
    _require_manager(user)
    _check_window(scheduled_for, scheduled_until)
    now = timezone.now()
    if scheduled_until <= now:
        raise ValidationError({"scheduled_until": _("This window has already ended: choose an end in the future.")})
    with transaction.atomic():
        maintenance = Maintenance(
            title=title,
            body=body,
            scheduled_for=scheduled_for,
            scheduled_until=scheduled_until,
            verify_minutes=verify_minutes,
            created_by=user,
            created_at=now,
            updated_at=now,
        )
        maintenance.status = maintenance.status_at(now)
        maintenance.save()
        maintenance.services.set(services)
    _after_change()
    return maintenance


def check_change(maintenance, *, now=None, **fields):
    """What change() refuses, checked without saving (a form shows the reason by its field)."""
    if maintenance.cancelled:
        raise ValidationError(_("This maintenance was cancelled; schedule a new one instead."))
    if is_finished(maintenance, now):
        raise ValidationError(_("This maintenance has completed; it can no longer be changed."))
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"Not editable: {', '.join(sorted(unknown))}")
    _check_window(
        fields.get("scheduled_for", maintenance.scheduled_for),
        fields.get("scheduled_until", maintenance.scheduled_until),
    )


def change(maintenance, user, *, services=None, **fields):
    """Change a window that has not completed (nor been cancelled): its text, times, services."""
    _require_manager(user)
    now = timezone.now()
    check_change(maintenance, now=now, **fields)
    for name, value in fields.items():
        setattr(maintenance, name, value)
    maintenance.updated_at = now
    maintenance.status = maintenance.status_at(now)
    with transaction.atomic():
        maintenance.save()
        if services is not None:
            maintenance.services.set(services)
    _after_change()
    return maintenance


def cancel(maintenance, user):
    """Call a window off: it disappears from the status page, its JSON and feeds. Returns False
    if it was already cancelled."""
    _require_manager(user)
    if is_finished(maintenance):
        raise ValidationError(_("This maintenance has completed; it can no longer be cancelled."))
    changed = Maintenance.objects.filter(pk=maintenance.pk, cancelled=False).update(
        cancelled=True, updated_at=timezone.now()
    )
    maintenance.refresh_from_db()
    if changed:
        # .update() sends no post_save: tell this process's status page about it now.
        from .views import recent_version

        recent_version.forget()
        _after_change()
    return bool(changed)


def _after_change():
    """Bring the static status page (when one is configured) up to date once the change is
    committed. The row's signals ask too, but cancel() and the sweep write with .update()."""
    from . import tasks

    tasks.request_export()


def delivery_report(keys=30, problems=100):
    """Subscriber deliveries as the deliveries page shows them, in three queries whatever the
    size of the outbox: per message (an update, a confirmation...) the newest `keys` with how
    many rows are sent, waiting, being sent and failed; and the newest `problems` rows that
    failed or wait for a retry after an error."""
    status = Notification.Status
    per_key = list(
        Notification.objects.values("key")
        .annotate(
            first=Min("created_at"),
            last_sent=Max("sent_at"),
            sent=Count("pk", filter=Q(status=status.SENT)),
            pending=Count("pk", filter=Q(status=status.PENDING)),
            sending=Count("pk", filter=Q(status=status.SENDING)),
            failed=Count("pk", filter=Q(status=status.FAILED)),
            sample=Min("pk"),
        )
        .order_by("-first")[:keys]
    )
    titles = dict(
        Notification.objects.filter(pk__in=[row["sample"] for row in per_key]).values_list(
            "key", "payload__incident__name"
        )
    )
    for row in per_key:
        row["title"] = titles.get(row["key"]) or ""
    trouble = (
        Notification.objects.filter(Q(status=status.FAILED) | Q(status=status.PENDING) & ~Q(last_error=""))
        .select_related("subscriber")
        .defer("payload")
        .order_by("-pk")[:problems]
    )
    return {"messages": per_key, "problems": list(trouble)}


# Status pages ------------------------------------------------------------------------------
#
# Operators (incidents.access.can_manage_status_pages) define pages and make or revoke access
# links; the admin and the staff pages call these. Saving a page changes the content version
# (statuspage.public.content_digest reads the pages), so every cached document and the static
# export follow.

PAGE_FIELDS = ("name", "slug", "host", "logo_url", "language", "all_components", "groups", "visibility")
HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,59}$")
LOGO_PATH = re.compile(r"^/[A-Za-z0-9._~/-]{1,299}$")


def _require_page_manager(user):
    if not can_manage_status_pages(user):
        raise PermissionDenied(_("Only comms staff may define status pages or their access links."))


def check_page(page, **changes):
    """Raise ValidationError (by field) unless `changes` make a valid page."""
    values = {name: changes.get(name, getattr(page, name)) for name in PAGE_FIELDS}
    errors = {}
    host = (values["host"] or "").strip().lower()
    if host and not HOST.match(host):
        errors["host"] = _("Enter a host name such as status.example.com, without scheme, port or path.")
    elif host and StatusPage.objects.exclude(pk=page.pk).filter(host=host).exists():
        errors["host"] = _("Another status page is served on this host name.")
    if not SLUG.match(values["slug"] or ""):
        errors["slug"] = _("Enter a path of lowercase letters, digits and hyphens, e.g. api-platform.")
    elif StatusPage.objects.exclude(pk=page.pk).filter(slug=values["slug"]).exists():
        errors["slug"] = _("Another status page has this path.")
    logo = values["logo_url"] or ""
    # Same origin only: the page's Content-Security-Policy allows no other images, and a path
    # cannot carry a javascript: or data: URL.
    if logo and (not LOGO_PATH.match(logo) or logo.startswith("//") or ".." in logo):
        errors["logo_url"] = _("Enter a path on this site, such as /static/brand/logo.png.")
    if page.is_default and values["visibility"] != StatusPage.Visibility.PUBLIC:
        errors["visibility"] = _("The default page is public: make another page private instead.")
    groups = values["groups"]
    if not isinstance(groups, list) or not all(isinstance(g, str) and len(g) <= 120 for g in groups):
        errors["groups"] = _("Enter a list of component group names.")
    if errors:
        raise ValidationError(errors)


def save_page(user, page=None, *, services=None, allowed_groups=None, **changes):
    """Create a page (page None) or change one: its PAGE_FIELDS, the services it shows, the
    groups whose members may see it when private."""
    _require_page_manager(user)
    changes = {name: value for name, value in changes.items() if name in PAGE_FIELDS}
    if "host" in changes:
        changes["host"] = (changes["host"] or "").strip().lower() or None
    page = page or StatusPage()
    check_page(page, **changes)
    with transaction.atomic():
        for name, value in changes.items():
            setattr(page, name, value)
        page.updated_at = timezone.now()
        page.save()
        if services is not None:
            page.services.set(services)
        if allowed_groups is not None:
            page.allowed_groups.set(allowed_groups)
    return page


def create_access_link(user, page, *, label):
    """A new access link to a private page. Returns (link, token): the token is shown once and
    only its hash is kept."""
    _require_page_manager(user)
    label = (label or "").strip()
    if not label:
        raise ValidationError({"label": _("Say whom this link is for, e.g. the customer's name.")})
    token = secrets.token_urlsafe(32)
    link = PageAccessLink.objects.create(
        page=page, label=label[:200], token_hash=hash_access_token(token), created_by=user
    )
    return link, token


def revoke_access_link(user, link):
    """Revoke a link: from the next request on, it opens nothing, and its subscribers are told
    nothing more. Harmless twice."""
    _require_page_manager(user)
    return PageAccessLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
