"""Domain operations on incidents. HTML views, the API, admin actions and tasks all call
these, so each rule and each timeline entry lives in one place.

Every operation checks the actor's permission (PermissionDenied), validates its input
(ValidationError keyed by the field at fault), changes the rows in one transaction, writes the
timeline entry with old and new value, and sends `incident_changed` once the change commits.
"""

import re
from datetime import date, datetime
from functools import wraps

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.text import slugify
from django.utils.translation import gettext, gettext_noop

from incidents import access
from incidents.models import Impact, Incident, Membership, Service, TimelineEntry, TimelineRevision
from incidents.signals import incident_changed
from incidents.timeline_text import Line, choice, joined, phrase

User = get_user_model()
Status = Incident.Status
Role = Membership.Role


def in_site_language(operation):
    """Run a domain operation in the site's language (LANGUAGE_CODE): the timeline and other
    records it writes read the same whichever language the actor's pages are in, although
    choice labels (Incident.Kind, Membership.Role...) are translated for display."""

    @wraps(operation)
    def wrapped(*args, **kwargs):
        with translation.override(settings.LANGUAGE_CODE):
            return operation(*args, **kwargs)

    return wrapped


def _fmt(value):
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def bump_version(incident):
    """Take the incident's row lock (held to commit) and move its version on: concurrent
    writers are ordered by the lock, so versions and entry ids grow in commit order and a live
    poll asking "what changed after version V" never skips a change that commits late. The
    time is read after the lock too, so `updated_at` never goes backwards either.
    Returns (new version, now)."""
    version = Incident.objects.select_for_update().filter(pk=incident.pk).values_list("version", flat=True).get() + 1
    now = timezone.now()
    Incident.objects.filter(pk=incident.pk).update(version=version, updated_at=now)
    incident.version, incident.updated_at = version, now
    return version, now


def record_event(incident, by, kind, body, data=None, occurred_at=None):
    """Append a timeline entry and mark the incident changed (for live views). Other apps
    (runbooks, comms) log through this too.

    A system line's `body` is a timeline_text.Line: its message id and parameters go into the
    entry's `line`, so each reader sees it in their language, and its English text into `body`
    (what the API, exports and search read). Only a note (what a person typed) is plain text."""
    with transaction.atomic():
        version, now = bump_version(incident)
        entry = timeline_entry(incident, by, kind, body, data, now, version, occurred_at)
        entry.save(force_insert=True)
        return entry


def timeline_entry(incident, by, kind, body, data, now, seq, occurred_at=None):
    """The timeline entry record_event writes, not saved yet: for those that write many at once
    (alert routing), after moving the incident's version on to `seq` themselves."""
    line = {}
    if isinstance(body, Line):
        line, body = body.as_data(), body.english()
    return TimelineEntry(
        incident=incident,
        author=by if by is not None and by.is_authenticated else None,
        kind=kind,
        body=body,
        data=data or {},
        line=line,
        occurred_at=occurred_at or now,
        recorded_at=now,
        seq=seq,
    )


def _logged(value):
    """A value as it is stored in a timeline entry's data (JSON)."""
    if isinstance(value, date):  # and datetime
        return value.isoformat()
    if isinstance(value, User):
        return value.get_username()
    if isinstance(value, list | tuple):
        return list(value)
    return value


def _shown(value):
    """A value as a timeline line's parameter shows it (words translated for each reader)."""
    if value is None or value == "" or value == []:
        return phrase(gettext_noop("unset"))
    if isinstance(value, bool):
        return phrase(gettext_noop("yes") if value else gettext_noop("no"))
    if isinstance(value, date):  # and datetime
        return value.isoformat()
    if isinstance(value, User):
        return value.get_username()
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, int):
        return f"{value:,}"
    text = str(value)
    return text if len(text) <= 120 else text[:119] + "…"  # the entry's data keeps it whole


def change_data(kind, changes, **extra):
    """A timeline entry's data for a change of several fields, `changes` being (field, old,
    new) triples: {"field": kind, **extra, "changes": [{"field", "old", "new"}, ...], "old":
    {...}, "new": {...}}. The security audit trail reads it, one row per changed field."""
    return {
        "field": kind,
        **extra,
        "changes": [{"field": f, "old": _logged(old), "new": _logged(new)} for f, old, new in changes],
        "old": {f: _logged(old) for f, old, _ in changes},
        "new": {f: _logged(new) for f, _, new in changes},
    }


