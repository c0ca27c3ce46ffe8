"""The war-room box: a plain line is a timeline note; a line starting with / is a command.

Each command calls the same service as the buttons and the API, so it is checked and logged
the same way. Errors come back as ValidationError with a message meant for the person typing.
"""

import datetime
import re

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy
from django.utils.translation import gettext as _

from incidents import access, services
from incidents.durations import zoned
from incidents.models import Impact, Incident, Membership

LEVEL_ALIASES = {
    "degraded": Impact.Level.DEGRADED_PERFORMANCE,
    "partial": Impact.Level.PARTIAL_OUTAGE,
    "major": Impact.Level.MAJOR_OUTAGE,
    "outage": Impact.Level.MAJOR_OUTAGE,
    "maintenance": Impact.Level.UNDER_MAINTENANCE,
}
ROLE_ALIASES = {"comms": Membership.Role.COMMS_LEAD, "ic": Membership.Role.COMMANDER}

HELP = gettext_lazy(
    "Commands: /status <investigating|identified|monitoring|resolved|closed>, /sev <1-4>, "
    "/commander <username>, /commander me, /role <role> <username>, /impact <service> <level> [regions], "
    "/impact <service> resolved, /ack, /at <HH:MM|YYYY-MM-DD HH:MM> <what happened>"
)

# `/at 02:55 text` or `/at 2026-01-27 02:55 text`: the day is optional, seconds too.
AT_TIME = re.compile(r"^(?:(\d{4})-(\d{1,2})-(\d{1,2})\s+)?(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s+|$)")


def _backdated(text):
    """The time and the note of an `/at <time> <note>` line (the text after `/at`). The time
    is read in the viewer's zone (the one the page shows times in); without a date it is today
    there."""
    match = AT_TIME.match(text)
    usage = _("Write when it happened as HH:MM or YYYY-MM-DD HH:MM, e.g. /at 02:55 Edge errors began.")
    if match is None:
        raise ValidationError(usage)
    year, month, day, hour, minute, second = match.groups()
    zone = timezone.get_current_timezone()
    if year is None:
        today = timezone.localdate(timezone=zone)
        year, month, day = today.year, today.month, today.day
    try:
        when = datetime.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0))
    except ValueError:
        raise ValidationError(
            _("%(time)s is not a time on the calendar. %(usage)s") % {"time": match.group(0).strip(), "usage": usage}
        ) from None
    if when.year < 1900:
        raise ValidationError(usage)
    note = text[match.end() :].strip()
    if not note:
        raise ValidationError(_("Say what happened after the time, e.g. /at 02:55 Edge errors began."))
    return timezone.make_aware(when, zone), note


def _user(incident, by, name, refusal):
    """The active user named `name`, once `by` is known to be allowed the command: whether a
    username exists is nobody's business but those who may assign it (`refusal` otherwise).
    Unknown and inactive usernames get the same answer."""
    access.require(access.can_command(by, incident), refusal)
    User = get_user_model()
    name = name.lstrip("@")
    user = User.objects.filter(**{f"{User.USERNAME_FIELD}__iexact": name}, is_active=True).first()
    if user is None:
        raise ValidationError(gettext("No active user named {name!r}.").format(name=name))
    return user


def _args(args, count, usage):
    if len(args) < count:
        raise ValidationError(gettext("Usage: {usage}").format(usage=usage))
    return args


def _flatten(exc):
    """A ValidationError's messages as one line, whatever its shape."""
    if hasattr(exc, "message_dict"):
        return " ".join(m for msgs in exc.message_dict.values() for m in msgs)
    return " ".join(exc.messages)


