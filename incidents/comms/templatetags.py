"""Template tags of communications (library `comms`, registered in settings.TEMPLATES: a wing
has no templatetags package of its own)."""

from django import template
from django.utils import timezone

from incidents.comms.reminders import cadence_minutes, next_update_due
from incidents.comms.services import CADENCE_CHOICES
from incidents.models import Snooze
from incidents.templatetags.warroom import elapsed

register = template.Library()

SOON = 10 * 60  # seconds: "due soon" from here on


@register.simple_tag
def next_update(incident):
    """When the incident's next public update is due, for the war-room header (one query);
    None when it has no update cadence (SEV4, not open)."""
    due = next_update_due(incident)
    if due is None:
        return None
    now = timezone.now()
    left = (due - now).total_seconds()
    return {
        "due": due,
        "overdue": left <= 0,
        "soon": 0 < left <= SOON,
        "text": elapsed(due, now) if left <= 0 else elapsed(now, due),
        "snooze_minutes": Snooze.MINUTES,
        "cadence": cadence_minutes(incident.severity, chosen=incident.update_cadence_minutes),
        "chosen": incident.update_cadence_minutes,
        "default": cadence_minutes(incident.severity),
        "cadence_choices": CADENCE_CHOICES,
    }