def describe_changes(changes, labels, skip=()):
    """The same changes as a timeline line's parameter: "owner: unset → alice; due: ...", the
    labels (marked with gettext_noop) and words translated for each reader; None if none is left."""
    lines = [
        Line(gettext_noop("{field}: {old} → {new}"), field=phrase(labels.get(f, f)), old=_shown(old), new=_shown(new))
        for f, old, new in changes
        if f not in skip
    ]
    return joined(lines, "; ") if lines else None


def notify_changed(incident, change):
    transaction.on_commit(lambda: incident_changed.send(sender=Incident, incident=incident, change=change))


def _locked(incident):
    """Re-read the incident under a row lock so two commanders cannot race a change."""
    return Incident.objects.select_for_update().get(pk=incident.pk)


# Declaring -------------------------------------------------------------------------------

# Kinds declared confidential unless the declarer says otherwise (the security group sees them all).
CONFIDENTIAL_KINDS = (Incident.Kind.SECURITY, Incident.Kind.DATA_EXPOSURE)


@in_site_language
@transaction.atomic
def declare(
    by,
    *,
    title,
    summary="",
    severity=Incident.Severity.SEV3,
    kind=Incident.Kind.AVAILABILITY,
    confidential=None,
    services=(),
    started_at=None,
    detected_at=None,
    commander=None,
):
    access.require(access.can_declare(by), gettext("Only commanders may declare incidents."))
    title = (title or "").strip()
    if not title:
        raise ValidationError({"title": gettext("A title is required.")})
    if severity not in Incident.Severity.values:
        raise ValidationError({"severity": gettext("Severity must be 1, 2, 3 or 4.")})
    if kind not in Incident.Kind.values:
        raise ValidationError(
            {"kind": gettext("Kind must be one of {choices}.").format(choices=", ".join(Incident.Kind.values))}
        )
    now = timezone.now()
    if started_at and started_at > now:
        raise ValidationError({"started_at": gettext("Impact cannot start in the future.")})
    if confidential is None:  # not chosen: security and data-exposure incidents start hidden
        confidential = kind in CONFIDENTIAL_KINDS
    commander = commander or by
    incident = Incident.objects.create(
        title=title,
        summary=summary or "",
        severity=severity,
        kind=kind,
        confidential=bool(confidential),
        created_by=by,
        started_at=started_at or now,
        detected_at=detected_at,
        declared_at=now,
        updated_at=now,
    )
    incident.services.set(services)
    Membership.objects.create(incident=incident, user=commander, role=Role.COMMANDER, assigned_by=by)
    names = [s.name for s in services] or phrase(gettext_noop("none"))
    record_event(
        incident,
        by,
        TimelineEntry.Kind.DECLARED,
        Line(
            gettext_noop(
                "Declared {reference} as SEV{severity} ({kind}), commander {commander}. Affected services: {services}."
            ),
            reference=incident.reference,
            severity=severity,
            kind=choice(Incident.Kind, kind, lower=True),
            commander=commander.get_username(),
            services=names,
        ),
        {
            "title": title,
            "severity": severity,
            "kind": kind,
            "confidential": incident.confidential,
            "commander": commander.get_username(),
            "services": [s.slug for s in services],
        },
    )
    notify_changed(incident, "declared")
    return incident


# Status, severity, times ----------------------------------------------------------------------


class StatusConflict(ValidationError):
    """The incident's status changed since the caller read it (another commander moved it):
    the requested move was decided on a stale view, so it is refused rather than applied to
    a state nobody chose it for. `current` is the status the incident has now."""

    def __init__(self, incident, current, expected):
        self.current = current
        super().__init__(
            {
                "status": f"{incident.reference} changed while you were looking: it is now {current} "
                f"(you saw {expected}). Check the new state before changing it again."
            }
        )


