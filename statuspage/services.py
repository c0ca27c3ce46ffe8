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

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Max, Min, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from incidents.access import can_manage_maintenance

from .models import Maintenance, Notification

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
