"""Reminders and escalation: which reminders are due now, to whom, and in which window.

The sweep (`sweep()`, Celery beat every 30 s: incidents.tasks.sweep_reminders) asks each rule
named in settings.WARROOM_REMINDER_RULES for the reminders due now. A rule is a function
taking the `Sweep` (the time, the settings, the incidents it looks at, the snoozes) and
yielding `Reminder`s; it reads what it needs in a fixed number of set-based queries, so the
sweep's query count does not grow with the number of incidents, steps or action items.

The sweep looks at the incidents that are not closed, and at closed ones only for their
follow-up action items that are due (reviews and follow-ups happen after closing).

A reminder is identified by (incident, key, window). `key` names what it is about ("update",
"update.escalate", "step:12"...), `window` the occurrence: the time of the last public update
for the update cadence, the declaration time and repeat number for the acknowledgement page,
the due time for a step, the due date and repeat number for an action item. The sweep
inserts one `ReminderLedger` row per reminder and sends only those whose row it inserted, in
the same transaction: a reminder goes out once per window however often the sweep runs, and
two sweeps running at once cannot both send it.

Recipients are named by role ("comms_lead"), person ("user:12"), group ("group:oncall") or
group members on the incident ("members-in-group:security"), as alternatives: the first
alternative that names anyone who may hear of the incident wins (the comms lead, else the
commander). Nobody hears of a confidential incident unless they are one of its members.

A snooze holds a reminder's subject back until its end; a reminder still due then goes out
again, and its escalation counts its grace from the end of the snooze.
"""

import hashlib
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from functools import cache, partial

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import OuterRef, Q, Subquery
from django.urls import reverse
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext, gettext_noop

from incidents import access
from incidents.durations import zoned
from incidents.models import (
    ActionItem,
    Communication,
    Incident,
    Membership,
    ReminderLedger,
    Snooze,
    TimelineEntry,
    UserNotification,
)
from incidents.reminders import delivery as notify
from incidents.services import notify_changed, record_event
from incidents.timeline_text import Line, phrase

User = get_user_model()
Kind = UserNotification.Kind
Status = Incident.Status

DEFAULTS = {
    "update_cadence_minutes": {1: 30, 2: 60, 3: 240},
    "update_escalation_minutes": 10,
    "ack_after_minutes": 5,
    "ack_severities": [1, 2],
    "ack_repeat_minutes": 5,
    "ack_max_repeats": 6,
    "step_escalation_minutes": 15,
    "review_after_days": 5,
    "action_item_hour": 9,
    "action_item_repeat_days": 7,
    "action_item_max_repeats": 4,
    "sweep_max_reminders": 5000,
}
KEY_LENGTH = 120  # ReminderLedger.key and .window


def config():
    return {**DEFAULTS, **getattr(settings, "WARROOM_REMINDERS", {})}


@dataclass(frozen=True)
class Reminder:
    """A reminder due now. `to` is a tuple of recipient alternatives (each a tuple of names:
    a role, "user:<id>", "group:<name>", "members-in-group:<name>"); the first alternative that
    names anyone who may hear of the incident is used."""

    incident_id: int
    subject: str  # what a snooze names: "update", "acknowledge", "step:12", ...
    key: str  # the ledger key: the subject, or e.g. "update.escalate"
    window: str
    kind: str
    to: tuple
    title: str
    body: str
    due_at: datetime
    repeat: int = 1
    anchor: str = ""  # a fragment of the war-room page, e.g. "#runbooks"
    line: dict | None = None  # set by _send from a title or body given as a timeline_text.Line

    @property
    def identity(self):
        return (self.incident_id, _fit(self.key), _fit(self.window))


def _fit(text, length=KEY_LENGTH):
    """Keys and windows name user text (stage names): keep them within the column, uniquely."""
    if len(text) <= length:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return f"{text[: length - 17]}~{digest}"


def stamp(moment):
    """A window's time, to the second, in UTC."""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def when(moment):
    """A time as reminders show it: in the site's time zone (TIME_ZONE; the sweep writes for
    people in any zone, and the inbox shows its own times in the viewer's)."""
    return zoned(moment, "Y-m-d H:i", timezone.get_default_timezone())