@transaction.atomic
def change_status(incident, status, by, note="", expected=None):
    """Move the incident to `status`. `expected` is the status the caller saw (default: the
    one `incident` was read with); if the incident has moved on since, StatusConflict."""
    access.require(access.can_command(by, incident), gettext("Only the incident's commanders may change its status."))
    if status not in Status.values:
        raise ValidationError(
            {
                "status": gettext("Unknown status {status!r}; use one of {choices}.").format(
                    status=status, choices=", ".join(Status.values)
                )
            }
        )
    expected = expected or incident.status
    locked = _locked(incident)
    old = locked.status
    if old != expected:
        raise StatusConflict(incident, old, expected)
    if status == old:
        raise ValidationError(
            {"status": gettext("{reference} is already {old}.").format(reference=incident.reference, old=old)}
        )
    if not locked.can_move_to(status):
        allowed = sorted(Incident.TRANSITIONS[old])
        hint = (
            gettext("From {old} it can move to {choices}.").format(old=old, choices=", ".join(allowed))
            if allowed
            else gettext("A closed incident is final.")
        )
        raise ValidationError(
            {
                "status": gettext("Cannot move {reference} from {old} to {status}. {hint}").format(
                    reference=incident.reference, old=old, status=status, hint=hint
                )
            }
        )
    now = timezone.now()
    fields = {"status": status, "updated_at": now}
    if status != Status.INVESTIGATING and locked.acknowledged_at is None:
        fields["acknowledged_at"] = now
    if status in (Status.MONITORING, Status.RESOLVED) and locked.mitigated_at is None:
        fields["mitigated_at"] = now
    if status == Status.RESOLVED:
        fields["resolved_at"] = now
    if status == Status.CLOSED:
        fields["closed_at"] = now
    reopened = old == Status.RESOLVED and status == Status.INVESTIGATING
    if reopened:
        fields["resolved_at"] = None
    Incident.objects.filter(pk=incident.pk).update(**fields)
    for name, value in fields.items():
        setattr(incident, name, value)
    if reopened:
        msg = gettext_noop("Reopened: {old} → {new}.{note}")
    else:
        msg = gettext_noop("Status changed: {old} → {new}.{note}")
    body = Line(
        msg,
        old=choice(Status, old, lower=True),
        new=choice(Status, status, lower=True),
        note=f" {note}" if note else "",
    )
    record_event(incident, by, TimelineEntry.Kind.STATUS, body, {"field": "status", "old": old, "new": status})
    if status == Status.RESOLVED:
        _end_open_impacts(incident, by, now)
    notify_changed(incident, "status")
    return incident


def _end_open_impacts(incident, by, now):
    """A resolved incident no longer hits any service: end what is still open, on the record."""
    still_open = list(incident.impacts.filter(ended_at__isnull=True).select_related("service"))
    if not still_open:
        return
    Impact.objects.filter(pk__in=[i.pk for i in still_open]).update(ended_at=now)
    record_event(
        incident,
        by,
        TimelineEntry.Kind.IMPACT,
        Line(gettext_noop("Impacts ended on resolution: {services}."), services=[i.service.name for i in still_open]),
        {
            "field": "impact.ended_at",
            "services": [i.service.slug for i in still_open],
            "old": None,
            "new": now.isoformat(),
        },
    )


@transaction.atomic
def change_severity(incident, severity, by):
    access.require(access.can_command(by, incident), gettext("Only the incident's commanders may change its severity."))
    try:
        severity = int(severity)
    except (TypeError, ValueError):
        severity = None
    if severity not in Incident.Severity.values:
        raise ValidationError({"severity": gettext("Severity must be 1, 2, 3 or 4 (SEV1 is the worst).")})
    locked = _locked(incident)
    old = locked.severity
    if old == severity:
        return incident
    Incident.objects.filter(pk=incident.pk).update(severity=severity)
    incident.severity = severity
    record_event(
        incident,
        by,
        TimelineEntry.Kind.SEVERITY,
        Line(gettext_noop("Severity changed: SEV{old} → SEV{new}."), old=old, new=severity),
        {"field": "severity", "old": old, "new": severity},
    )
    notify_changed(incident, "severity")
    return incident


@transaction.atomic
def acknowledge(incident, by):
    access.require(
        access.can_acknowledge(by, incident),
        gettext("Only the incident's commanders and the on-call group may acknowledge it."),
    )
    locked = _locked(incident)
    if locked.acknowledged_at:
        incident.acknowledged_at = locked.acknowledged_at
        return incident
    now = timezone.now()
    Incident.objects.filter(pk=incident.pk).update(acknowledged_at=now)
    incident.acknowledged_at = now
    record_event(
        incident,
        by,
        TimelineEntry.Kind.FIELD,
        Line(gettext_noop("Acknowledged by {person}."), person=by.get_username()),
        {"field": "acknowledged_at", "old": None, "new": now.isoformat()},
    )
    notify_changed(incident, "acknowledged")
    return incident


