"""Who may see and do what.

Global roles are Django groups (viewer, responder, commander, comms, and the security group
named by WARROOM_SECURITY_GROUP); roles on one incident are Memberships. Every view and API
endpoint asks these functions, so the rules live here only. Visibility itself is
`Incident.objects.visible_to(user)`, and `get_incident_for(user, pk)` turns "not visible"
into a 404 so that a confidential incident's existence never leaks.
"""

import re

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404

VIEWER = "viewer"
RESPONDER = "responder"
COMMANDER = "commander"
COMMS = "comms"
GLOBAL_ROLES = (VIEWER, RESPONDER, COMMANDER, COMMS)

# Roles on an incident that may write to its timeline, and that may command it.
WORKING_ROLES = {"commander", "deputy", "comms_lead", "scribe", "responder"}
COMMANDING_ROLES = {"commander", "deputy"}
# Roles on an incident that may write its communications.
COMMS_ROLES = {"commander", "deputy", "comms_lead"}


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


def require(allowed, message):
    """Refuse a domain operation (PermissionDenied) unless `allowed`; services call it first."""
    if not allowed:
        raise PermissionDenied(message)


def _in_group(user, *names):
    """Signed in, and a superuser or in one of these global groups."""
    return user.is_authenticated and (user.is_superuser or bool(group_names(user) & set(names)))


# Accounts and the organisation-wide audit log ---------------------------------------------------


def can_read_audit_log(user):
    """The organisation-wide audit log, its filters and exports: the security group and superusers."""
    return user.is_authenticated and user.is_active and (user.is_superuser or is_security_member(user))


def can_unlock_signin(user):
    """Lifting the sign-in throttle's pause on an account or address."""
    return can_read_audit_log(user)


def can_reset_two_factor(user):
    """Removing someone's second factor (a lost phone): the security group and superusers."""
    return can_read_audit_log(user)


def two_factor_required(user):
    """Accounts that must sign in with a second factor when WARROOM_2FA_REQUIRED is on."""
    return settings.WARROOM_2FA_REQUIRED and (user.is_superuser or is_security_member(user))


# The incident and its timeline ----------------------------------------------------------------


def can_declare(user):
    return _in_group(user, COMMANDER)


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


def is_on_call(user):
    """In the on-call group (WARROOM_ONCALL_GROUP): the people paged when a SEV1 or SEV2
    incident is not acknowledged (incidents.reminders.sweep.unacknowledged)."""
    return settings.WARROOM_ONCALL_GROUP in group_names(user)


def _may_see(user, incident):
    # Services are called with incidents a view or viewset already fetched through
    # get_incident_for; a rule that reaches beyond the commanders still says it itself.
    if not incident.confidential or user.is_superuser or is_security_member(user):
        return True
    return bool(incident_roles(user, incident))


def can_acknowledge(user, incident):
    """Acknowledge the incident: those who command it, and whoever is paged for it (the on-call
    group, who are told to acknowledge it)."""
    if not user.is_authenticated:
        return False
    return can_command(user, incident) or (is_on_call(user) and _may_see(user, incident))


def can_take_command(user, incident):
    """Make oneself the incident's commander: the same people as may acknowledge it. The
    on-call person paged for an unacknowledged incident is told to take command; anyone else
    hands command over only by commanding it (hand_over_command)."""
    return can_acknowledge(user, incident)


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
    return _in_group(user, COMMANDER)


# Communications (incidents.comms) and maintenance (statuspage) --------------------------------


def can_write_communication(user, incident):
    """Draft, edit, submit, schedule, publish and translate communications on this incident:
    comms staff, the commander group and the incident's commanders and comms lead."""
    if _in_group(user, COMMS, COMMANDER):
        return True
    return bool(incident_roles(user, incident) & COMMS_ROLES)


def can_approve_communication(user, incident):
    # The same people as write; approving keeps its two-person rule for external audiences
    # (approval_needs_someone_else below).
    return can_write_communication(user, incident)


def approval_needs_someone_else(user, communication):
    """The two-person rule: what the public, customers or regulators read is approved by
    someone who neither wrote nor changed its text (its author and every later editor,
    translations included). WARROOM_COMMS_SELF_APPROVAL lifts the rule for small teams."""
    if settings.WARROOM_COMMS_SELF_APPROVAL or not communication.needs_second_person:
        return False
    return communication.wrote(user)