@cache
def _detail_path():
    # reverse() once, not once per incident: the sweep may write thousands of reminders.
    return reverse("incidents:detail", args=[987654321]).replace("987654321", "{}")


def incident_url(key):
    return settings.SITE_URL + _detail_path().format(key)


# The sweep's view of the world ------------------------------------------------------------


@dataclass(frozen=True)
class Facts:
    """What the rules need to know of an incident."""

    pk: int
    key: str  # in URLs
    title: str
    severity: int
    status: str
    confidential: bool
    declared_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    last_update: datetime | None  # the last published public update (any audience if confidential)
    update_cadence: int | None = None  # the incident's own cadence in minutes, if it has one

    @property
    def reference(self):
        return f"INC-{self.pk}"

    @property
    def is_open(self):
        return self.status in Incident.OPEN_STATUSES

    @property
    def label(self):
        return f"{self.reference} “{self.title}” (SEV{self.severity})"


def _last_published(audience=None):
    comms = Communication.objects.filter(
        incident=OuterRef("pk"), status=Communication.Status.PUBLISHED, published_at__isnull=False
    )
    if audience:
        comms = comms.filter(audience=audience)
    return Subquery(comms.order_by("-published_at").values("published_at")[:1])


@dataclass
class Sweep:
    """What rules see: the time, the settings, the incidents the sweep looks at and the
    snoozes, each read once per sweep.

    The incidents (`incidents`, by id; `scope`, the same as a queryset for other queries) are
    those not closed (closed incidents get no reminders about the response), and the closed
    ones with an open action item to remind (`action_items`): follow-ups outlive the incident.
    Rules check `Facts.status` or `is_open` for what they are about."""

    now: datetime = field(default_factory=timezone.now)

    def __post_init__(self):
        self.config = config()
        self.zone = timezone.get_default_timezone()
        self.today = self.now.astimezone(self.zone).date()
        # Open action items due by today, back to their last repeat (and a day's grace, should
        # the sweep have been down then): older ones have had all their reminders, and the
        # sweep stays bounded however many forgotten items pile up over the years.
        cfg = self.config
        horizon = max(cfg["action_item_max_repeats"] - 1, 0) * cfg["action_item_repeat_days"] + 1
        self.action_items = ActionItem.objects.filter(
            status=ActionItem.Status.OPEN, due_on__lte=self.today, due_on__gte=self.today - timedelta(days=horizon)
        )
        self.scope = Incident.objects.filter(
            ~Q(status=Status.CLOSED) | Q(pk__in=self.action_items.values("incident_id"))
        ).order_by()
        rows = self.scope.annotate(
            last_public=_last_published(Communication.Audience.STATUS_PAGE),
            last_any=_last_published(),
        ).values_list(
            "pk",
            "key",
            "title",
            "severity",
            "status",
            "confidential",
            "declared_at",
            "acknowledged_at",
            "resolved_at",
            "last_public",
            "last_any",
            "update_cadence_minutes",
        )
        # A confidential incident has no public page: any published communication keeps its cadence.
        self.incidents = {
            row[0]: Facts(*row[:9], last_update=row[10] if row[5] else row[9], update_cadence=row[11]) for row in rows
        }
        # What went out already: rules skip it before writing its text (most of what is due
        # in a sweep was sent by an earlier one). The ledger's unique key still decides when
        # two sweeps race.
        ledger = ReminderLedger.objects.filter(incident__in=self.scope).order_by()
        self.sent = set(ledger.values_list("incident_id", "key", "window"))
        self.snoozes = {}  # (incident id, subject) -> the latest end of a snooze
        live = Snooze.objects.filter(incident__in=self.scope).order_by()
        for incident_id, key, until in live.values_list("incident_id", "key", "until"):
            latest = self.snoozes.get((incident_id, key))
            if latest is None or until > latest:
                self.snoozes[(incident_id, key)] = until

    def open_incidents(self):
        return (f for f in self.incidents.values() if f.is_open)

    def fresh(self, incident_id, key, window):
        """Whether this reminder has not gone out yet (as far as the ledger read said)."""
        return (incident_id, _fit(key), _fit(window)) not in self.sent

    def effective(self, incident_id, subject, due_at, window, again=True):
        """(due time, window) after snoozes: a snooze ending after `due_at` moves the reminder
        to its end; with `again`, into a new window, so a reminder sent before the snooze is
        sent once more when it ends."""
        until = self.snoozes.get((incident_id, subject))
        if until is None or until <= due_at:
            return due_at, window
        return until, f"{window}~{stamp(until)}" if again else window

    # What a rule builds its reminders with, handed over with the sweep: rules live with what
    # they remind about (incidents/comms/reminders.py, runbooks/reminders.py...), and the wings
    # of incidents/ do not import each other, nor this module.
    Reminder = Reminder
    stamp = staticmethod(stamp)
    when = staticmethod(when)

    def minutes(self, name):
        return timedelta(minutes=self.config[name])

    def at_hour(self, day, hour):
        """That day at that hour in the site's time zone (TIME_ZONE)."""
        return datetime.combine(day, time(hour), tzinfo=self.zone)