# The times' names in the timeline line of correct_time.
TIME_LABELS = {
    "aware_at": gettext_noop("aware"),
    "started_at": gettext_noop("started"),
    "detected_at": gettext_noop("detected"),
    "declared_at": gettext_noop("declared"),
    "acknowledged_at": gettext_noop("acknowledged"),
    "mitigated_at": gettext_noop("mitigated"),
    "resolved_at": gettext_noop("resolved"),
    "closed_at": gettext_noop("closed"),
}


@transaction.atomic
def correct_time(incident, field, value, by, reason=""):
    """Correct a recorded time (or record the awareness time, which starts legal clocks),
    logged with the old and new value and the reason."""
    if field == "aware_at":
        refusal = gettext("Only the incident's commanders and the security group may record the awareness time.")
    else:
        refusal = gettext("Only the incident's commanders may correct its times.")
    access.require(access.can_correct_time(by, incident, field), refusal)
    if field not in Incident.CORRECTABLE_TIMES:
        raise ValidationError({"field": gettext("{field!r} is not a time that can be corrected.").format(field=field)})
    if value is not None and value > timezone.now():
        raise ValidationError({field: gettext("A recorded time cannot be in the future.")})
    locked = _locked(incident)
    old = getattr(locked, field)
    if old == value:
        return incident
    Incident.objects.filter(pk=incident.pk).update(**{field: value})
    setattr(incident, field, value)
    reason_text = Line(gettext_noop(" Reason: {reason}"), reason=reason) if reason else ""
    body = Line(
        gettext_noop("Corrected {label} time: {old} → {new}.{reason}"),
        label=phrase(TIME_LABELS.get(field, field)),
        old=_fmt(old) or phrase(gettext_noop("unset")),
        new=_fmt(value) or phrase(gettext_noop("unset")),
        reason=reason_text,
    )
    record_event(
        incident,
        by,
        TimelineEntry.Kind.TIME,
        body,
        {"field": field, "old": _fmt(old), "new": _fmt(value), "reason": reason},
    )
    notify_changed(incident, field)
    return incident


EDITABLE_FIELDS = ("title", "summary", "kind", "confidential")


def _field_change(field, old, new):
    """The line of update_fields for one field."""
    if field == "summary":
        return Line(gettext_noop("Summary edited."))
    if field == "kind":
        return Line(
            gettext_noop("Kind changed: {old} → {new}."), old=choice(Incident.Kind, old), new=choice(Incident.Kind, new)
        )
    if field == "confidential":
        return Line(gettext_noop("Confidential changed: {old} → {new}."), old=_shown(bool(old)), new=_shown(bool(new)))
    return Line(gettext_noop("Title changed: {old} → {new}."), old=old, new=new)


@transaction.atomic
def update_fields(incident, by, **changes):
    """Edit title, summary, kind, confidential and the affected services, logging each change."""
    access.require(access.can_command(by, incident), gettext("Only the incident's commanders may edit it."))
    locked = _locked(incident)
    services = changes.pop("services", None)
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError({sorted(unknown)[0]: gettext("This field cannot be edited here.")})
    if "title" in changes and not (changes["title"] or "").strip():
        raise ValidationError({"title": gettext("A title is required.")})
    if "kind" in changes and changes["kind"] not in Incident.Kind.values:
        raise ValidationError(
            {"kind": gettext("Kind must be one of {choices}.").format(choices=", ".join(Incident.Kind.values))}
        )
    for field, new in changes.items():
        old = getattr(locked, field)
        if old == new:
            continue
        Incident.objects.filter(pk=incident.pk).update(**{field: new})
        setattr(incident, field, new)
        body = _field_change(field, old, new)
        record_event(incident, by, TimelineEntry.Kind.FIELD, body, {"field": field, "old": old, "new": new})
    if services is not None:
        old_slugs = sorted(locked.services.values_list("slug", flat=True))
        new_slugs = sorted(s.slug for s in services)
        if old_slugs != new_slugs:
            incident.services.set(services)
            record_event(
                incident,
                by,
                TimelineEntry.Kind.FIELD,
                Line(
                    gettext_noop("Affected services: {old} → {new}."),
                    old=old_slugs or phrase(gettext_noop("none")),
                    new=new_slugs or phrase(gettext_noop("none")),
                ),
                {"field": "services", "old": old_slugs, "new": new_slugs},
            )
    notify_changed(incident, "fields")
    return incident


PUBLIC_TITLE_MAX = 200


