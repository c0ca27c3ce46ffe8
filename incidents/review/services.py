"""Post-incident review: the review document drafted from the timeline, the incident's metrics,
and the follow-up action items that come out of it.

Like incidents.services, every operation checks the actor's permission (PermissionDenied),
validates its input (ValidationError keyed by the field at fault), changes rows in one
transaction and writes one timeline entry, so the incident's record shows when the review was
started and published and every action item's changes with old and new values.

Who may do what:
- anyone who can see the incident reads its review, metrics and action items;
- people who can work on the incident (access.can_edit_review) start and edit the review and add and
  change action items; an action item's owner may also change it (mark it done);
- its commanders and the review's owner (access.can_publish_review) publish and reopen the review.

An action item's owner must be able to see the incident: someone who cannot see a confidential
incident would never hear of a follow-up on it.
"""

from dataclasses import dataclass
from datetime import date, datetime

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import Case, F, IntegerField, Value, When
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from incidents import access
from incidents.durations import duration, shown_duration, zoned
from incidents.models import ActionItem, Communication, Impact, Incident, Membership, Mitigation, Review, TimelineEntry
from incidents.services import change_data, describe_changes, in_site_language, notify_changed, record_event
from incidents.timeline_text import Line, phrase

User = get_user_model()


class StaleReview(ValidationError):
    """The review changed since the editor loaded it: their edit is refused, not merged."""


# Metrics ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Metric:
    """A span between two of the incident's times. `duration` is None when either time is
    missing, or when the end comes before the start (then `problem` says so)."""

    key: str
    label: str
    start_field: str
    end_field: str
    start: datetime | None
    end: datetime | None

    @property
    def duration(self):
        if self.start is None or self.end is None or self.end < self.start:
            return None
        return self.end - self.start

    @property
    def seconds(self):
        return int(self.duration.total_seconds()) if self.duration is not None else None

    @property
    def problem(self):
        if self.start is not None and self.end is not None and self.end < self.start:
            return "ends before it starts: correct the incident's times"
        return ""

    @property
    def shown(self):
        return shown_duration(self.duration)


# (key, label, from, to). Impact is felt from `started_at`, so mitigating and resolving count
# from there; acknowledging counts from the declaration, as the acknowledgement page does.
METRICS = (
    ("detect", "Time to detect", "started_at", "detected_at"),
    ("acknowledge", "Time to acknowledge", "declared_at", "acknowledged_at"),
    ("mitigate", "Time to mitigate", "started_at", "mitigated_at"),
    ("resolve", "Time to resolve", "started_at", "resolved_at"),
)
METRIC_KEYS = tuple(key for key, *_ in METRICS)
TIME_LABELS = {
    "started_at": "impact started",
    "detected_at": "detected",
    "declared_at": "declared",
    "acknowledged_at": "acknowledged",
    "mitigated_at": "mitigated",
    "resolved_at": "resolved",
}


def metrics(incident):
    """The incident's metrics, computed from its times (no query)."""
    return [
        Metric(key, label, start, end, getattr(incident, start), getattr(incident, end))
        for key, label, start, end in METRICS
    ]


def metric_rows(incident, labels=None, time_labels=None):
    """The incident's metrics as rows, for the review pages and the API alike. Labels are the
    English ones of the timeline unless the caller gives its own (the pages give them in the
    viewer's language); `duration` is None where nothing can be measured, `shown` then "—"."""
    labels = labels or {key: label for key, label, *_ in METRICS}
    time_labels = time_labels or TIME_LABELS
    return [
        {
            "key": m.key,
            "label": labels[m.key],
            "from": m.start_field,
            "to": m.end_field,
            "from_label": time_labels[m.start_field],
            "to_label": time_labels[m.end_field],
            "started_at": m.start,
            "ended_at": m.end,
            "seconds": m.seconds,
            "duration": m.shown if m.duration is not None else None,
            "shown": m.shown,
            "problem": m.problem,
            "missing": m.duration is None and not m.problem,
        }
        for m in metrics(incident)
    ]


def _median(values):
    values = sorted(values)
    if not values:
        return None
    middle = len(values) // 2
    if len(values) % 2:
        return values[middle]
    return (values[middle - 1] + values[middle]) / 2


