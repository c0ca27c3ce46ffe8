from django import template
from django.utils import timezone
from django.utils.translation import gettext

from incidents.durations import duration, zoned
from incidents.markup import render_markdown

register = template.Library()


@register.filter
def markdown(text):
    return render_markdown(text)


@register.filter
def when(moment, format="Y-m-d H:i"):
    """A time in the viewer's zone with its UTC offset ("2025-01-28 09:30 UTC+08:00"), never a
    zone abbreviation such as "CST"."""
    if not moment:
        return ""
    return zoned(moment, format)


@register.filter
def elapsed(since, until=None):
    """'2 h 05 min' from a time until another (or now), for the war-room header."""
    if not since:
        return ""
    return duration((until or timezone.now()) - since)


@register.filter
def level_label(level):
    # "degraded_performance" -> "Degraded performance": Impact.Level's labels (and
    # "Operational"), which are in the catalog, so this shows in the viewer's language.
    return gettext(str(level).replace("_", " ").capitalize())