def check_public_title(title):
    """A public title as the public reads it: one line of text, at most 200 characters."""
    if not isinstance(title, str) or "\x00" in title:
        raise ValidationError({"public_title": gettext("The public title must be text.")})
    title = " ".join(title.split())
    if len(title) > PUBLIC_TITLE_MAX:
        raise ValidationError({"public_title": gettext("Keep the public title under 200 characters.")})
    return title


def check_public_titles(titles):
    """The public title in other languages: {language code: title}, codes lowercased."""
    if titles is None:
        return {}
    if not isinstance(titles, dict):
        raise ValidationError(
            {"public_titles": gettext('Give the titles as {language code: title}, e.g. {"zh-hans": "登录缓慢"}.')}
        )
    checked = {}
    for language, title in titles.items():
        code = str(language).strip().lower()
        if not SERVICE_NAME_LANGUAGE.match(code) or len(code) > 15:
            raise ValidationError(
                {
                    "public_titles": gettext("{language} is not a language code such as zh-hans or de.").format(
                        language=repr(language)
                    )
                }
            )
        if not isinstance(title, str) or not title.strip() or len(title) > PUBLIC_TITLE_MAX or "\x00" in title:
            raise ValidationError(
                {"public_titles": gettext("The {code} title must be text of 1 to 200 characters.").format(code=code)}
            )
        checked[code] = " ".join(title.split())
    return checked


@in_site_language
@transaction.atomic
def set_public_title(incident, by, *, title=None, titles=None):
    """Give the incident the title the public reads (and, with `titles`, its versions in other
    languages), in place of the internal one. Those who write its communications may: comms
    staff, the commander group, the incident's commanders and comms lead. It shows at once
    wherever the incident is already public; each change is logged with old and new value.
    `None` leaves that part as it is. Returns the incident."""
    access.require(
        access.can_write_communication(by, incident),
        gettext("Only comms staff and the incident's commanders may change its public title."),
    )
    locked = _locked(incident)
    changes = {}
    if title is not None:
        title = check_public_title(title)
        if not title and locked.public_title:
            raise ValidationError(
                {"public_title": gettext("An incident's public title cannot be removed; give a new one instead.")}
            )
        if title != locked.public_title:
            changes["public_title"] = title
    if titles is not None:
        titles = check_public_titles(titles)
        if titles != (locked.public_titles or {}):
            changes["public_titles"] = titles
    if not changes:
        return incident
    Incident.objects.filter(pk=incident.pk).update(**changes)
    for field, new in changes.items():
        old = getattr(locked, field)
        setattr(incident, field, new)
        if field == "public_title":
            body = Line(
                gettext_noop("Public title changed: {old} → {new}."), old=old or phrase(gettext_noop("(none)")), new=new
            )
        else:
            shown = [f"{code}: {text}" for code, text in sorted(new.items())] or phrase(gettext_noop("none"))
            body = Line(gettext_noop("Public title in other languages: {titles}."), titles=shown)
        record_event(incident, by, TimelineEntry.Kind.FIELD, body, {"field": field, "old": old, "new": new})
    notify_changed(incident, "public_title")
    return incident


# Roles ------------------------------------------------------------------------------------


def commander_of(incident):
    m = incident.memberships.filter(role=Role.COMMANDER).select_related("user").first()
    return m.user if m else None


@transaction.atomic
def hand_over_command(incident, to_user, by):
    """Make `to_user` the commander in one step. The outgoing commander stays on the incident
    as a responder, so they keep access to a confidential incident."""
    taking = to_user.pk == by.pk and access.can_take_command(by, incident)
    access.require(
        taking or access.can_command(by, incident), gettext("Only the incident's commanders may hand over command.")
    )
    _locked(incident)
    current = Membership.objects.filter(incident=incident, role=Role.COMMANDER).select_related("user").first()
    if current and current.user_id == to_user.pk:
        raise ValidationError(
            {"user": gettext("{person} is already the commander.").format(person=to_user.get_username())}
        )
    old_name = current.user.get_username() if current else None
    if current:
        old_user = current.user
        current.delete()
        Membership.objects.get_or_create(
            incident=incident, user=old_user, role=Role.RESPONDER, defaults={"assigned_by": by}
        )
    # The new commander leaves any other single role they held (e.g. deputy).
    Membership.objects.filter(incident=incident, user=to_user).exclude(role=Role.COMMANDER).filter(
        role__in=Membership.SINGLE_ROLES
    ).delete()
    Membership.objects.create(incident=incident, user=to_user, role=Role.COMMANDER, assigned_by=by)
    record_event(
        incident,
        by,
        TimelineEntry.Kind.ROLE,
        Line(
            gettext_noop("Command taken: {old} → {new}.")
            if to_user.pk == by.pk
            else gettext_noop("Command handed over: {old} → {new}."),
            old=old_name or phrase(gettext_noop("nobody")),
            new=to_user.get_username(),
        ),
        {"field": "commander", "old": old_name, "new": to_user.get_username()},
    )
    notify_changed(incident, "roles")
    return incident