# Rules -------------------------------------------------------------------------------------


def unacknowledged(sweep):
    """A SEV1/SEV2 incident nobody acknowledged: page the on-call group and the commander
    some minutes after declaration, and again every few minutes until it is acknowledged, at
    most a fixed number of times. A snooze holds the pages back without adding any."""
    cfg = sweep.config
    after, every = sweep.minutes("ack_after_minutes"), sweep.minutes("ack_repeat_minutes")
    most = cfg["ack_max_repeats"]
    severities = set(cfg["ack_severities"])
    group = settings.WARROOM_ONCALL_GROUP
    for f in sweep.open_incidents():
        if f.acknowledged_at is not None or f.severity not in severities:
            continue
        first = f.declared_at + after
        if first > sweep.now:
            continue
        n = min(most, int((sweep.now - first) / every) + 1)
        due, window = sweep.effective(
            f.pk, "acknowledge", first + (n - 1) * every, f"{stamp(f.declared_at)}#{n}", again=False
        )
        if due > sweep.now or not sweep.fresh(f.pk, "acknowledge", window):
            continue
        yield Reminder(
            incident_id=f.pk,
            subject="acknowledge",
            key="acknowledge",
            window=window,
            repeat=n,
            kind=Kind.UNACKNOWLEDGED,
            # The on-call group and the commander together: the commander hears that on-call
            # was paged (and is paged alone when nobody is on call).
            to=((f"group:{group}", "commander"),),
            title=Line(
                gettext_noop("{reference} SEV{severity} is not acknowledged"),
                reference=f.reference,
                severity=f.severity,
            ),
            body=Line(
                gettext_noop(
                    "{incident} was declared at {when} and nobody has acknowledged it. The on-call group ({group}) "
                    "and the commander are paged: acknowledge it (/ack on the incident page), or take command "
                    "(/commander me) if the commander cannot. (Page {n} of at most {most}.)"
                ),
                incident=f.label,
                when=when(f.declared_at),
                group=group,
                n=n,
                most=most,
            ),
            due_at=due,
        )


@cache
def _rules(names):
    return [import_string(name) for name in names]


def rules():
    return _rules(tuple(settings.WARROOM_REMINDER_RULES))


# Recipients --------------------------------------------------------------------------------