def may_approve(user, communication):
    """Approve this communication now: someone who may approve on its incident, unless the
    two-person rule keeps them off it. Buttons are shown only to them."""
    return can_approve_communication(user, communication.incident) and not approval_needs_someone_else(
        user, communication
    )


def approvers_to_tell(communication):
    """The people told when a communication goes into review, as a queryset of users: active
    members of the comms group and the incident's comms lead (of a confidential incident only
    its members, as with reminders), and none of those who wrote or changed its text (they
    know; under the two-person rule they may not approve)."""
    from django.contrib.auth import get_user_model
    from django.db.models import Q

    from incidents.models import Membership

    incident = communication.incident
    lead = Membership.objects.filter(incident=incident, role=Membership.Role.COMMS_LEAD).values("user_id")
    people = get_user_model().objects.filter(is_active=True).filter(Q(groups__name=COMMS) | Q(pk__in=lead))
    if incident.confidential:
        # As with reminders, nobody hears of a confidential incident but its members.
        people = people.filter(pk__in=Membership.objects.filter(incident=incident).values("user_id"))
    writers = {communication.author_id, *communication.contributors} - {None}
    return people.exclude(pk__in=writers).distinct().order_by("username")


def communications_awaiting_approval(user):
    """The communications in review that this user may approve (may_approve), on incidents
    they may see: their "Awaiting my approval" list and its count in the header. Two queries
    and a look at each communication in review they may see (a handful at any time)."""
    from incidents.models import Communication, Incident

    if not user.is_authenticated:
        return []
    in_review = Communication.objects.filter(
        status=Communication.Status.IN_REVIEW, incident__in=Incident.objects.visible_to(user)
    )
    if not _in_group(user, COMMS, COMMANDER):
        # Approving without a global role: the incident's commanders and comms lead.
        in_review = in_review.filter(
            incident__memberships__user=user, incident__memberships__role__in=COMMS_ROLES
        ).distinct()
    return [
        c
        for c in in_review.select_related("incident", "author").order_by("-updated_at", "-id")
        if not approval_needs_someone_else(user, c)
    ]


def can_manage_communication_templates(user):
    """Write the template library: comms staff and commanders."""
    return _in_group(user, COMMS, COMMANDER)


def can_manage_recipient_lists(user):
    """See and change the recipient lists of customer, regulator and partner messages (names
    and addresses of people outside the company): comms staff and commanders."""
    return _in_group(user, COMMS, COMMANDER)


def can_see_delivery_address(user, delivery):
    """Whether a communication's delivery (AudienceDelivery) shows `user` the address and name
    it went to, on the communication's page, in the API and in the audit trail; else it is
    masked (j•••@acme.example; status, error and attempts stay). A recipient list's own member:
    everyone who is shown the deliveries (those who write the communication chose its lists).
    A followed private status page's subscriber: only those who manage the lists, who may see
    who they reach; the incident's comms lead or the security group may not."""
    return not delivery.member_ref or can_manage_recipient_lists(user)


def can_manage_maintenance(user):
    """Schedule, change and cancel maintenance on the status page: comms staff and commanders."""
    return _in_group(user, COMMS, COMMANDER)


def can_manage_status_pages(user):
    """Define status pages (components, host, visibility, allowed groups) and make or revoke
    their access links: comms staff and superusers."""
    return _in_group(user, COMMS)


def is_status_page_staff(user):
    """Signed-in staff, who see every private status page: superusers, Django staff and anyone
    holding one of Warroom's global roles (not a customer who signs in through SSO alone)."""
    return _is_status_page_staff(user, lambda: group_names(user))


def _is_status_page_staff(user, names):
    """`names()`: the user's group names (called only when the flags do not settle it)."""
    return (
        user.is_authenticated
        and user.is_active
        and (user.is_superuser or user.is_staff or bool(names() & set(GLOBAL_ROLES)))
    )


def _sees_private_page(page, user, access_link, *, names, in_allowed_group):
    """The rule of a private status page, for one visitor or subscriber: the access link it
    came in by, not revoked; else its user, signed-in and active, who is staff or a member of one
    of the page's allowed groups. `names()` gives the user's group names and
    `in_allowed_group()` whether the user is in one of the page's allowed groups: the one-visitor
    check reads them from the database when asked, the batch check from what it read for all
    (can_view_status_page, status_page_visits_allowed)."""
    if access_link is not None and access_link.page_id == page.pk and access_link.revoked_at is None:
        return True
    if user is None:
        return False
    if _is_status_page_staff(user, names):
        return True
    return user.is_authenticated and user.is_active and in_allowed_group()


