"""Who may see and do what.

Global roles are Django groups (viewer, responder, commander, comms, and the security group
named by WARROOM_SECURITY_GROUP); roles on one incident are Memberships. Every view and API
endpoint asks these functions, so the rules live here only. Visibility itself is
`Incident.objects.visible_to(user)`, and `get_incident_for(user, pk)` turns "not visible"
into a 404 so that a confidential incident's existence never leaks.
"""

from django.conf import settings
from django.http import Http404

VIEWER = "viewer"
RESPONDER = "responder"
COMMANDER = "commander"
COMMS = "comms"
GLOBAL_ROLES = (VIEWER, RESPONDER, COMMANDER, COMMS)

# Roles on an incident that may write to its timeline, and that may command it.
WORKING_ROLES = {"commander", "deputy", "comms_lead", "scribe", "responder"}
COMMANDING_ROLES = {"commander", "deputy"}


def group_names(user):
    """The user's group names, fetched once per request and cached on the user object."""
    if not user.is_authenticated:
        return frozenset()
    cached = getattr(user, "_warroom_groups", None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True))
        user._warroom_groups = cached
    return cached


def is_security_member(user):
    return settings.WARROOM_SECURITY_GROUP in group_names(user)


def incident_roles(user, incident):
    """The roles this user holds on the incident (uses prefetched memberships when present)."""
    if not user.is_authenticated:
        return set()
    return {m.role for m in incident.memberships.all() if m.user_id == user.pk}


def can_declare(user):
    return user.is_authenticated and (user.is_superuser or COMMANDER in group_names(user))


def can_log(user, incident):
    """Write timeline entries and work on the incident."""
    if not user.is_authenticated:
        return False
    if user.is_superuser or group_names(user) & {RESPONDER, COMMANDER}:
        return True
    return bool(incident_roles(user, incident) & WORKING_ROLES)


def can_command(user, incident):
    """Change status, severity, roles, impacts and fields."""
    if not user.is_authenticated:
        return False
    if user.is_superuser or COMMANDER in group_names(user):
        return True
    return bool(incident_roles(user, incident) & COMMANDING_ROLES)


def can_edit_entry(user, entry):
    """Change the text of a timeline note (the earlier text is kept): its author, while they
    may still work on the incident (a responder taken off it, now only a reader, writes no
    more), or a commander."""
    if not user.is_authenticated:
        return False
    if user.is_superuser or can_command(user, entry.incident):
        return True
    return entry.author_id == user.pk and can_log(user, entry.incident)


def can_manage_services(user):
    return user.is_authenticated and (user.is_superuser or COMMANDER in group_names(user))


def get_incident_for(user, pk, queryset=None):
    """The incident with this primary key if the user may see it, else 404 (never 403)."""
    from incidents.models import Incident

    qs = queryset if queryset is not None else Incident.objects.all()
    try:
        return qs.visible_to(user).get(pk=pk)
    except (Incident.DoesNotExist, ValueError, TypeError):
        raise Http404("No such incident.") from None