def summary(incidents):
    """Per severity, how many incidents and the median of each metric, over `incidents` (an
    iterable of objects with the incident's times): [{"severity", "count", "medians": {key:
    timedelta or None}}], one row per severity present, worst first."""
    by_severity = {}
    for incident in incidents:
        by_severity.setdefault(incident.severity, []).append(metrics(incident))
    rows = []
    for severity in sorted(by_severity):
        measured = by_severity[severity]
        medians = {}
        for index, key in enumerate(METRIC_KEYS):
            spans = [m[index].duration for m in measured if m[index].duration is not None]
            medians[key] = _median(spans)
        rows.append({"severity": severity, "count": len(measured), "medians": medians})
    return rows


# Action items in order ----------------------------------------------------------------------

OPEN_RANK = Case(When(status=ActionItem.Status.OPEN, then=Value(0)), default=Value(1), output_field=IntegerField())
PRIORITY_RANK = Case(
    When(priority=ActionItem.Priority.HIGH, then=Value(0)),
    When(priority=ActionItem.Priority.MEDIUM, then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)


def open_first(items):
    """Open items first, soonest due first (undated last), then by priority: the order of the
    review page and of the API's lists."""
    return items.order_by(OPEN_RANK, F("due_on").asc(nulls_last=True), PRIORITY_RANK, "id")


# The draft ----------------------------------------------------------------------------------


def _at(moment):
    return zoned(moment) if moment else "not recorded"


def _one_line(text, length=300):
    line = " ".join((text or "").split())
    return line if len(line) <= length else line[: length - 1] + "…"


def draft(incident):
    """The first version of the review, in Markdown, from the incident's record: what is known
    (summary, impact, metrics, timeline, mitigations, published updates, people) is filled in;
    what needs the team's judgement (causes, lessons) is left as headed gaps. Six queries."""
    entries = list(incident.timeline.select_related("author").order_by("occurred_at", "id"))
    impacts = list(Impact.objects.filter(incident=incident).select_related("service").order_by("started_at", "id"))
    mitigations = list(Mitigation.objects.filter(incident=incident).order_by("started_at", "id"))
    published = list(
        Communication.objects.filter(incident=incident, status=Communication.Status.PUBLISHED)
        .order_by("published_at", "id")
        .values_list("audience", "published_at")
    )
    people = list(Membership.objects.filter(incident=incident).select_related("user").order_by("role", "assigned_at"))
    audiences = dict(Communication.Audience.choices)
    roles = dict(Membership.Role.choices)

    lines = [
        f"# Post-incident review: {incident.reference} {incident.title}",
        "",
        f"SEV{incident.severity} · {incident.get_kind_display()} · "
        f"{'confidential' if incident.confidential else 'not confidential'} · times in "
        f"{timezone.get_current_timezone_name()}",
        "",
        "## Summary",
        "",
        incident.summary.strip() or "_What happened, to whom, for how long, in two or three sentences._",
        "",
        "## Impact",
        "",
    ]
    if impacts:
        for impact in impacts:
            regions = f" in {', '.join(impact.regions)}" if impact.regions else ""
            span = f"from {_at(impact.started_at)}"
            span += (
                f" to {_at(impact.ended_at)} ({duration(impact.ended_at - impact.started_at)})"
                if impact.ended_at
                else ", not ended"
            )
            lines.append(f"- {impact.service.name}: {impact.get_level_display().lower()}{regions}, {span}")
    else:
        lines.append("_No affected services were recorded. Who was affected, and how?_")
    lines += ["", "## Metrics", "", "| Measure | From | To | Time |", "| --- | --- | --- | --- |"]
    for m in metrics(incident):
        shown = m.shown if not m.problem else f"— ({m.problem})"
        start, end = f"{TIME_LABELS[m.start_field]} {_at(m.start)}", f"{TIME_LABELS[m.end_field]} {_at(m.end)}"
        lines.append(f"| {m.label} | {start} | {end} | {shown} |")
    lines += ["", "## Timeline", ""]
    for entry in entries:
        who = f" ({entry.author.get_username()})" if entry.author else ""
        lines.append(f"- **{_at(entry.occurred_at)}** {_one_line(entry.text)}{who}")
    if mitigations:
        lines += ["", "## Mitigations", ""]
        for mitigation in mitigations:
            state = f"lifted {_at(mitigation.ended_at)}" if mitigation.ended_at else "still in force"
            lines.append(f"- {mitigation.title}: from {_at(mitigation.started_at)}, {state}")
    lines += ["", "## Communication", ""]
    if published:
        for audience, published_at in published:
            lines.append(f"- {_at(published_at)}: update to {str(audiences.get(audience, audience)).lower()}")
    else:
        lines.append("_Nothing was published. Should it have been?_")
    if people:
        lines += ["", "## People", ""]
        for membership in people:
            lines.append(f"- {roles.get(membership.role, membership.role)}: {membership.user.get_username()}")
    lines += [
        "",
        "## Causes and contributing factors",
        "",
        "_What made this possible, and what made it worse? Look for conditions, not culprits._",
        "",
        "## What went well",
        "",
        "## What went badly",
        "",
        "## Where we got lucky",
        "",
        "## Action items",
        "",
        "_Tracked as action items below, each with an owner and a due date._",
        "",
    ]
    return "\n".join(lines)


def export(review, items):
    """The review as one Markdown document to file elsewhere (a wiki, the tracker): its text,
    then the action items as they stand now, each with owner, due date, priority and ticket."""
    statuses = {ActionItem.Status.OPEN: " ", ActionItem.Status.DONE: "x", ActionItem.Status.WONT_DO: "-"}
    lines = [review.body.rstrip(), "", f"## Action items as of {_at(timezone.now())}", ""]
    for item in items:
        facts = [f"owner {item.owner.get_username()}" if item.owner else "no owner"]
        if item.due_on:
            facts.append(f"due {item.due_on.isoformat()}")
        facts.append(f"{item.priority} priority")
        if item.status == ActionItem.Status.WONT_DO:
            facts.append("won’t do")
        ticket = f" ({item.tracker_url})" if item.tracker_url else ""
        lines.append(f"- [{statuses[item.status]}] {_one_line(item.title)}: {', '.join(facts)}{ticket}")
    if not items:
        lines.append("_None._")
    state = f"published {_at(review.published_at)}" if review.published_at else "draft"
    source = f"{review.incident.reference}, review {state}, version {review.version}"
    lines += ["", f"_Exported from Warroom: {source}._", ""]
    return "\n".join(lines)


# The review ---------------------------------------------------------------------------------

MAX_BODY = 200_000


def _text(field, value, *, required=False, limit=None, message=None):
    if value is None:
        value = ""
    if not isinstance(value, str) or "\x00" in value:
        raise ValidationError({field: gettext("Give text.")})
    value = value.strip()
    if required and not value:
        raise ValidationError({field: message or "This cannot be empty."})
    if limit is not None and len(value) > limit:
        raise ValidationError({field: gettext("Keep this under {limit:,} characters.").format(limit=limit)})
    return value


def _check_person(field, user, incident):
    if user is None:
        return None
    if not isinstance(user, User):
        raise ValidationError({field: gettext("Give a user.")})
    if not user.is_active:
        raise ValidationError({field: gettext("{person} is deactivated.").format(person=user.get_username())})
    if not Incident.objects.visible_to(user).filter(pk=incident.pk).exists():
        raise ValidationError(
            {
                field: gettext("{person} cannot see this confidential incident: add them to it first.").format(
                    person=user.get_username()
                )
            }
        )
    return user


def _check_when(field, value):
    if value is not None and not (isinstance(value, datetime) and timezone.is_aware(value)):
        raise ValidationError({field: gettext("Give a date and time with its time zone.")})
    # Far-off years overflow the database's timestamps once converted to UTC or shown east of it.
    if value is not None and not 1900 <= value.year <= 2999:
        raise ValidationError({field: gettext("Give a date between the years 1900 and 2999.")})
    return value


def get_review(incident):
    """The incident's review, or None (one query)."""
    return Review.objects.filter(incident=incident).select_related("owner", "updated_by").first()


@in_site_language
@transaction.atomic
def start_review(incident, by, *, owner=None, meeting_at=None):
    """Start the review of a resolved (or closed) incident, drafted from its record."""
    access.require(
        access.can_edit_review(by, incident),
        gettext("Only the incident's responders and commanders may start its review."),
    )
    incident = Incident.objects.select_for_update().get(pk=incident.pk)
    if incident.status not in (Incident.Status.RESOLVED, Incident.Status.CLOSED):
        raise ValidationError(
            {
                "incident": gettext(
                    "Start the review once the incident is resolved: it is drafted from the whole timeline."
                )
            }
        )
    if Review.objects.filter(incident=incident).exists():
        raise ValidationError({"incident": gettext("This incident's review has been started already.")})
    owner = _check_person("owner", owner, incident)
    meeting_at = _check_when("meeting_at", meeting_at)
    now = timezone.now()
    with timezone.override(timezone.get_default_timezone()):  # one zone for the whole team
        body = draft(incident)
    review = Review.objects.create(
        incident=incident,
        owner=owner,
        meeting_at=meeting_at,
        body=body,
        created_by=by,
        created_at=now,
        updated_by=by,
        updated_at=now,
    )
    who = Line(gettext_noop(", run by {person}"), person=owner.get_username()) if owner else ""
    record_event(
        incident,
        by,
        TimelineEntry.Kind.REVIEW,
        Line(gettext_noop("Post-incident review started{owner}, drafted from the timeline."), owner=who),
        {"field": "review", "old": None, "new": Review.Status.DRAFT, "review": review.pk},
    )
    notify_changed(incident, "review")
    return review


REVIEW_FIELDS = ("body", "owner", "meeting_at")


def check_review(review, *, version, **changes):
    """Validate an edit of the review as update_review does, saving nothing: the checked values,
    or ValidationError keyed by the field at fault (StaleReview when someone saved since
    `version`), so a form can show the reason by its field."""
    unknown = set(changes) - set(REVIEW_FIELDS)
    if unknown:
        raise ValidationError({sorted(unknown)[0]: gettext("This cannot be changed here.")})
    try:
        version = int(version)
    except (TypeError, ValueError):
        raise ValidationError({"version": gettext("Give the version of the review you edited.")}) from None
    if version != review.version:
        who = review.updated_by.get_username() if review.updated_by_id and review.updated_by else "someone"
        raise StaleReview(
            {
                "version": f"{who} changed the review at {_at(review.updated_at)}, after you opened it. "
                "Your text was not saved: copy it, reload, and apply it again."
            }
        )
    if review.status != Review.Status.DRAFT:
        raise ValidationError({"status": gettext("The review is published: reopen it to edit it.")})
    values = {}
    if "body" in changes:
        values["body"] = _text("body", changes["body"], limit=MAX_BODY)
    if "owner" in changes:
        values["owner"] = _check_person("owner", changes["owner"], review.incident)
    if "meeting_at" in changes:
        values["meeting_at"] = _check_when("meeting_at", changes["meeting_at"])
    return values


@transaction.atomic
def update_review(review, by, *, version, **changes):
    """Change the review's text, owner or meeting time. `version` is the version the editor
    loaded: if someone else saved since, StaleReview is raised and nothing changes."""
    incident = review.incident
    access.require(
        access.can_edit_review(by, incident),
        gettext("Only the incident's responders and commanders may edit its review."),
    )
    unknown = set(changes) - set(REVIEW_FIELDS)
    if unknown:
        raise ValidationError({sorted(unknown)[0]: gettext("This cannot be changed here.")})
    current = Review.objects.select_for_update(of=("self",)).select_related("owner", "updated_by").get(pk=review.pk)
    current.incident = incident  # already loaded: the owner check reads it
    values = check_review(current, version=version, **changes)
    changed = [(f, getattr(current, f), v) for f, v in values.items() if getattr(current, f) != v]
    if not changed:
        return current
    for field, _old, new in changed:
        setattr(current, field, new)
    current.version += 1
    current.updated_by = by
    current.updated_at = timezone.now()
    current.save()
    # The text is a document in the making: the timeline notes who changed what, not the text.
    logged = [(f, "…" if f == "body" else old, "…" if f == "body" else new) for f, old, new in changed]
    record_event(
        incident,
        by,
        TimelineEntry.Kind.REVIEW,
        Line(gettext_noop("Review edited: {changes}"), changes=describe_changes(logged, REVIEW_LABELS)),
        change_data("review", logged, review=current.pk),
    )
    notify_changed(incident, "review")
    return current


def _move(review, status, by):
    """Publish or reopen (the caller holds the row lock): a new version, so an editor who
    loaded the other state cannot save over it."""
    now = timezone.now()
    review.status = status
    review.published_at = now if status == Review.Status.PUBLISHED else None
    review.version += 1
    review.updated_by = by
    review.updated_at = now
    review.save()


@transaction.atomic
def publish_review(review, by):
    access.require(
        access.can_publish_review(by, review),
        gettext("Only the incident's commanders and the review's owner may publish it."),
    )
    current = Review.objects.select_for_update().get(pk=review.pk)
    if current.status == Review.Status.PUBLISHED:
        return current
    if not current.body.strip():
        raise ValidationError({"body": gettext("Write the review before publishing it.")})
    _move(current, Review.Status.PUBLISHED, by)
    open_items = ActionItem.objects.filter(incident_id=current.incident_id, status=ActionItem.Status.OPEN).count()
    record_event(
        review.incident,
        by,
        TimelineEntry.Kind.REVIEW,
        Line(
            gettext_noop("Post-incident review published ({count} open action item).")
            if open_items == 1
            else gettext_noop("Post-incident review published ({count} open action items)."),
            count=open_items,
        ),
        {"field": "review", "old": Review.Status.DRAFT, "new": Review.Status.PUBLISHED, "review": current.pk},
    )
    notify_changed(review.incident, "review")
    return current


@transaction.atomic
def reopen_review(review, by, reason=""):
    access.require(
        access.can_publish_review(by, review),
        gettext("Only the incident's commanders and the review's owner may reopen it."),
    )
    reason = _text("reason", reason, required=True, limit=1000, message=gettext("Say why the review is reopened."))
    current = Review.objects.select_for_update().get(pk=review.pk)
    if current.status == Review.Status.DRAFT:
        return current
    _move(current, Review.Status.DRAFT, by)
    record_event(
        review.incident,
        by,
        TimelineEntry.Kind.REVIEW,
        Line(gettext_noop("Post-incident review reopened for editing. Reason: {reason}"), reason=reason),
        {
            "field": "review",
            "old": Review.Status.PUBLISHED,
            "new": Review.Status.DRAFT,
            "review": current.pk,
            "reason": reason,
        },
    )
    notify_changed(review.incident, "review")
    return current


# Action items -------------------------------------------------------------------------------

ITEM_FIELDS = ("title", "description", "owner", "due_on", "priority", "tracker_url", "status")
# The review's fields in the timeline line of an edit.
REVIEW_LABELS = {"body": gettext_noop("text"), "owner": gettext_noop("run by"), "meeting_at": gettext_noop("meeting")}
ITEM_LABELS = {
    "title": gettext_noop("title"),
    "description": gettext_noop("description"),
    "owner": gettext_noop("owner"),
    "due_on": gettext_noop("due"),
    "priority": gettext_noop("priority"),
    "tracker_url": gettext_noop("ticket"),
    "status": gettext_noop("status"),
}
_url = URLValidator(schemes=["http", "https"])


def _check_item(values, incident, today, *, new, owner_changed=True):
    values["title"] = _text(
        "title",
        values["title"],
        required=True,
        limit=200,
        message=gettext("Say what must be done, in a few words."),
    )
    values["description"] = _text("description", values["description"], limit=20_000)
    if owner_changed:  # an owner since deactivated or taken off the incident does not block marking it done
        values["owner"] = _check_person("owner", values["owner"], incident)
    due = values["due_on"]
    if due is not None:
        if isinstance(due, datetime) or not isinstance(due, date):
            raise ValidationError({"due_on": gettext("Give a date (YYYY-MM-DD).")})
        if new and due < today:
            raise ValidationError({"due_on": gettext("A new action item cannot be due in the past.")})
    if values["priority"] not in ActionItem.Priority.values:
        raise ValidationError(
            {"priority": gettext("Choose one of: {choices}.").format(choices=", ".join(ActionItem.Priority.values))}
        )
    if values["status"] not in ActionItem.Status.values:
        raise ValidationError(
            {"status": gettext("Choose one of: {choices}.").format(choices=", ".join(ActionItem.Status.values))}
        )
    url = _text("tracker_url", values["tracker_url"], limit=500)
    if url:
        try:
            _url(url)
        except ValidationError:
            raise ValidationError({"tracker_url": gettext("Give the ticket's http(s) address.")}) from None
    values["tracker_url"] = url
    return values


def check_action_item(incident, item=None, **changes):
    """Validate a new action item's values (no `item`) or a change to `item` as add_action_item
    and update_action_item do, saving nothing: all of its checked values, or ValidationError
    keyed by the field at fault."""
    unknown = set(changes) - set(ITEM_FIELDS)
    if unknown:
        raise ValidationError({sorted(unknown)[0]: gettext("This cannot be changed.")})
    if item is None:
        defaults = {"title": "", "description": "", "owner": None, "due_on": None, "tracker_url": ""}
        values = {**defaults, "priority": ActionItem.Priority.MEDIUM, **changes, "status": ActionItem.Status.OPEN}
        return _check_item(values, incident, ActionItem.today(), new=True)
    values = {f: changes.get(f, getattr(item, f)) for f in ITEM_FIELDS}
    return _check_item(values, incident, ActionItem.today(), new=False, owner_changed=values["owner"] != item.owner)


@transaction.atomic
def add_action_item(
    incident, by, *, title, description="", owner=None, due_on=None, priority=ActionItem.Priority.MEDIUM, tracker_url=""
):
    access.require(
        access.can_edit_review(by, incident),
        gettext("Only the incident's responders and commanders may add action items."),
    )
    now = timezone.now()
    values = _check_item(
        {
            "title": title,
            "description": description,
            "owner": owner,
            "due_on": due_on,
            "priority": priority,
            "tracker_url": tracker_url,
            "status": ActionItem.Status.OPEN,
        },
        incident,
        ActionItem.today(),
        new=True,
    )
    item = ActionItem.objects.create(incident=incident, created_by=by, created_at=now, updated_at=now, **values)
    changes = [(f, None, values[f]) for f in ITEM_FIELDS if f != "status" and values[f] not in (None, "")]
    if item.owner:
        owner_text = Line(gettext_noop(", owner {person}"), person=item.owner.get_username())
    else:
        owner_text = phrase(gettext_noop(", no owner yet"))
    due_text = Line(gettext_noop(", due {day}"), day=item.due_on.isoformat()) if item.due_on else ""
    record_event(
        incident,
        by,
        TimelineEntry.Kind.REVIEW,
        Line(
            gettext_noop("Action item added: **{title}**{owner}{due}."),
            title=item.title,
            owner=owner_text,
            due=due_text,
        ),
        change_data("action_item", changes, action_item=item.pk, title=item.title),
    )
    notify_changed(incident, "action_items")
    return item


@transaction.atomic
def update_action_item(item, by, **changes):
    """Change an action item; `status` done or wont_do completes it, open reopens it."""
    access.require(
        access.can_change_action_item(by, item),
        gettext("Only the incident's responders and commanders and the item's owner may change it."),
    )
    unknown = set(changes) - set(ITEM_FIELDS)
    if unknown:
        raise ValidationError({sorted(unknown)[0]: gettext("This cannot be changed.")})
    if set(changes) - {"status"} and not access.can_edit_action_item(by, item):
        raise PermissionDenied(
            gettext(
                "As the item's owner you may mark it done or reopen it; the incident's responders and "
                "commanders change the rest."
            )
        )
    current = ActionItem.objects.select_for_update(of=("self",)).select_related("owner", "incident").get(pk=item.pk)
    now = timezone.now()
    values = check_action_item(current.incident, current, **changes)
    changed = [(f, getattr(current, f), values[f]) for f in ITEM_FIELDS if getattr(current, f) != values[f]]
    if not changed:
        return current
    for field, _old, new in changed:
        setattr(current, field, new)
    status_changed = any(f == "status" for f, _o, _n in changed)
    if status_changed:
        done = current.status != ActionItem.Status.OPEN
        current.completed_at = now if done else None
        current.completed_by = by if done else None
    current.updated_at = now
    current.save()
    if status_changed and len(changed) == 1:
        msg = {
            ActionItem.Status.DONE: gettext_noop("Action item done: **{title}**."),
            ActionItem.Status.WONT_DO: gettext_noop("Action item dropped (won’t do): **{title}**."),
            ActionItem.Status.OPEN: gettext_noop("Action item reopened: **{title}**."),
        }[current.status]
        body = Line(msg, title=current.title)
    else:
        described = describe_changes(changed, ITEM_LABELS, skip=("description",)) or phrase(
            gettext_noop("description edited")
        )
        body = Line(gettext_noop("Action item changed: **{title}**: {changes}"), title=current.title, changes=described)
    record_event(
        current.incident,
        by,
        TimelineEntry.Kind.REVIEW,
        body,
        change_data("action_item", changed, action_item=current.pk, title=current.title),
    )
    notify_changed(current.incident, "action_items")
    return current


def action_items_visible_to(user):
    """Action items of the incidents this user may see: the one access rule for the
    follow-ups list and the API."""
    return ActionItem.objects.filter(incident__in=Incident.objects.visible_to(user))