def can_view_status_page(user, page, token=None, access_link=None):
    """A public page: everyone. A private page: signed-in staff, members of its allowed groups
    (read from the database on every call: a group lost through SSO counts at once) and holders
    of one of its access links not revoked. `page` is a statuspage StatusPage; `token` the raw
    access-link token the visitor presented, or `access_link` the link a subscriber came in by.
    Checked on every request (HTML, JSON, feeds, subscribing); for many subscribers at once,
    status_page_visits_allowed says the same in a fixed number of queries."""
    if page.visibility != "private":
        return True
    allowed = _sees_private_page(
        page,
        user,
        access_link,
        names=lambda: group_names(user),
        in_allowed_group=lambda: page.allowed_groups.filter(user=user).exists(),
    )
    if allowed:
        return True
    if token and user is not None:
        from hashlib import sha256

        digest = sha256(token.encode()).hexdigest()
        return page.access_links.filter(token_hash=digest, revoked_at__isnull=True).exists()
    return False


def status_page_visits_allowed(visits):
    """For each (page, user, access_link) of `visits`, whether can_view_status_page lets that
    user or link see that page: the same rule (_sees_private_page), with the users' groups and
    the private pages' allowed groups read in two queries whatever their number. For a private
    page's subscribers when an update or a recipient list's message goes out. Returns a list of
    booleans in the order of `visits`."""
    visits = list(visits)
    private = {page.pk: page for page, _user, _link in visits if page.visibility == "private"}
    users = {
        user.pk
        for page, user, _link in visits
        if page.pk in private and user is not None and user.is_authenticated and user.is_active
    }
    names, group_ids = {}, {}
    if users:
        from django.contrib.auth.models import Group

        memberships = Group.user_set.through.objects.filter(user_id__in=users)
        for user_id, group_id, name in memberships.values_list("user_id", "group_id", "group__name"):
            names.setdefault(user_id, set()).add(name)
            group_ids.setdefault(user_id, set()).add(group_id)
    allowed_groups = {}
    if users:
        # The pages' allowed groups, read through the many-to-many table (incidents/ does not
        # import statuspage/, so the field is found on the page's model).
        field = next(iter(private.values()))._meta.get_field("allowed_groups")
        page_column, group_column = field.m2m_field_name(), field.m2m_reverse_field_name()
        rows = field.remote_field.through.objects.filter(**{f"{page_column}__in": list(private)})
        for page_id, group_id in rows.values_list(page_column, group_column):
            allowed_groups.setdefault(page_id, set()).add(group_id)
    empty = frozenset()
    return [
        page.pk not in private
        or _sees_private_page(
            page,
            user,
            link,
            names=lambda user=user: frozenset(names.get(user.pk, empty)),
            in_allowed_group=lambda page=page, user=user: bool(
                group_ids.get(user.pk, empty) & allowed_groups.get(page.pk, empty)
            ),
        )
        for page, user, link in visits
    ]


# Security (incidents.security) ----------------------------------------------------------------


def can_manage_security(user, incident):
    """Record mitigations, the exposure assessment and regulatory clocks: the incident's
    commanders (and the commander group), the security group and superusers."""
    return can_command(user, incident) or is_security_member(user)


def can_record_awareness(user, incident):
    """Record or correct when the organisation became aware of a breach (legal clocks count
    from it): the incident's commanders and the security group, who run the legal clocks and
    must not wait for a commander to start them."""
    return can_manage_security(user, incident)


def can_correct_time(user, incident, field):
    """Correct one of the incident's recorded times: its commanders; the awareness time also
    the security group (can_record_awareness)."""
    if field == "aware_at":
        return can_record_awareness(user, incident)
    return can_command(user, incident)


def can_audit_security(user, incident):
    """The audit page and export: the same people who manage the incident's security records."""
    return can_manage_security(user, incident)


# Post-incident review (incidents.review) ------------------------------------------------------


def can_edit_review(user, incident):
    """Start and edit the review and add action items: those who work on the incident."""
    return can_log(user, incident)


def can_publish_review(user, review):
    """Publish and reopen the review: the incident's commanders and the review's owner."""
    if not user.is_authenticated:
        return False
    # The owner was chosen to run the review (and can see the incident: review services check it).
    return can_command(user, review.incident) or review.owner_id == user.pk


def can_change_action_item(user, item):
    """Mark done, won't do or open again: those who work on the incident, and the item's owner."""
    if not user.is_authenticated:
        return False
    return can_log(user, item.incident) or item.owner_id == user.pk


