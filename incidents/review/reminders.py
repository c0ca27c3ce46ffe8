"""Reminders after an incident: the post-incident review not published some days after
resolving, and follow-up action items falling due. The rules are named in
settings.WARROOM_REMINDER_RULES and called by the sweep (incidents/reminders/sweep.py) with the
sweep itself, which hands them what reminders are built with (`sweep.Reminder`, `sweep.stamp`,
`sweep.when`)."""

from datetime import timedelta

from django.utils.translation import gettext_noop

from incidents.models import Incident, UserNotification
from incidents.review.models import ActionItem, Review
from incidents.timeline_text import Line, choice, phrase

Kind = UserNotification.Kind
Status = Incident.Status


def review_due(sweep):
    """Resolved some days ago without a published review (none yet, or a draft): remind the
    review's owner (else the commander) to hold the review and publish it. Only resolved
    incidents: closing ends the reminder (the sweep does not read every closed incident; the
    Reviews page shows their reviews' state)."""
    days = timedelta(days=sweep.config["review_after_days"])
    reviews = {
        incident_id: (status, owner_id)
        for incident_id, status, owner_id in Review.objects.filter(
            incident__status=Status.RESOLVED, incident__resolved_at__lte=sweep.now - days
        ).values_list("incident_id", "status", "owner_id")
    }
    for f in sweep.incidents.values():
        if f.status != Status.RESOLVED or f.resolved_at is None or f.resolved_at + days > sweep.now:
            continue
        status, owner_id = reviews.get(f.pk, (None, None))
        if status == Review.Status.PUBLISHED:
            continue
        due, window = sweep.effective(f.pk, "review", f.resolved_at + days, sweep.stamp(f.resolved_at))
        if due > sweep.now or not sweep.fresh(f.pk, "review", window):
            continue
        state = phrase(gettext_noop("its review is still a draft") if status else gettext_noop("it has no review yet"))
        yield sweep.Reminder(
            incident_id=f.pk,
            subject="review",
            key="review",
            window=window,
            kind=Kind.REVIEW_DUE,
            to=((f"user:{owner_id}",), ("commander",)) if owner_id else (("commander",),),
            title=Line(gettext_noop("Post-incident review due for {reference}"), reference=f.reference),
            body=Line(
                gettext_noop(
                    "{incident} was resolved at {when}, {days} days ago, and {state}. "
                    "Hold the post-incident review and publish it."
                ),
                incident=f.label,
                when=sweep.when(f.resolved_at),
                days=days.days,
                state=state,
            ),
            due_at=due,
            anchor="review/",
        )


def action_items_due(sweep):
    """An open follow-up action item whose due date has come: remind its owner (else the
    commander) at `action_item_hour` of the due date in the site's time zone; while it stays
    open, again every `action_item_repeat_days` days, to the owner and the commander, at most
    `action_item_max_repeats` reminders in all. Items of closed incidents too. One query."""
    cfg = sweep.config
    hour, every, most = cfg["action_item_hour"], cfg["action_item_repeat_days"], cfg["action_item_max_repeats"]
    items = sweep.action_items.values_list("pk", "incident_id", "title", "owner_id", "due_on", "priority")
    for pk, incident_id, title, owner_id, due_on, priority in items:
        f = sweep.incidents.get(incident_id)
        if f is None:
            continue
        # The latest reminder whose time has come: the n-th is at `hour`, `every` days after
        # the one before (counted in days, so it stays at that hour across DST changes).
        n = min(most, (sweep.today - due_on).days // every + 1)
        at = sweep.at_hour(due_on + timedelta(days=(n - 1) * every), hour)
        if at > sweep.now:  # today is its day, but not its hour yet
            n -= 1
            at = sweep.at_hour(due_on + timedelta(days=(n - 1) * every), hour)
        if n < 1:
            continue
        subject = f"action:{pk}"
        due, window = sweep.effective(incident_id, subject, at, f"{due_on.isoformat()}#{n}")
        if due > sweep.now or not sweep.fresh(incident_id, subject, window):
            continue
        owner = (f"user:{owner_id}",) if owner_id else ()
        what = Line(
            gettext_noop("the follow-up “{title}” ({priority} priority)"),
            title=title,
            priority=choice(ActionItem.Priority, priority, lower=True),
        )
        if n == 1:
            to = (owner, ("commander",)) if owner else (("commander",),)
            title_text = Line(
                gettext_noop("Action item due on {reference}: {title}"), reference=f.reference, title=title
            )
            said = Line(gettext_noop("{item} is due on {day}"), item=what, day=due_on.isoformat())
        else:
            to = ((*owner, "commander"),)
            title_text = Line(
                gettext_noop("Action item overdue on {reference}: {title}"), reference=f.reference, title=title
            )
            said = Line(
                gettext_noop("{item} was due on {day} and is still open (reminder {n} of at most {most})"),
                item=what,
                day=due_on.isoformat(),
                n=n,
                most=most,
            )
        yield sweep.Reminder(
            incident_id=incident_id,
            subject=subject,
            key=subject,
            window=window,
            repeat=n,
            kind=Kind.ACTION_ITEM_DUE,
            to=to,
            title=title_text,
            body=Line(
                gettext_noop(
                    "{incident}: {said}. Mark it done (or won’t do) on the review page, or give it a new due date."
                )
                if owner_id
                else gettext_noop(
                    "{incident}: {said}, and nobody owns it. "
                    "Mark it done (or won’t do) on the review page, or give it a new due date."
                ),
                incident=f.label,
                said=said,
            ),
            due_at=due,
            anchor="review/",
        )
