"""Reminders of security and legal work: a mitigation due for review, a regulatory deadline
coming or missed. The rules are named in settings.WARROOM_REMINDER_RULES and called by the sweep
(incidents/reminders/sweep.py) with the sweep itself, which hands them what reminders are built
with (`sweep.Reminder`, `sweep.stamp`, `sweep.when`)."""

from django.conf import settings
from django.utils.translation import gettext_noop

from incidents.models import Incident, UserNotification
from incidents.security.clocks import reminder_points, stages_of
from incidents.security.models import Mitigation, RegulatoryClock
from incidents.timeline_text import Line, phrase

Kind = UserNotification.Kind
Status = Incident.Status


def mitigation_review(sweep):
    """A mitigation in force past its review-by time: remind its owner (else the commander)."""
    due_ones = Mitigation.objects.filter(
        ended_at__isnull=True, review_by__lte=sweep.now, incident__status__in=Incident.OPEN_STATUSES
    ).values_list("pk", "incident_id", "title", "owner_id", "review_by")
    for pk, incident_id, title, owner_id, review_by in due_ones:
        f = sweep.incidents.get(incident_id)
        if f is None:
            continue
        subject = f"mitigation:{pk}"
        due, window = sweep.effective(incident_id, subject, review_by, sweep.stamp(review_by))
        if due > sweep.now or not sweep.fresh(incident_id, subject, window):
            continue
        yield sweep.Reminder(
            incident_id=incident_id,
            subject=subject,
            key=subject,
            window=window,
            kind=Kind.MITIGATION_REVIEW,
            to=((f"user:{owner_id}",), ("commander",)) if owner_id else (("commander",),),
            title=Line(gettext_noop("Review mitigation on {reference}: {title}"), reference=f.reference, title=title),
            body=Line(
                gettext_noop(
                    "{incident}: the mitigation “{title}” was due for review at {when}. "
                    "Keep it with a new review time, or end it."
                ),
                incident=f.label,
                title=title,
                when=sweep.when(review_by),
            ),
            due_at=due,
        )


REGULATORY_POINTS = (
    ("half", gettext_noop("half of the time to notify has passed")),
    ("hour", gettext_noop("due within the hour")),
    ("missed", gettext_noop("the deadline has passed")),
)


def regulatory_deadlines(sweep):
    """A running regulatory clock's stage not submitted yet: remind at half its window, one
    hour before it is due, and when it is missed, the incident's commander and deputy and the
    security group's members who are on the incident."""
    clocks = (
        RegulatoryClock.objects.filter(status=RegulatoryClock.Status.RUNNING)
        .exclude(incident__status=Status.CLOSED)
        .select_related("incident", "obligation")
        .prefetch_related("submissions")
    )
    security = settings.WARROOM_SECURITY_GROUP
    for clock in clocks:
        f = sweep.incidents.get(clock.incident_id)
        if f is None:
            continue
        for stage in stages_of(clock, list(clock.submissions.all()), sweep.now):
            if stage.done or stage.due_at is None:
                continue
            points = reminder_points(stage)
            at = {"half": points.half_window, "hour": points.hour_before, "missed": points.missed}
            if at["half"] >= at["hour"]:  # a short window: "an hour before" comes first
                del at["half"]
            passed = [(name, text) for name, text in REGULATORY_POINTS if name in at and at[name] <= sweep.now]
            if not passed:
                continue
            name, text = max(passed, key=lambda p: at[p[0]])
            subject = f"clock:{clock.pk}:{stage.name}"
            due, window = sweep.effective(f.pk, subject, at[name], f"{name}@{sweep.stamp(stage.due_at)}")
            if due > sweep.now or not sweep.fresh(f.pk, f"{subject}.{name}", window):
                continue
            regime = clock.obligation.regime
            yield sweep.Reminder(
                incident_id=f.pk,
                subject=subject,
                key=f"{subject}.{name}",
                window=window,
                kind=Kind.REGULATORY,
                to=(("commander", "deputy", f"members-in-group:{security}"),),
                title=Line(
                    gettext_noop("{regime}, {stage}: {point} ({reference})"),
                    regime=phrase(regime),
                    stage=phrase(stage.name),
                    point=phrase(text),
                    reference=f.reference,
                ),
                body=Line(
                    gettext_noop(
                        "{incident}: the {stage} to {recipient} under {regime} is due at {when}; {point}. "
                        "Deadlines are defaults to check with counsel."
                    ),
                    incident=f.label,
                    stage=phrase(stage.name),
                    recipient=phrase(stage.recipient),
                    regime=phrase(regime),
                    when=sweep.when(stage.due_at),
                    point=phrase(text),
                ),
                due_at=due,
                anchor="security/",
            )