@transaction.atomic
def take_command(incident, by):
    """The person paged (the on-call group) or a commander makes themselves the commander, and
    acknowledges the incident if nobody has: the page tells them to do both. Each is logged."""
    access.require(
        access.can_take_command(by, incident), gettext("Only commanders and the on-call group may take command.")
    )
    locked = _locked(incident)
    if Membership.objects.filter(incident=incident, user=by, role=Role.COMMANDER).exists():
        raise ValidationError({"user": gettext("{person} is already the commander.").format(person=by.get_username())})
    hand_over_command(incident, by, by)
    if locked.acknowledged_at is None:
        acknowledge(incident, by)
    return incident


@in_site_language
@transaction.atomic
def assign_role(incident, user, role, by):
    if role == Role.COMMANDER:
        return hand_over_command(incident, user, by)
    access.require(access.can_command(by, incident), gettext("Only the incident's commanders may assign roles."))
    if role not in Role.values:
        raise ValidationError(
            {
                "role": gettext("Unknown role {role!r}; use one of {choices}.").format(
                    role=role, choices=", ".join(Role.values)
                )
            }
        )
    _locked(incident)
    if Membership.objects.filter(incident=incident, user=user, role=role).exists():
        raise ValidationError(
            {
                "user": gettext("{person} is already {lower}.").format(
                    person=user.get_username(), lower=Role(role).label.lower()
                )
            }
        )
    old = None
    if role in Membership.SINGLE_ROLES:
        previous = Membership.objects.filter(incident=incident, role=role).select_related("user").first()
        if previous:
            old = previous.user.get_username()
            previous.delete()
    Membership.objects.create(incident=incident, user=user, role=role, assigned_by=by)
    if old:
        body = Line(gettext_noop("{role}: {old} → {new}."), role=choice(Role, role), old=old, new=user.get_username())
    else:
        body = Line(
            gettext_noop("{person} joined as {role}."), person=user.get_username(), role=choice(Role, role, lower=True)
        )
    record_event(incident, by, TimelineEntry.Kind.ROLE, body, {"field": role, "old": old, "new": user.get_username()})
    notify_changed(incident, "roles")
    return incident


@in_site_language
@transaction.atomic
def remove_role(incident, membership, by):
    access.require(access.can_command(by, incident), gettext("Only the incident's commanders may remove roles."))
    if membership.incident_id != incident.pk:
        raise ValidationError({"role": gettext("This role belongs to another incident.")})
    if membership.role == Role.COMMANDER:
        raise ValidationError({"role": gettext("An incident always has a commander: hand over command instead.")})
    name = membership.user.get_username()
    membership.delete()
    record_event(
        incident,
        by,
        TimelineEntry.Kind.ROLE,
        Line(
            gettext_noop("{person} is no longer {role}."), person=name, role=choice(Role, membership.role, lower=True)
        ),
        {"field": membership.role, "old": name, "new": None},
    )
    notify_changed(incident, "roles")


# Timeline ----------------------------------------------------------------------------------


@transaction.atomic
def log_entry(incident, by, body, occurred_at=None):
    access.require(access.can_log(by, incident), gettext("Only responders and commanders may log to the timeline."))
    body = (body or "").strip()
    if not body:
        raise ValidationError({"body": gettext("Write something to log.")})
    if occurred_at is not None and occurred_at > timezone.now():
        raise ValidationError({"occurred_at": gettext("An event cannot have happened in the future.")})
    entry = record_event(incident, by, TimelineEntry.Kind.NOTE, body, occurred_at=occurred_at)
    notify_changed(incident, "timeline")
    return entry


