"""The in-app inbox (a person's notifications, the header's unread count, e-mail preference)
and snoozing a reminder. Everyone signed in has an inbox and sees only their own
notifications, and only those about incidents they may still see."""

import re

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Prefetch, Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_POST

from incidents import access
from incidents.models import Incident, Membership, NotificationPreference, Snooze, UserNotification
from incidents.reminders import sweep as reminders

PAGE = 50


def _memberships():
    # Enough of each incident's memberships to tell who may snooze its reminders.
    return Prefetch("incident__memberships", queryset=Membership.objects.only("incident", "user", "role"))


def notifications_of(user):
    """The user's notifications about incidents they may see (access can end after a
    notification was written), and those about no incident."""
    return UserNotification.objects.filter(user=user).filter(
        Q(incident__isnull=True) | Q(incident__in=Incident.objects.visible_to(user))
    )


def unread_count(user):
    return notifications_of(user).filter(read_at__isnull=True).count()


@login_required
@require_GET
def inbox(request):
    notes = (
        notifications_of(request.user)
        .select_related("incident")
        .prefetch_related(_memberships())
        .order_by("-created_at", "-id")
    )
    page = Paginator(notes, PAGE).get_page(request.GET.get("page"))
    # An action item's owner may snooze its reminders without a role on the incident (one
    # query for the page, only when it shows such reminders).
    owned = access.owned_action_items(
        request.user,
        [(n.incident_id, n.subject) for n in page if n.incident and not access.can_log(request.user, n.incident)],
    )
    for note in page:
        note.can_snooze = bool(
            note.subject and note.incident and access.can_snooze(request.user, note.incident, note.subject, owned)
        )
    preference = NotificationPreference.objects.filter(user=request.user).first()
    unread = unread_count(request.user)
    awaiting = len(access.communications_awaiting_approval(request.user))
    return render(
        request,
        "incidents/inbox.html",
        {
            "page": page,
            "unread": unread,
            "inbox_unread": unread,  # the header's badge, without waiting for its first poll
            "awaiting_approval": awaiting,
            "inbox_poll_seconds": settings.WARROOM_INBOX_POLL_SECONDS,
            "email_on": preference.email if preference else True,
            "has_email": bool(request.user.email),
            "snooze_minutes": Snooze.MINUTES,
        },
    )


@require_GET
def count(request):
    """The header's unread badge and "To approve" count, polled by htmx every
    WARROOM_INBOX_POLL_SECONDS (an approver hears of a submitted update within seconds). 204
    when signed out (an expired session must not swap a login page into the header)."""
    if not request.user.is_authenticated:
        return HttpResponse(status=204)
    return render(
        request,
        "incidents/_inbox_link.html",
        {
            "inbox_unread": unread_count(request.user),
            "awaiting_approval": len(access.communications_awaiting_approval(request.user)),
            "inbox_poll_seconds": settings.WARROOM_INBOX_POLL_SECONDS,
        },
    )


@login_required
@require_POST
def mark_read(request, pk):
    note = get_object_or_404(notifications_of(request.user), pk=pk)
    UserNotification.objects.filter(pk=note.pk, read_at__isnull=True).update(read_at=timezone.now())
    if request.POST.get("open"):
        return redirect(note.url)
    return redirect("inbox:index")


@login_required
@require_POST
def mark_all_read(request):
    notifications_of(request.user).filter(read_at__isnull=True).update(read_at=timezone.now())
    return redirect("inbox:index")


@login_required
@require_POST
def preferences(request):
    email = request.POST.get("email") == "on"
    NotificationPreference.objects.update_or_create(
        user=request.user, defaults={"email": email, "updated_at": timezone.now()}
    )
    messages.success(
        request,
        gettext("Reminders will also come by e-mail.") if email else gettext("Reminders now stay in your inbox."),
    )
    return redirect("inbox:index")


@login_required
@require_POST
def snooze(request, pk):
    """Snooze one reminder of the incident (from the war-room page or the inbox)."""
    incident = access.get_incident_for(request.user, pk, Incident.objects.prefetch_related("memberships"))
    subject = request.POST.get("key", "")
    try:
        minutes, reason = request.POST.get("minutes"), request.POST.get("reason")
        entry = reminders.snooze(incident, subject, minutes, reason, request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    except PermissionDenied as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            gettext("Reminder snoozed until {localtime:%Y-%m-%d %H:%M}: {subject_label}.").format(
                localtime=timezone.localtime(entry.until), subject_label=gettext(reminders.subject_label(subject))
            ),
        )
        note = request.POST.get("notification", "")
        if re.fullmatch(r"[0-9]{1,18}", note):
            notifications_of(request.user).filter(pk=int(note), read_at__isnull=True).update(read_at=timezone.now())
    if request.POST.get("next") == "inbox":
        return redirect("inbox:index")
    return redirect(incident)