class Recipients:
    """Resolves reminders' recipient names to people, in three queries for any number of
    reminders: memberships of the incidents swept (`incidents`, a queryset; by default those
    not closed), the groups named, the people named."""

    def __init__(self, reminders, incidents=None):
        tokens = {t for r in reminders for alternative in r.to for t in alternative}
        self.roles = {}  # (incident id, role) -> {user id}
        self.members = set()  # (incident id, user id)
        self.names = {}  # user id -> username
        if incidents is None:
            incidents = Incident.objects.exclude(status=Status.CLOSED)
        memberships = Membership.objects.filter(incident__in=incidents, user__is_active=True).values_list(
            "incident_id", "user_id", "role", "user__username"
        )
        for incident_id, user_id, role, username in memberships:
            self.roles.setdefault((incident_id, role), set()).add(user_id)
            self.members.add((incident_id, user_id))
            self.names[user_id] = username
        groups = {t.split(":", 1)[1] for t in tokens if t.startswith(("group:", "members-in-group:"))}
        self.groups = {}
        if groups:
            in_groups = User.groups.through.objects.filter(group__name__in=groups, user__is_active=True)
            for name, user_id, username in in_groups.values_list("group__name", "user_id", "user__username"):
                self.groups.setdefault(name, set()).add(user_id)
                self.names[user_id] = username
        people = {int(t[5:]) for t in tokens if t.startswith("user:")}
        self.active = set()
        if people:
            for pk, username in User.objects.filter(pk__in=people, is_active=True).values_list("pk", "username"):
                self.active.add(pk)
                self.names[pk] = username

    def _named(self, token, incident_id):
        kind, _, value = token.partition(":")
        if kind == "user":
            return {int(value)} & self.active
        if kind == "group":
            return self.groups.get(value, set())
        if kind == "members-in-group":
            return {u for u in self.groups.get(value, ()) if (incident_id, u) in self.members}
        return self.roles.get((incident_id, token), set())

    def of(self, reminder, facts):
        for alternative in reminder.to:
            people = set()
            for token in alternative:
                people |= self._named(token, reminder.incident_id)
            if facts.confidential:
                people = {u for u in people if (reminder.incident_id, u) in self.members}
            if people:
                return people
        return set()


# The sweep ---------------------------------------------------------------------------------


def due_reminders(sweep):
    """Every reminder due now, one per (incident, key, window)."""
    found = {}
    for rule in rules():
        for reminder in rule(sweep):
            found.setdefault(reminder.identity, reminder)
    return found


def sweep(now=None):
    """Send the reminders due now that were not sent in their window, then hand back and
    re-enqueue deliveries a dead worker or a lost message left behind. Safe to run as often
    and as concurrently as you like.

    At most `sweep_max_reminders` reminders go out per sweep, the most severe incidents' first
    and then the longest overdue: after an outage of the beat, or with thousands of incidents
    at once, a flood goes out over the next sweeps (30 s apart) instead of in one long
    transaction that delays every delivery until it commits."""
    state = Sweep(now or timezone.now())
    due = {identity: r for identity, r in due_reminders(state).items() if identity not in state.sent}
    fired = []
    most = state.config["sweep_max_reminders"]
    with transaction.atomic():
        if due:
            order = sorted(due.items(), key=lambda item: (state.incidents[item[0][0]].severity, item[1].due_at))
            rows = [
                {"incident_id": i, "key": k, "window": w, "repeat": r.repeat, "created_at": state.now}
                for (i, k, w), r in order
            ]
            fresh = notify.insert_ignoring_conflicts(
                ReminderLedger,
                rows,
                returning=("incident", "key", "window"),
                new_by=("incident", "key", "window"),
                limit=most,
            )
            fired = [due[tuple(identity)] for identity in fresh]
        written = _send(fired, state) if fired else []
    return {
        "due": len(due),
        "fired": len(fired),
        "more": most is not None and len(fired) >= most,  # the limit was reached: the next sweep may send more
        "notifications": len(written),
        "stuck": notify.release_stuck(state.now),
        "requeued": notify.requeue_due(state.now),
    }


def _send(reminders, state):
    recipients = Recipients(reminders, state.scope)
    messages, hooks = [], []
    for r in reminders:
        r = _in_site_language(r)
        f = state.incidents[r.incident_id]
        home = incident_url(f.key)
        url = home + r.anchor
        key = f"reminder:{r.incident_id}:{_fit(r.key)}:{_fit(r.window)}"
        people = sorted(recipients.of(r, f))
        messages += [
            notify.Message(
                user_id=u,
                key=key,
                title=r.title,
                body=r.body,
                line=r.line,
                url=url,
                kind=r.kind,
                incident_id=r.incident_id,
                subject=r.subject,
            )
            for u in people
        ]
        hooks.append(
            notify.WebhookMessage(
                incident_id=r.incident_id,
                confidential=f.confidential,
                key=key,
                payload=partial(_payload, r, f, url, home, people, recipients.names),
            )
        )
    return notify.send(messages, hooks, incidents=state.scope)


