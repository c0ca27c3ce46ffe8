"""Reminders of alerts, named in settings.WARROOM_REMINDER_RULES and called by the sweep
(incidents/reminders/sweep.py) with the sweep itself: status drift to the comms lead, and "every
alert has resolved" to the commander."""

from django.utils.translation import gettext_noop

from incidents.alerts import services as alerts
from incidents.models import UserNotification
from incidents.timeline_text import Line

Kind = UserNotification.Kind


def status_drift(sweep):
    """A critical alert fires on a public service while the status page says operational:
    remind the comms lead (else the commander) of the incident the alert is on, once per
    stretch of drift."""
    for drift in alerts.status_drift(now=sweep.now):
        f = sweep.incidents.get(drift.incident_id)
        if f is None or not f.is_open:
            continue  # an alert on no incident waits in triage
        subject = f"alerts.drift:{drift.service.slug}"
        due, window = sweep.effective(f.pk, subject, drift.since, sweep.stamp(drift.since))
        if due > sweep.now or not sweep.fresh(f.pk, subject, window):
            continue
        minutes = int((sweep.now - drift.since).total_seconds() // 60)
        yield sweep.Reminder(
            incident_id=f.pk,
            subject=subject,
            key=subject,
            window=window,
            kind=Kind.OTHER,
            to=(("comms_lead",), ("commander",)),
            title=Line(
                gettext_noop("Status page says operational while alerts fire on {service}"), service=drift.service.name
            ),
            body=Line(
                gettext_noop(
                    "{incident}: the status page says {service} is operational while critical alerts have fired "
                    "on it for {minutes} min (since {when}). Record an impact or publish an update, or snooze "
                    "this reminder with a reason."
                ),
                incident=f.label,
                service=drift.service.name,
                minutes=minutes,
                when=sweep.when(drift.since),
            ),
            due_at=due,
            anchor="#alerts-panel",
        )


def alerts_resolved(sweep):
    """Every alert of an incident still investigating or identified has resolved: tell the
    commander it may be ready for monitoring, once per last resolution."""
    for incident_id, last in alerts.all_alerts_resolved().items():
        f = sweep.incidents.get(incident_id)
        if f is None or not f.is_open:
            continue
        subject = "alerts.resolved"
        due, window = sweep.effective(incident_id, subject, last, sweep.stamp(last))
        if due > sweep.now or not sweep.fresh(incident_id, subject, window):
            continue
        yield sweep.Reminder(
            incident_id=incident_id,
            subject=subject,
            key=subject,
            window=window,
            kind=Kind.OTHER,
            to=(("commander",),),
            title=Line(gettext_noop("Every alert of {reference} has resolved"), reference=f.reference),
            body=Line(
                gettext_noop(
                    "{incident}: every alert on it has resolved (the last at {when}). It may be ready for monitoring."
                ),
                incident=f.label,
                when=sweep.when(last),
            ),
            due_at=due,
            anchor="#alerts-panel",
        )
