"""How long something took, and when, for people: "2 d 3 h", "5 h 07 min", "12 min"; a moment
with an unambiguous zone, "2025-01-28 09:30 UTC+08:00". Used by the timeline's texts, the
review's metrics, the clocks' time left and every time shown with its zone."""

from django.utils import dateformat, timezone
from django.utils.translation import gettext


def duration(delta):
    """'2 d 3 h', '5 h 07 min', '12 min' for a positive timedelta, in the active language."""
    seconds = max(0, int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return gettext("{days} d {hours} h").format(days=days, hours=hours)
    if hours:
        return gettext("{hours} h {minutes} min").format(hours=hours, minutes=f"{minutes:02d}")
    return gettext("{minutes} min").format(minutes=minutes)


def shown_duration(delta, missing="—"):
    """The duration, or `missing` where there is none to measure (None)."""
    return duration(delta) if delta is not None else missing


def zone_label(moment):
    """'UTC', 'UTC+08:00', 'UTC-03:30': the offset of an aware local time. Zone abbreviations
    are ambiguous ("CST" is China, US Central and Cuba), offsets are not."""
    offset = moment.utcoffset()
    if not offset:
        return "UTC"
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def zoned(moment, format="Y-m-d H:i", zone=None):
    """The moment in the current (viewer's) zone, or `zone`, in a Django date format, followed
    by its UTC offset: the zone every time on one page is shown in."""
    if moment is None:
        return ""
    local = timezone.localtime(moment, zone)
    return f"{dateformat.format(local, format)} {zone_label(local)}"
