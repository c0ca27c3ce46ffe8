"""The runbook reminder: a step past its due time reminds its assignee (or the commander when
nobody has it), and, still open after a grace, the commander. Named in
settings.WARROOM_REMINDER_RULES; the sweep lives in incidents.reminders.sweep."""

from datetime import timedelta

from django.utils.translation import gettext_noop

from incidents.models import Incident, UserNotification
from incidents.reminders.sweep import Reminder, stamp, when
from incidents.timeline_text import Line

from .models import RunbookRun, RunbookStep, StepRun
from .services import step_due_at

Kind = UserNotification.Kind


def overdue_steps(sweep):
    """Three queries, whatever the number of incidents: the runs on open incidents, the steps
    of the runbook versions they use, and their step runs in run order (a step's due time
    counts the expected minutes of the steps before it: runbooks.services.step_due_at). Times
    and titles are read once per run and per step, not once per step run."""
    grace = sweep.minutes("step_escalation_minutes")
    live = {"incident__status__in": Incident.OPEN_STATUSES}
    open_runs = RunbookRun.objects.filter(**live)
    runs = {pk: (incident, started) for pk, incident, started in open_runs.values_list("pk", "incident", "started_at")}
    steps = {
        pk: (minutes, title)
        for pk, minutes, title in RunbookStep.objects.filter(version__runs__in=open_runs)
        .distinct()
        .values_list("pk", "expected_minutes", "title")
    }
    rows = (
        StepRun.objects.filter(run__in=open_runs)
        .order_by("run_id", "position")
        .values_list("pk", "run_id", "position", "status", "assignee_id", "started_at", "step_id")
    )
    current, elapsed = None, 0
    for pk, run_id, position, status, assignee_id, started_at, step_id in rows:
        if run_id != current:
            current, elapsed = run_id, 0
        minutes, title = steps.get(step_id, (None, ""))
        elapsed += minutes or 0
        if not minutes or status in StepRun.FINISHED or run_id not in runs:
            continue
        incident_id, run_started_at = runs[run_id]
        due = step_due_at(run_started_at, elapsed, started_at, minutes)
        if due > sweep.now:
            continue
        f = sweep.incidents.get(incident_id)
        if f is None:
            continue
        subject = f"step:{pk}"
        due, window = sweep.effective(incident_id, subject, due, stamp(due))
        if due > sweep.now:
            continue
        what = Line(gettext_noop("step {position} “{title}”"), position=position, title=title)
        if sweep.fresh(incident_id, subject, window):
            yield Reminder(
                incident_id=incident_id,
                subject=subject,
                key=subject,
                window=window,
                kind=Kind.STEP_OVERDUE,
                to=((f"user:{assignee_id}",), ("commander",)) if assignee_id else (("commander",),),
                title=Line(
                    gettext_noop("Runbook step overdue on {reference}: {title}"), reference=f.reference, title=title
                ),
                body=Line(
                    gettext_noop("{incident}: {step} was due at {when} ({minutes} min expected).")
                    if assignee_id
                    else gettext_noop(
                        "{incident}: {step} was due at {when} ({minutes} min expected), and nobody is assigned to it."
                    ),
                    incident=f.label,
                    step=what,
                    when=when(due),
                    minutes=minutes,
                ),
                due_at=due,
                anchor="#runbooks-panel",
            )
        if due + grace <= sweep.now and sweep.fresh(incident_id, f"{subject}.escalate", window):
            late = int(grace / timedelta(minutes=1))
            yield Reminder(
                incident_id=incident_id,
                subject=subject,
                key=f"{subject}.escalate",
                window=window,
                kind=Kind.STEP_ESCALATED,
                to=(("commander",),),
                title=Line(
                    gettext_noop("Runbook step still overdue on {reference}: {title}"),
                    reference=f.reference,
                    title=title,
                ),
                body=Line(
                    gettext_noop("{incident}: {step} is {late} min past its due time ({when}) and still open."),
                    incident=f.label,
                    step=what,
                    late=late,
                    when=when(due),
                ),
                due_at=due + grace,
                anchor="#runbooks-panel",
            )