def can_edit_action_item(user, item):
    """Change what the item says (title, owner, due date...): those who work on the incident."""
    return can_edit_review(user, item.incident)


# Alerts (incidents.alerts) ----------------------------------------------------------------------


def can_manage_alert_sources(user):
    """Connect, change, pause and rotate alert sources and edit their routing rules: commanders."""
    return _in_group(user, COMMANDER)


def can_see_alerts(user):
    """The alert list and triage: anyone with a global role (or the security group). Alerts of
    an incident follow it: those of a hidden incident stay hidden (Alert.objects.visible_to)."""
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or bool(group_names(user) & {*GLOBAL_ROLES, settings.WARROOM_SECURITY_GROUP})


def can_triage_alerts(user):
    """Attach an unrouted alert to an incident from the triage list: responders and commanders
    (attaching also needs can_log on the incident)."""
    return _in_group(user, RESPONDER, COMMANDER)


def can_open_incident_from_alert(user):
    """Open an incident from an unrouted alert in the triage list: responders and commanders.
    A commander commands what they open; an incident a responder opens is declared in the name
    of the alert's source owner (a commander, who commands it) and the responder joins it."""
    return _in_group(user, RESPONDER, COMMANDER)


def commander_for_alert(user, source_owner):
    """Who commands an incident `user` opens from an alert of a source owned by
    `source_owner`: the user if they may declare, else the owner if they still may; None when
    neither may (a commander has to open it)."""
    if can_declare(user):
        return user
    if source_owner is not None and can_open_incident_from_alert(user) and can_declare(source_owner):
        return source_owner
    return None


# Runbooks (runbooks) ----------------------------------------------------------------------------


def can_author_runbooks(user):
    """Write and import runbooks into the library: the commander group and superusers."""
    return _in_group(user, COMMANDER)


# A reminder about an action item names it so (incidents/review/reminders.py).
ACTION_ITEM_SUBJECT = re.compile(r"action:([0-9]{1,18})")


def owned_action_items(user, pairs):
    """Those of these (incident id, reminder subject) pairs whose subject is an action item of
    that incident owned by this user, who may still see the incident. One query (none when no
    subject names an action item)."""
    from incidents.models import ActionItem, Incident

    wanted = set()
    for incident_id, subject in pairs:
        if m := ACTION_ITEM_SUBJECT.fullmatch(subject or ""):
            wanted.add((incident_id, int(m[1])))
    if not wanted or not user.is_authenticated:
        return set()
    mine = ActionItem.objects.filter(
        pk__in={pk for _, pk in wanted}, owner=user, incident__in=Incident.objects.visible_to(user)
    ).values_list("incident_id", "pk")
    return {(incident_id, f"action:{pk}") for incident_id, pk in mine if (incident_id, pk) in wanted}


def can_snooze(user, incident, subject, owned=None):
    """Snooze an incident's reminder: its responders and commanders; an action item's owner the
    reminders of their own item, even without a role on the incident. `owned` is what
    owned_action_items answered for a whole page of reminders (one query for the page)."""
    if can_log(user, incident):
        return True
    if owned is None:
        owned = owned_action_items(user, [(incident.pk, subject)])
    return (incident.pk, subject) in owned


class IncidentIdConverter:
    """`<incident:pk>` in URL patterns: an incident's opaque key, which every link carries, or,
    for links made before keys existed, its number. Views resolve either through
    get_incident_for, so a hidden incident answers exactly like a missing one."""

    regex = "[0-9]{1,18}|[a-z][a-z0-9]{11}"

    def to_python(self, value):
        return int(value) if value.isdigit() else value

    def to_url(self, value):
        return str(getattr(value, "key", value))


def incident_lookup(identifier, prefix=""):
    """Filter arguments finding an incident by key (a string of letters and digits) or by its
    number (an int, or digits)."""
    if isinstance(identifier, str) and not identifier.isdigit():
        return {f"{prefix}key": identifier}
    return {f"{prefix}pk": identifier}


def get_incident_for(user, pk, queryset=None):
    """The incident with this key (or number) if the user may see it, else 404 (never 403)."""
    from incidents.models import Incident

    qs = queryset if queryset is not None else Incident.objects.all()
    try:
        return qs.visible_to(user).get(**incident_lookup(pk))
    except (Incident.DoesNotExist, ValueError, TypeError):
        raise Http404("No such incident.") from None
