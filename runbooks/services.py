"""Domain operations on runbooks and their runs on incidents."""

from dataclasses import replace
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, F, Max, Prefetch
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from incidents import access
from incidents.models import Incident, Membership, Service, TimelineEntry
from incidents.services import notify_changed, record_event
from incidents.timeline_text import Line, choice, phrase

from .fileformat import (
    MINUTES_MAX,
    SLUG_MAX,
    SLUG_RE,
    TITLE_MAX,
    RunbookData,
    RunbookFileError,
    StepData,
    parse,
    render,
)
from .models import Runbook, RunbookRun, RunbookStep, RunbookVersion, StepRun

User = get_user_model()


# The library ------------------------------------------------------------------------------


def data_of(version):
    """The RunbookData of a stored version (prefetch steps and services for lists)."""
    return RunbookData(
        slug=version.runbook.slug,
        title=version.title,
        summary=version.summary,
        kinds=list(version.kinds),
        min_severity=version.min_severity,
        services=sorted(s.slug for s in version.services.all()),
        tags=list(version.tags),
        owner=version.owner.get_username() if version.owner else "",
        review_by=version.review_by,
        steps=[
            StepData(
                title=s.title,
                body=s.body,
                role=s.role,
                expected_minutes=s.expected_minutes,
                critical=s.critical,
            )
            for s in version.steps.all()
        ],
    )


# Slugs that name pages under /runbooks/ rather than runbooks.
RESERVED_SLUGS = {"new", "preview", "my-steps"}


def canonical(data):
    """The data as it is stored and exported: titles and bodies trimmed, services sorted
    (a version keeps them as a set), no zero minutes."""
    return replace(
        data,
        title=data.title.strip(),
        services=sorted(set(data.services)),
        steps=[
            replace(s, title=s.title.strip(), body=s.body.strip(), expected_minutes=s.expected_minutes or None)
            for s in data.steps
        ],
    )


def check(data):
    """Everything a runbook must satisfy whichever way it arrives (file, browser, API fields):
    ValidationError keyed by the field at fault. `data` should be canonical()."""
    if not SLUG_RE.match(data.slug) or len(data.slug) > SLUG_MAX:
        raise ValidationError(
            {
                "slug": gettext("Use lowercase letters, digits and dashes, at most {SLUG_MAX} characters.").format(
                    SLUG_MAX=SLUG_MAX
                )
            }
        )
    if data.slug in RESERVED_SLUGS:
        raise ValidationError(
            {"slug": gettext("{slug!r} is a page of the runbook library; choose another slug.").format(slug=data.slug)}
        )
    if not data.title or len(data.title) > TITLE_MAX or "\n" in data.title:
        raise ValidationError(
            {"title": gettext("A title is one line of 1 to {TITLE_MAX} characters.").format(TITLE_MAX=TITLE_MAX)}
        )
    unknown_kinds = [k for k in data.kinds if k not in Incident.Kind.values]
    if unknown_kinds:
        raise ValidationError(
            {
                "kinds": gettext("Unknown incident kind {unknown_kinds!r}; use {choices}.").format(
                    unknown_kinds=unknown_kinds[0], choices=", ".join(Incident.Kind.values)
                )
            }
        )
    if data.min_severity not in Incident.Severity.values or isinstance(data.min_severity, bool):
        raise ValidationError({"min_severity": gettext("Minimum severity must be 1, 2, 3 or 4.")})
    known = set(Service.objects.filter(slug__in=data.services).values_list("slug", flat=True))
    missing = [s for s in data.services if s not in known]
    if missing:
        raise ValidationError({"services": gettext("Unknown service {missing!r}.").format(missing=missing[0])})
    if data.owner and not User.objects.filter(username=data.owner).exists():
        raise ValidationError({"owner": gettext("Unknown user {owner!r}.").format(owner=data.owner)})
    if not data.steps:
        raise ValidationError({"steps": gettext("A runbook needs at least one step.")})
    for number, step in enumerate(data.steps, start=1):
        if not step.title or len(step.title) > TITLE_MAX or "\n" in step.title:
            raise ValidationError(
                {
                    "steps": gettext("Step {number}: a title is one line of 1 to {TITLE_MAX} characters.").format(
                        number=number, TITLE_MAX=TITLE_MAX
                    )
                }
            )
        if step.role not in RunbookStep.Role.values:
            raise ValidationError(
                {
                    "steps": gettext("Step {number}: unknown role {role!r}; use {choices}.").format(
                        number=number, role=step.role, choices=", ".join(RunbookStep.Role.values)
                    )
                }
            )
        if step.expected_minutes is not None and not 0 < step.expected_minutes <= MINUTES_MAX:
            raise ValidationError(
                {
                    "steps": gettext("Step {number}: expected minutes must be from 1 to {MINUTES_MAX}.").format(
                        number=number, MINUTES_MAX=MINUTES_MAX
                    )
                }
            )
    # What is stored must come back unchanged from its file, or export would not round-trip
    # (e.g. a line starting with "## " in a step body would start a new step).
    try:
        again = parse(render(data))
    except RunbookFileError as exc:
        raise ValidationError(
            {"text": gettext("The runbook cannot be written as a file: {reason}").format(reason=exc.reason)}
        ) from None
    if again != data:
        for number, (ours, theirs) in enumerate(zip(data.steps, again.steps, strict=False), start=1):
            if ours != theirs:
                raise ValidationError(
                    {
                        "steps": gettext(
                            "Step {number}: its text would read back differently from a file (a line starting "
                            "with '## ' outside a code block starts a new step)."
                        ).format(number=number)
                    }
                )
        raise ValidationError({"steps": gettext("The runbook would read back differently from a file.")})