@transaction.atomic
def edit_entry(entry, by, body):
    """Change a note's text; the earlier text is kept as a revision."""
    incident = entry.incident
    access.require(access.can_edit_entry(by, entry), gettext("Only the author or a commander may edit this entry."))
    if entry.kind != TimelineEntry.Kind.NOTE:
        raise ValidationError({"body": gettext("Recorded changes cannot be edited; log a correction instead.")})
    body = (body or "").strip()
    if not body:
        raise ValidationError({"body": gettext("An entry cannot be emptied; log a correction instead.")})
    if body == entry.body:
        return entry
    with transaction.atomic():
        version, now = bump_version(incident)
        TimelineRevision.objects.create(entry=entry, body=entry.body, replaced_at=now, replaced_by=by)
        entry.body = body
        entry.edited_at = now
        entry.seq = version
        entry.save(update_fields=["body", "edited_at", "seq"])
    notify_changed(incident, "timeline")
    return entry


# Services and impacts ----------------------------------------------------------------------


def create_service(by, *, name, group="", owner=None, description="", public=True, position=0, slug="", names=None):
    access.require(access.can_manage_services(by), gettext("Only commanders may edit the service catalog."))
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": gettext("A name is required.")})
    slug = slug or slugify(name)
    check_service_name(name, slug)
    return Service.objects.create(
        name=name,
        slug=slug,
        group=group,
        owner=owner,
        description=description,
        public=public,
        position=position,
        names=check_service_names(names),
    )


SERVICE_NAME_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})*$")


def check_service_names(names):
    """A service's names in other languages: {language code: name}, codes lowercased."""
    if names is None:
        return {}
    if not isinstance(names, dict):
        raise ValidationError(
            {"names": gettext('Give the names as {language code: name}, e.g. {"zh-hans": "公共 API"}.')}
        )
    checked = {}
    for language, name in names.items():
        code = str(language).strip().lower()
        if not SERVICE_NAME_LANGUAGE.match(code) or len(code) > 15:
            raise ValidationError(
                {
                    "names": gettext("{language} is not a language code such as zh-hans or de.").format(
                        language=repr(language)
                    )
                }
            )
        if not isinstance(name, str) or not name.strip() or len(name) > 120 or "\x00" in name:
            raise ValidationError(
                {"names": gettext("The {code} name must be text of 1 to 120 characters.").format(code=code)}
            )
        checked[code] = name.strip()
    return checked


def check_service_name(name, slug, service=None):
    """The catalog's naming rule (names differ case-insensitively, slugs differ), for the
    operations below and for forms that must show it before they call them."""
    others = Service.objects.exclude(pk=service.pk) if service else Service.objects.all()
    if others.filter(name__iexact=name).exists():
        raise ValidationError({"name": gettext("A service named {name!r} already exists.").format(name=name)})
    if not slug:
        raise ValidationError(
            {"slug": gettext("No slug can be made from this name: give one (letters, digits, hyphens).")}
        )
    if others.filter(slug=slug).exists():
        raise ValidationError({"slug": gettext("The slug {slug!r} is taken by another service.").format(slug=slug)})


SERVICE_FIELDS = ("name", "slug", "group", "owner", "description", "public", "position", "names")


@transaction.atomic
def update_service(service, by, **changes):
    access.require(access.can_manage_services(by), gettext("Only commanders may edit the service catalog."))
    unknown = set(changes) - set(SERVICE_FIELDS)
    if unknown:
        raise ValidationError({sorted(unknown)[0]: gettext("This field cannot be edited here.")})
    if "name" in changes:
        changes["name"] = (changes["name"] or "").strip()
        if not changes["name"]:
            raise ValidationError({"name": gettext("A name is required.")})
    check_service_name(changes.get("name", service.name), changes.get("slug", service.slug), service)
    if "names" in changes:
        changes["names"] = check_service_names(changes["names"])
    for field, value in changes.items():
        setattr(service, field, value)
    service.save()
    return service


def delete_service(service, by):
    """Only a service no incident ever named: deleting one would rewrite incidents' history."""
    access.require(access.can_manage_services(by), gettext("Only commanders may edit the service catalog."))
    if service_in_use(service):
        raise ValidationError(
            {
                "service": gettext("{name} is part of recorded incidents and cannot be deleted.").format(
                    name=service.name
                )
            }
        )
    service.delete()


def service_in_use(service):
    return service.impacts.exists() or service.incidents.exists()


def find_service(text):
    text = (text or "").strip()
    return Service.objects.filter(Q(slug__iexact=text) | Q(name__iexact=text)).first()


def _regions(regions):
    if regions is None:
        return []
    if isinstance(regions, str):
        regions = regions.split(",")
    if not isinstance(regions, list | tuple) or not all(isinstance(r, str) for r in regions):
        raise ValidationError({"regions": gettext("Regions must be a list of names.")})
    return [r.strip() for r in regions if r.strip()]