def run(incident, user, text):
    """Run one line from the box. Returns the TimelineEntry written, or raises ValidationError."""
    text = (text or "").strip()
    if not text:
        raise ValidationError(gettext("Write something to log."))
    if "\x00" in text:  # PostgreSQL refuses NUL in text: bad input, not a server error
        raise ValidationError(gettext("The text contains a NUL character; remove it and try again."))
    if not text.startswith("/"):
        return _call(services.log_entry, incident, user, text)
    words = text[1:].split()
    if not words:
        raise ValidationError(gettext("Unknown command /. {help}").format(help=HELP))
    command, *args = words
    command = command.lower()
    if command == "status":
        (status,) = _args(args, 1, "/status <investigating|identified|monitoring|resolved|closed>")[:1]
        status = status.lower()
        if status not in Incident.Status.values:
            raise ValidationError(
                gettext("Unknown status {status!r}. Use one of: {choices}.").format(
                    status=status, choices=", ".join(Incident.Status.values)
                )
            )
        note = " ".join(args[1:])
        _call(services.change_status, incident, status, user, note)
    elif command in ("sev", "severity"):
        (value,) = _args(args, 1, "/sev <1-4>")[:1]
        value = value.lower().removeprefix("sev")
        if value not in ("1", "2", "3", "4"):
            raise ValidationError(
                gettext("Unknown severity {args!r}. Use 1, 2, 3 or 4 (SEV1 is the worst).").format(args=args[0])
            )
        if int(value) == incident.severity:
            raise ValidationError(
                gettext("{reference} is already SEV{value}.").format(reference=incident.reference, value=value)
            )
        _call(services.change_severity, incident, int(value), user)
    elif command in ("commander", "ic"):
        (name,) = _args(args, 1, "/commander <username> (or /commander me)")[:1]
        name = name.lstrip("@")
        if name.lower() == "me" or name.lower() == user.get_username().lower():
            # Taking command oneself: the on-call person paged for the incident may (and
            # acknowledges it on the way), not only those who already command it.
            _call(services.take_command, incident, user)
        else:
            to_user = _user(incident, user, name, gettext("Only the incident's commanders may hand over command."))
            _call(services.hand_over_command, incident, to_user, user)
    elif command == "role":
        role, name = _args(args, 2, "/role <role> <username>")[:2]
        role = ROLE_ALIASES.get(role.lower(), role.lower())
        if role not in Membership.Role.values:
            raise ValidationError(
                gettext("Unknown role {args!r}. Use one of: {choices}.").format(
                    args=args[0], choices=", ".join(Membership.Role.values)
                )
            )
        refusal = gettext("Only the incident's commanders may assign roles.")
        _call(services.assign_role, incident, _user(incident, user, name, refusal), role, user)
    elif command == "impact":
        name, level, *regions = _args(args, 2, "/impact <service> <level> [regions]")
        service = services.find_service(name)
        if service is None:
            raise ValidationError(gettext("Unknown service {name!r}.").format(name=name))
        level = level.lower()
        if level in ("resolved", "none", "operational", "end"):
            _call(services.end_impacts_for_service, incident, service, user)
        else:
            level = LEVEL_ALIASES.get(level, level)
            if level not in Impact.Level.values:
                raise ValidationError(
                    gettext("Unknown level {args!r}. Use one of: {choices}.").format(
                        args=args[1], choices=", ".join(Impact.Level.values)
                    )
                )
            _call(services.add_impact, incident, user, service=service, level=level, regions=regions)
    elif command in ("ack", "acknowledge"):
        if incident.acknowledged_at:
            when = zoned(incident.acknowledged_at)
            raise ValidationError(
                gettext("{reference} was already acknowledged at {when}.").format(
                    reference=incident.reference, when=when
                )
            )
        _call(services.acknowledge, incident, user)
    elif command == "at":
        occurred_at, note = _backdated(text[1:].split(None, 1)[1] if args else "")
        if occurred_at > timezone.now():
            shown = timezone.localtime(occurred_at).strftime("%Y-%m-%d %H:%M")
            raise ValidationError(
                _("%(time)s is in the future: an event is logged once it has happened.") % {"time": shown}
            )
        _call(services.log_entry, incident, user, note, occurred_at=occurred_at)
    elif command == "help":
        raise ValidationError(HELP)
    else:
        raise ValidationError(gettext("Unknown command /{command}. {help}").format(command=command, help=HELP))
    return incident.timeline.order_by("-id").first()


def _call(operation, *args, **kwargs):
    try:
        return operation(*args, **kwargs)
    except ValidationError as exc:
        raise ValidationError(_flatten(exc)) from exc