@transaction.atomic
def save_runbook(by, data):
    """Create the runbook or add a version. An unchanged runbook makes no new version.

    Returns (version, created) where created says whether a new version was made.
    """
    if by is not None and not access.can_author_runbooks(by):
        raise PermissionDenied(gettext("Only commanders may edit runbooks."))
    data = canonical(data)
    check(data)
    checksum = data.checksum()
    runbook, _ = Runbook.objects.select_for_update().get_or_create(slug=data.slug)
    if runbook.latest_id and runbook.latest.checksum == checksum and not runbook.archived:
        return runbook.latest, False
    number = (runbook.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    owner = User.objects.filter(username=data.owner).first() if data.owner else None
    version = RunbookVersion.objects.create(
        runbook=runbook,
        number=number,
        title=data.title,
        summary=data.summary,
        kinds=data.kinds,
        min_severity=data.min_severity,
        tags=data.tags,
        owner=owner,
        review_by=data.review_by,
        checksum=checksum,
        created_by=by,
    )
    version.services.set(Service.objects.filter(slug__in=data.services))
    RunbookStep.objects.bulk_create(
        RunbookStep(
            version=version,
            position=i,
            title=s.title,
            body=s.body,
            role=s.role,
            expected_minutes=s.expected_minutes,
            critical=s.critical,
        )
        for i, s in enumerate(data.steps, start=1)
    )
    now = timezone.now()
    Runbook.objects.filter(pk=runbook.pk).update(latest=version, updated_at=now, archived=False)
    runbook.latest, runbook.updated_at, runbook.archived = version, now, False
    return version, True


def library():
    """Latest versions of the live runbooks, with what lists need: services prefetched and
    `step_count` (prefetch "steps" as well to render them)."""
    return (
        RunbookVersion.objects.filter(runbook__archived=False, runbook__latest=F("pk"))
        .select_related("runbook", "owner")
        .prefetch_related("services")
        .annotate(step_count=Count("steps"))
        .order_by("title")
    )


# Suggestions and runs --------------------------------------------------------------------


def suggestions(incident, versions=None):
    """Runbooks that apply to the incident and are not attached yet, most specific first.

    A runbook applies when the incident's kind is among its kinds (or it lists none), the
    incident is at its minimum severity or worse, and it shares a service with the incident
    (or lists none). `versions` is the library() when the caller has it already."""
    service_ids = {s.pk for s in incident.services.all()} | set(incident.impacts.values_list("service_id", flat=True))
    attached = set(incident.runbook_runs.values_list("version__runbook_id", flat=True))
    result = []
    for version in library() if versions is None else versions:
        if version.runbook_id in attached or version.min_severity < incident.severity:
            continue
        if version.kinds and incident.kind not in version.kinds:
            continue
        its_services = {s.pk for s in version.services.all()}
        if its_services and not its_services & service_ids:
            continue
        score = (bool(version.kinds), len(its_services & service_ids), -version.min_severity)
        result.append((score, version))
    result.sort(key=lambda pair: pair[0], reverse=True)
    return [version for _, version in result]


@transaction.atomic
def attach(incident, runbook, by):
    """Start a run of the runbook's latest version on the incident; each step becomes a task,
    assigned to whoever fills the step's role on the incident."""
    if not access.can_command(by, incident):
        raise PermissionDenied(gettext("Only the incident's commanders may attach runbooks."))
    # Lock the incident so two clicks on "Attach" make one run, not an IntegrityError.
    if Incident.objects.select_for_update().get(pk=incident.pk).status == Incident.Status.CLOSED:
        raise ValidationError({"runbook": gettext("{reference} is closed.").format(reference=incident.reference)})
    runbook = Runbook.objects.select_related("latest").get(pk=runbook.pk)  # the latest, not a stale copy
    version = runbook.latest
    if version is None or runbook.archived:
        raise ValidationError({"runbook": gettext("Runbook {slug!r} has no usable version.").format(slug=runbook.slug)})
    if RunbookRun.objects.filter(incident=incident, version__runbook=runbook).exists():
        raise ValidationError(
            {
                "runbook": gettext("{title} is already attached to {reference}.").format(
                    title=version.title, reference=incident.reference
                )
            }
        )
    run = RunbookRun.objects.create(incident=incident, version=version, started_by=by)
    holders = {
        m.role: m.user_id
        for m in Membership.objects.filter(incident=incident, role__in=list(RunbookStep.INCIDENT_ROLE.values()))
    }
    StepRun.objects.bulk_create(
        StepRun(
            run=run,
            step=step,
            position=step.position,
            assignee_id=holders.get(RunbookStep.INCIDENT_ROLE.get(step.role)),
        )
        for step in version.steps.all()
    )
    record_event(
        incident,
        by,
        TimelineEntry.Kind.RUNBOOK,
        Line(
            gettext_noop("Runbook attached: {title} (v{version}, {count} steps)."),
            title=version.title,
            version=version.number,
            count=version.steps.count(),
        ),
        {"field": "runbook", "runbook": runbook.slug, "version": version.number, "old": None, "new": "attached"},
    )
    notify_changed(incident, "runbooks")
    return run


NOT_SET = object()


@transaction.atomic
def change_step(step_run, by, *, status=None, note=None, reason=None, assignee=NOT_SET):
    """Move a step (pending, in progress, done, skipped, blocked), assign it, or add a note.
    Skipping and blocking need a reason. Every change is on the timeline."""
    step_run = (
        StepRun.objects.select_for_update(of=("self",))
        .select_related("run__incident", "step", "assignee")
        .get(pk=step_run.pk)
    )
    incident = step_run.run.incident
    if not access.can_log(by, incident):
        raise PermissionDenied(gettext("Only responders and commanders may work on runbook steps."))
    if incident.status == Incident.Status.CLOSED:
        raise ValidationError({"status": gettext("{reference} is closed.").format(reference=incident.reference)})
    now = timezone.now()
    changes = []
    title = step_run.step.title
    if status is not None and status != step_run.status:
        if status not in StepRun.Status.values:
            raise ValidationError(
                {
                    "status": gettext("Unknown status {status!r}; use one of {choices}.").format(
                        status=status, choices=", ".join(StepRun.Status.values)
                    )
                }
            )
        if status not in StepRun.TRANSITIONS[step_run.status]:
            raise ValidationError(
                {
                    "status": gettext("A {lower} step cannot become {status}.").format(
                        lower=step_run.get_status_display().lower(), status=status
                    )
                }
            )
        if status in StepRun.NEEDS_REASON and not (reason or "").strip():
            raise ValidationError({"reason": gettext("Say why the step is {status}.").format(status=status)})
        old = step_run.status
        step_run.status = status
        if status == StepRun.Status.IN_PROGRESS and step_run.started_at is None:
            step_run.started_at = now
        step_run.completed_at = now if status in StepRun.FINISHED else None
        step_run.reason = (reason or "").strip() if status in StepRun.NEEDS_REASON else ""
        why = Line(gettext_noop(" Reason: {reason}"), reason=step_run.reason) if step_run.reason else ""
        line = Line(
            gettext_noop("Step “{title}”: {old} → {new}.{reason}"),
            title=title,
            old=choice(StepRun.Status, old, lower=True),
            new=choice(StepRun.Status, status, lower=True),
            reason=why,
        )
        changes.append((line, "status", old, status))
    if assignee is not NOT_SET and (assignee.pk if assignee else None) != step_run.assignee_id:
        if assignee is not None and not assignee.is_active:
            raise ValidationError({"assignee": gettext("That user is not active.")})
        if assignee is not None and not (
            Incident.objects.visible_to(assignee).filter(pk=incident.pk).exists() and access.can_log(assignee, incident)
        ):
            raise ValidationError(
                {
                    "assignee": gettext("{person} cannot work on {reference}; give them a role first.").format(
                        person=assignee.get_username(), reference=incident.reference
                    )
                }
            )
        old_name = step_run.assignee.get_username() if step_run.assignee else None
        new_name = assignee.get_username() if assignee else None
        step_run.assignee = assignee
        line = Line(
            gettext_noop("Step “{title}” assigned: {old} → {new}."),
            title=title,
            old=old_name or phrase(gettext_noop("nobody")),
            new=new_name or phrase(gettext_noop("nobody")),
        )
        changes.append((line, "assignee", old_name, new_name))
    if note is not None and note.strip() and note.strip() != step_run.note:
        old_note = step_run.note
        step_run.note = note.strip()
        line = Line(gettext_noop("Step “{title}” note: {note}"), title=title, note=step_run.note)
        changes.append((line, "note", old_note, step_run.note))
    if not changes:
        return step_run
    step_run.updated_at = now
    step_run.save()
    for line, fld, old, new in changes:
        record_event(
            incident,
            by,
            TimelineEntry.Kind.RUNBOOK,
            line,
            {"field": f"step.{fld}", "step_run": step_run.pk, "old": old, "new": new},
        )
    notify_changed(incident, "runbooks")
    return step_run


# Assigning many steps at once ----------------------------------------------------------------


def _open_steps(incident):
    return StepRun.objects.filter(run__incident=incident).exclude(status__in=StepRun.FINISHED)


def _workers(incident):
    """The people who work an incident's steps: everyone with a role on it but observers, who
    is active and may log to it, by username."""
    ids = (
        Membership.objects.filter(incident=incident)
        .exclude(role=Membership.Role.OBSERVER)
        .values_list("user_id", flat=True)
    )
    people = User.objects.filter(pk__in=ids, is_active=True).order_by(User.USERNAME_FIELD)
    return [u for u in people if access.can_log(u, incident)]


@transaction.atomic
def assign_open_steps_evenly(incident, by):
    """Give every open, unassigned step of the incident's runbooks to the people on the
    incident, each next step to whoever has the fewest open steps (ties by username), so the
    work is spread evenly. One timeline line says who got how many. Returns {user: count}."""
    if not access.can_command(by, incident):
        raise PermissionDenied(gettext("Only the incident's commanders may assign steps in bulk."))
    Incident.objects.select_for_update().get(pk=incident.pk)  # one bulk assignment at a time
    people = _workers(incident)
    if not people:
        raise ValidationError({"assignee": gettext("Nobody on the incident can work on steps; assign roles first.")})
    steps = list(
        _open_steps(incident)
        .filter(assignee__isnull=True)
        .select_related("run")
        .order_by("run__started_at", "run_id", "position")
    )
    if not steps:
        raise ValidationError({"assignee": gettext("Every open step already has someone.")})
    load = dict.fromkeys((u.pk for u in people), 0)
    for assignee_id, count in (
        _open_steps(incident).filter(assignee_id__in=load).values_list("assignee_id").annotate(n=Count("id"))
    ):
        load[assignee_id] = count
    given = {}
    now = timezone.now()
    for step_run in steps:
        person = min(people, key=lambda u: load[u.pk])  # people are in username order: ties go to the first
        step_run.assignee = person
        step_run.updated_at = now
        load[person.pk] += 1
        given[person] = given.get(person, 0) + 1
    StepRun.objects.bulk_update(steps, ["assignee", "updated_at"])
    shares = [f"{u.get_username()} {n}" for u, n in sorted(given.items(), key=lambda i: i[0].get_username())]
    record_event(
        incident,
        by,
        TimelineEntry.Kind.RUNBOOK,
        Line(gettext_noop("Open steps assigned evenly ({count}): {shares}."), count=len(steps), shares=shares),
        {
            "field": "step.assignee",
            "old": None,
            "new": {u.get_username(): n for u, n in given.items()},
            "step_runs": [s.pk for s in steps],
        },
    )
    notify_changed(incident, "runbooks")
    return given


def handover_offer(incident):
    """After command changed hands: (outgoing commander, new commander, their open steps) when
    the one who handed over still holds open steps; else None. Read from the last handover on
    the timeline."""
    entry = (
        incident.timeline.filter(kind=TimelineEntry.Kind.ROLE, data__field="commander")
        .order_by("-occurred_at", "-id")
        .values_list("data", flat=True)
        .first()
    )
    if not entry or not entry.get("old") or not entry.get("new"):
        return None
    names = {entry["old"], entry["new"]}
    users = {u.get_username(): u for u in User.objects.filter(**{f"{User.USERNAME_FIELD}__in": names})}
    old, new = users.get(entry["old"]), users.get(entry["new"])
    if old is None or new is None:
        return None
    count = _open_steps(incident).filter(assignee=old).count()
    return (old, new, count) if count else None


@transaction.atomic
def move_open_steps(incident, from_user, to_user, by):
    """Move every open step of `from_user` on the incident to `to_user` (after a handover, the
    old commander's steps to the new one), with one timeline line. Returns how many moved."""
    if not access.can_command(by, incident):
        raise PermissionDenied(gettext("Only the incident's commanders may move steps in bulk."))
    if from_user == to_user:
        raise ValidationError({"assignee": gettext("Choose someone else to move the steps to.")})
    if to_user not in _workers(incident):
        raise ValidationError(
            {
                "assignee": gettext("{person} cannot work on {reference}; give them a role first.").format(
                    person=to_user.get_username(), reference=incident.reference
                )
            }
        )
    Incident.objects.select_for_update().get(pk=incident.pk)
    steps = list(_open_steps(incident).filter(assignee=from_user))
    if not steps:
        raise ValidationError(
            {"assignee": gettext("{person} has no open steps.").format(person=from_user.get_username())}
        )
    StepRun.objects.filter(pk__in=[s.pk for s in steps]).update(assignee=to_user, updated_at=timezone.now())
    record_event(
        incident,
        by,
        TimelineEntry.Kind.RUNBOOK,
        Line(
            gettext_noop("{count} open steps moved: {old} → {new}."),
            count=len(steps),
            old=from_user.get_username(),
            new=to_user.get_username(),
        ),
        {
            "field": "step.assignee",
            "old": from_user.get_username(),
            "new": to_user.get_username(),
            "step_runs": [s.pk for s in steps],
        },
    )
    notify_changed(incident, "runbooks")
    return len(steps)


# Progress ------------------------------------------------------------------------------------


def runs_for(incident):
    return (
        incident.runbook_runs.select_related("version__runbook", "started_by")
        .prefetch_related(
            Prefetch(
                "step_runs",
                queryset=StepRun.objects.select_related("step", "assignee").order_by("position"),
            )
        )
        .order_by("started_at", "id")
    )


def step_due_at(run_started_at, elapsed_minutes, started_at, minutes):
    """When a step with expected `minutes` is due: that long after it was started, or, not
    started yet, when the expected minutes of the steps up to it (`elapsed_minutes`) have
    passed since the run started. (The war-room panel and the overdue-step reminder agree.)"""
    if started_at:
        return started_at + timedelta(minutes=minutes)
    return run_started_at + timedelta(minutes=elapsed_minutes)


def progress(run, now=None):
    """done / total, critical steps outstanding, overdue steps, from prefetched step runs.

    A step is due when the expected minutes of the steps up to it have passed since the run
    started (or its own minutes since it was started)."""
    now = now or timezone.now()
    steps = list(run.step_runs.all())
    elapsed = 0
    overdue = []
    for sr in steps:
        minutes = sr.step.expected_minutes or 0
        elapsed += minutes
        if sr.is_finished or not minutes:
            sr.due_at = None
            sr.overdue = False
            continue
        sr.due_at = step_due_at(run.started_at, elapsed, sr.started_at, minutes)
        sr.overdue = sr.due_at < now
        if sr.overdue:
            overdue.append(sr)
    done = sum(1 for sr in steps if sr.is_finished)
    return {
        "done": done,
        "total": len(steps),
        "critical_open": sum(1 for sr in steps if sr.step.critical and not sr.is_finished),
        "overdue": len(overdue),
        "blocked": sum(1 for sr in steps if sr.status == StepRun.Status.BLOCKED),
        "percent": int(100 * done / len(steps)) if steps else 100,
    }


def my_steps(user):
    """Open steps assigned to the user on open incidents they may see."""
    visible = Incident.objects.visible_to(user).filter(status__in=Incident.OPEN_STATUSES)
    return (
        StepRun.objects.filter(assignee=user, run__incident__in=visible)
        .exclude(status__in=StepRun.FINISHED)
        .select_related("step", "run__incident", "run__version")
        .order_by("run__incident__severity", "run__incident_id", "run_id", "position")
    )
