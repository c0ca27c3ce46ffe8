"""Reminders about communications: the update cadence. The rule is named in
settings.WARROOM_REMINDER_RULES and called by the sweep (incidents/reminders/sweep.py) with the
sweep itself, which hands it what reminders are built with (`sweep.Reminder`, `sweep.stamp`,
`sweep.when`). `next_update_due` is what the war room and the comms page show."""

from datetime import timedelta

from django.conf import settings
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext_noop

from incidents.comms.models import Communication
from incidents.models import Incident, UserNotification
from incidents.timeline_text import Line, phrase

Kind = UserNotification.Kind


def cadence_minutes(severity, cfg=None, chosen=None):
    """Minutes between public updates: the incident's own cadence (`chosen`) when its people
    set one, else its severity's, or None (no cadence)."""
    if chosen:
        return chosen
    cfg = settings.WARROOM_REMINDERS if cfg is None else cfg  # the sweep passes the one it read
    minutes = cfg.get("update_cadence_minutes") or {}
    return minutes.get(severity) or minutes.get(str(severity)) or None


def next_update_due(incident, now=None):
    """When the incident's next public update is due (its cadence after the last published
    one, or after the declaration), or None: SEV4, or not open. One query."""
    if incident.status not in Incident.OPEN_STATUSES:
        return None
    minutes = cadence_minutes(incident.severity, chosen=incident.update_cadence_minutes)
    if not minutes:
        return None
    comms = Communication.objects.filter(
        incident=incident, status=Communication.Status.PUBLISHED, published_at__isnull=False
    )
    if not incident.confidential:
        comms = comms.filter(audience=Communication.Audience.STATUS_PAGE)
    last = comms.aggregate(last=Max("published_at"))["last"]
    return (last or incident.declared_at) + timedelta(minutes=minutes)


PROMISE_STEP = timedelta(minutes=5)


def next_update_promise(incident, now=None):
    """The time a public update written now promises the next one by, or None (no cadence: SEV4,
    or not open). Publishing an update restarts the cadence the war room shows
    (`next_update_due`), so the promise is the cadence counted from now, never earlier than what
    the war room shows, rounded up to 5 minutes: a time people read at a glance, with a little
    room for the review before publication."""
    if incident.status not in Incident.OPEN_STATUSES:
        return None
    minutes = cadence_minutes(incident.severity, chosen=incident.update_cadence_minutes)
    if not minutes:
        return None
    due = (now or timezone.now()) + timedelta(minutes=minutes)
    epoch = due.replace(hour=0, minute=0, second=0, microsecond=0)
    steps = -(-(due - epoch) // PROMISE_STEP)  # ceiling division
    return epoch + steps * PROMISE_STEP


def update_cadence(sweep):
    """The next public update is due: remind the comms lead (else the commander); still
    missing after the grace, escalate to the commander and deputy."""
    grace = sweep.minutes("update_escalation_minutes")
    for f in sweep.open_incidents():
        minutes = cadence_minutes(f.severity, sweep.config, f.update_cadence)
        if not minutes:
            continue
        anchor = f.last_update or f.declared_at
        due = anchor + timedelta(minutes=minutes)
        if due > sweep.now:
            continue
        since = phrase(gettext_noop("the last public update") if f.last_update else gettext_noop("the declaration"))
        due, window = sweep.effective(f.pk, "update", due, sweep.stamp(anchor))
        if due <= sweep.now and sweep.fresh(f.pk, "update", window):
            yield sweep.Reminder(
                incident_id=f.pk,
                subject="update",
                key="update",
                window=window,
                kind=Kind.UPDATE_DUE,
                to=(("comms_lead",), ("commander",)),
                title=Line(gettext_noop("Public update due on {reference}"), reference=f.reference),
                body=Line(
                    gettext_noop(
                        "{incident}: the next public update was due at {when}, {minutes} min after {since}. "
                        "Publish an update, or snooze this reminder with a reason."
                    ),
                    incident=f.label,
                    when=sweep.when(due),
                    minutes=minutes,
                    since=since,
                ),
                due_at=due,
            )
        if due + grace <= sweep.now and sweep.fresh(f.pk, "update.escalate", window):
            yield sweep.Reminder(
                incident_id=f.pk,
                subject="update",
                key="update.escalate",
                window=window,
                kind=Kind.UPDATE_OVERDUE,
                to=(("commander", "deputy"),),
                title=Line(gettext_noop("Public update overdue on {reference}"), reference=f.reference),
                body=Line(
                    gettext_noop(
                        "{incident}: no public update {minutes} min after it was due ({when}). "
                        "The comms lead was reminded; please make sure an update goes out."
                    ),
                    incident=f.label,
                    minutes=int(grace.total_seconds() // 60),
                    when=sweep.when(due),
                ),
                due_at=due + grace,
            )