@in_site_language
@transaction.atomic
def add_impact(incident, by, *, service, level, regions=None, started_at=None, ended_at=None):
    access.require(access.can_command(by, incident), gettext("Only the incident's commanders may record impacts."))
    if level not in Impact.Level.values:
        raise ValidationError(
            {
                "level": gettext("Unknown level {level!r}; use one of {choices}.").format(
                    level=level, choices=", ".join(Impact.Level.values)
                )
            }
        )
    now = timezone.now()
    started_at = started_at or now
    if ended_at is not None and ended_at < started_at:
        raise ValidationError({"ended_at": gettext("An impact cannot end before it starts.")})
    regions = _regions(regions)
    _locked(incident)
    impact = Impact.objects.create(
        incident=incident,
        service=service,
        level=level,
        regions=regions,
        started_at=started_at,
        ended_at=ended_at,
        created_by=by,
    )
    incident.services.add(service)
    if regions:
        body = Line(
            gettext_noop("Impact: {service} {level} in {regions}."),
            service=service.name,
            level=choice(Impact.Level, level, lower=True),
            regions=regions,
        )
    else:
        body = Line(
            gettext_noop("Impact: {service} {level}."),
            service=service.name,
            level=choice(Impact.Level, level, lower=True),
        )
    record_event(
        incident,
        by,
        TimelineEntry.Kind.IMPACT,
        body,
        {"field": "impact", "service": service.slug, "old": None, "new": level, "regions": regions},
    )
    notify_changed(incident, "impacts")
    return impact


@transaction.atomic
def add_impacts(incident, by, services, *, level, regions=None, started_at=None):
    """The same level on several services at once (the war room's impact form): one impact
    and one timeline line each, all or none."""
    return [
        add_impact(incident, by, service=service, level=level, regions=regions, started_at=started_at)
        for service in services
    ]


IMPACT_LABELS = {
    "level": gettext_noop("level"),
    "regions": gettext_noop("regions"),
    "started_at": gettext_noop("started"),
    "ended_at": gettext_noop("ended"),
}


def _impact_value(field, value):
    if field == "level" and value:
        return choice(Impact.Level, value, lower=True)
    return _shown(value)


@transaction.atomic
def update_impact(impact, by, **changes):
    """Change an impact's level, regions or end; ending it is `ended_at=<time>`."""
    incident = impact.incident
    access.require(access.can_command(by, incident), gettext("Only the incident's commanders may change impacts."))
    _locked(incident)
    impact = Impact.objects.select_for_update().get(pk=impact.pk)
    if "level" in changes and changes["level"] not in Impact.Level.values:
        raise ValidationError(
            {
                "level": gettext("Unknown level {changes!r}; use one of {choices}.").format(
                    changes=changes["level"], choices=", ".join(Impact.Level.values)
                )
            }
        )
    if "regions" in changes:
        changes["regions"] = _regions(changes["regions"])
    ended_at = changes.get("ended_at", impact.ended_at)
    if ended_at is not None and ended_at < changes.get("started_at", impact.started_at):
        raise ValidationError({"ended_at": gettext("An impact cannot end before it starts.")})
    for field, new in changes.items():
        old = getattr(impact, field)
        if old == new:
            continue
        setattr(impact, field, new)
        if field == "ended_at" and new is not None:
            body = Line(gettext_noop("Impact on {service} ended."), service=impact.service.name)
        else:
            body = Line(
                gettext_noop("Impact on {service}: {field} {old} → {new}."),
                service=impact.service.name,
                field=phrase(IMPACT_LABELS.get(field, field)),
                old=_impact_value(field, old),
                new=_impact_value(field, new),
            )
        record_event(
            incident,
            by,
            TimelineEntry.Kind.IMPACT,
            body,
            {"field": f"impact.{field}", "service": impact.service.slug, "old": _fmt(old), "new": _fmt(new)},
        )
    impact.save()
    notify_changed(incident, "impacts")
    return impact


def end_impacts_for_service(incident, service, by):
    open_impacts = incident.impacts.filter(service=service, ended_at__isnull=True)
    ended = [update_impact(i, by, ended_at=timezone.now()) for i in open_impacts]
    if not ended:
        raise ValidationError(
            {
                "service": gettext("{name} has no open impact on {reference}.").format(
                    name=service.name, reference=incident.reference
                )
            }
        )
    return ended