def _in_site_language(r):
    """A reminder whose title and body are timeline lines (translatable) with them as text in the
    site's language (e-mail, webhooks) and as lines for the inbox (UserNotification.line)."""
    line = {}
    texts = {}
    for name in ("title", "body"):
        value = getattr(r, name)
        if isinstance(value, Line):
            line[name], texts[name] = value.as_data(), value.english()
    return replace(r, line=line, **texts) if line else r


def _payload(r, f, url, home, people, names):
    """What a webhook target hears of a reminder (built only for reminders some target hears)."""
    return {
        "kind": r.kind,
        "title": r.title,
        "body": r.body,
        "url": url,
        "due_at": r.due_at.isoformat(),
        "to": [names.get(u, "") for u in people],
        "incident": {
            "reference": f.reference,
            "title": f.title,
            "severity": f.severity,
            "status": f.status,
            "url": home,
        },
    }


# Snoozing ----------------------------------------------------------------------------------

SUBJECT = re.compile(
    r"update|acknowledge|review|step:[0-9]{1,18}|mitigation:[0-9]{1,18}|action:[0-9]{1,18}"
    r"|clock:[0-9]{1,18}:[^\x00-\x1f]{1,80}"
)


SUBJECT_LABELS = {
    "update": gettext_noop("next public update"),
    "acknowledge": gettext_noop("acknowledgement page"),
    "review": gettext_noop("post-incident review"),
    "step": gettext_noop("runbook step"),
    "mitigation": gettext_noop("mitigation review"),
    "action": gettext_noop("follow-up action item"),
    "clock": gettext_noop("regulatory deadline"),
}


def subject_label(subject):
    return SUBJECT_LABELS.get(subject.split(":", 1)[0], subject)


def _duration(minutes):
    if minutes >= 60 and minutes % 60 == 0:
        return Line(gettext_noop("{hours} h"), hours=minutes // 60)
    return Line(gettext_noop("{minutes} min"), minutes=minutes)


@transaction.atomic
def snooze(incident, subject, minutes, reason, by):
    """Hold a reminder of this incident back for 15 minutes up to a day (Snooze.MINUTES), with a reason, on the
    timeline. Responders and commanders of the incident may snooze, and an action item's owner
    the reminders of their item."""
    subject = (subject or "").strip() if isinstance(subject, str) else ""
    if not access.can_snooze(by, incident, subject):
        raise PermissionDenied(gettext("Only the incident's responders and commanders may snooze its reminders."))
    try:
        minutes = int(minutes)
    except (TypeError, ValueError):
        minutes = None
    if minutes not in Snooze.MINUTES:
        raise ValidationError({"minutes": gettext("Snooze for 15, 30 or 60 minutes, or 2, 4, 8 or 24 hours.")})
    if not SUBJECT.fullmatch(subject):
        raise ValidationError({"key": gettext("Unknown reminder.")})
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": gettext("Say why the reminder can wait.")})
    if len(reason) > 1000 or "\x00" in reason:
        raise ValidationError({"reason": gettext("Say it in at most 1,000 characters of text.")})
    now = timezone.now()
    until = now + timedelta(minutes=minutes)
    entry = Snooze.objects.create(incident=incident, key=subject, until=until, reason=reason, created_by=by)
    record_event(
        incident,
        by,
        TimelineEntry.Kind.FIELD,
        Line(
            gettext_noop("Reminder snoozed: {subject}, {duration} until {until}. Reason: {reason}"),
            subject=phrase(subject_label(subject)),
            duration=_duration(minutes),
            until=when(until),
            reason=reason,
        ),
        {"field": "reminder.snooze", "reminder": subject, "old": None, "new": until.isoformat(), "reason": reason},
    )
    notify_changed(incident, "reminders")
    return entry
