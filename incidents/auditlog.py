"""The organisation-wide audit log (AuditEvent): sign-ins and their failures, lockouts and
unlocks, two-factor changes, API tokens, group and account-flag changes, every change made in
the Django admin, and exports downloaded, each with who, what, when and the client's address.

`record()` writes one event; the receivers below catch what Django itself signals (sign-in,
failed sign-in, sign-out, the admin's LogEntry, group membership, account flags), so no view
can forget them. The request being served is kept in a context variable by
`AuditContextMiddleware`, so a receiver that only sees a model (a group added in the admin)
still knows who did it and from where.

The log is append-only (incidents.models.AuditEventQuerySet, and a trigger on PostgreSQL); the
periodic `purge_audit_log` task deletes what is older than WARROOM_AUDIT_RETENTION_DAYS.
The incident-level audit trail (incidents/security/audit.py) stays what it is: the incident's
own timeline, with old and new values.
"""

import contextvars
import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save
from django.dispatch import receiver
from django.utils import timezone

from incidents.models import AuditEvent, Membership
from incidents.ratelimit import client_address

log = logging.getLogger("warroom.audit")
Action = AuditEvent.Action

# The request this thread (or task) is serving, set by AuditContextMiddleware.
current_request = contextvars.ContextVar("warroom_audit_request", default=None)
# Account flags whose change is recorded (as admin or anywhere else).
ACCOUNT_FLAGS = ("is_active", "is_staff", "is_superuser")


class AuditContextMiddleware:
    """Keeps the request in `current_request` while it is served (after authentication)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            current_request.reset(token)


def _actor(request):
    user = getattr(request, "user", None) if request is not None else None
    # request.user may be a lazy object: reading is_authenticated resolves it once.
    if user is not None and user.is_authenticated:
        return user
    return None


def record(action, *, actor=None, subject="", detail=None, request=None):
    """Write one event. The actor defaults to the request's signed-in user, the address to
    the request's client (the request defaults to the one being served)."""
    request = request if request is not None else current_request.get()
    if actor is None:
        actor = _actor(request)
    event = AuditEvent.objects.create(
        action=action,
        actor_id=actor.pk if actor is not None else None,
        actor_name=actor.get_username() if actor is not None else "",
        subject=str(subject)[:200],
        address=client_address(request)[:64] if request is not None else "",
        detail=detail or {},
    )
    log.info("audit %s by %s: %s", action, event.actor_name or "-", event.subject)
    return event


def user_subject(user):
    return f"user {user.get_username()}"


# What Django signals -------------------------------------------------------------------------


@receiver(user_logged_in, dispatch_uid="warroom-audit-signed-in")
def signed_in(sender, request, user, **kwargs):
    backend = getattr(user, "backend", "") or ""
    detail = {"via": "openid_connect" if backend.endswith("OpenIDConnectBackend") else "password"}
    record(Action.SIGNED_IN, actor=user, subject=user_subject(user), detail=detail, request=request)


@receiver(user_login_failed, dispatch_uid="warroom-audit-signin-failed")
def signin_failed(sender, credentials, request=None, **kwargs):
    if "oidc_claims" in credentials:
        return  # recorded with the provider's reason by incidents.signin.Attempt.failed
    username = credentials.get("username") or credentials.get(get_user_model().USERNAME_FIELD) or ""
    refusal = getattr(request, "signin_refused", None) if request is not None else None
    detail = {"refused": refusal.reason, "retry_after": refusal.retry_after} if refusal else {}
    record(Action.SIGNIN_FAILED, subject=f"user {username}"[:200], detail=detail, request=request)


@receiver(user_logged_out, dispatch_uid="warroom-audit-signed-out")
def signed_out(sender, request, user, **kwargs):
    if user is not None:
        record(Action.SIGNED_OUT, actor=user, subject=user_subject(user), request=request)


@receiver(post_save, sender=LogEntry, dispatch_uid="warroom-audit-admin-change")
def admin_changed(sender, instance, created, raw=False, **kwargs):
    if raw or not created:
        return
    record(
        Action.ADMIN_CHANGE,
        actor=instance.user,
        subject=f"{instance.content_type.app_label}.{instance.content_type.model} {instance.object_repr}"[:200]
        if instance.content_type_id
        else instance.object_repr[:200],
        detail={
            "action": {1: "added", 2: "changed", 3: "deleted"}.get(instance.action_flag, instance.action_flag),
            "object_id": instance.object_id,
            "change": instance.get_change_message(),
        },
    )


@receiver(m2m_changed, sender=get_user_model().groups.through, dispatch_uid="warroom-audit-groups")
def groups_changed(sender, instance, action, reverse, model, pk_set, **kwargs):
    """A user's groups (Warroom's global roles) changed, from either side (user.groups.add or
    group.user_set.add), in the admin or anywhere else."""
    if action not in ("post_add", "post_remove", "pre_clear"):
        return
    User = get_user_model()
    if action == "pre_clear":
        pk_set = set(
            (instance.user_set if reverse else instance.groups).values_list("pk", flat=True)
        )  # cleared: what was there
        verb = "removed"
    else:
        verb = "added" if action == "post_add" else "removed"
    if not pk_set:
        return
    if reverse:  # group.user_set changed: one event per user
        for user in User.objects.filter(pk__in=pk_set):
            record(Action.GROUPS_CHANGED, subject=user_subject(user), detail={verb: [instance.name]})
    else:
        names = sorted(Group.objects.filter(pk__in=pk_set).values_list("name", flat=True))
        record(Action.GROUPS_CHANGED, subject=user_subject(instance), detail={verb: names})


@receiver(post_save, sender=Membership, dispatch_uid="warroom-audit-incident-role-added")
def incident_role_added(sender, instance, created, raw=False, **kwargs):
    if created and not raw:
        _incident_role(instance, "added")


@receiver(post_delete, sender=Membership, dispatch_uid="warroom-audit-incident-role-removed")
def incident_role_removed(sender, instance, **kwargs):
    _incident_role(instance, "removed")


def _incident_role(membership, verb):
    """A role on one incident given or taken, whichever path did it (services, admin): who holds
    what on which incident is part of who may see a confidential one."""
    incident, person = membership.incident, membership.user
    record(
        Action.INCIDENT_ROLE_CHANGED,
        subject=f"{incident.reference} {membership.role}: {person.get_username()}",
        detail={"incident": incident.key, "role": membership.role, verb: person.get_username()},
    )


@receiver(pre_save, sender=get_user_model(), dispatch_uid="warroom-audit-account-flags")
def account_flags_changed(sender, instance, raw=False, update_fields=None, **kwargs):
    if raw or instance.pk is None:
        return
    if update_fields is not None and not set(ACCOUNT_FLAGS) & set(update_fields):
        return  # e.g. last_login at every sign-in: no extra query
    before = sender.objects.filter(pk=instance.pk).values(*ACCOUNT_FLAGS).first()
    if before is None:
        return
    changes = {
        flag: {"old": before[flag], "new": getattr(instance, flag)}
        for flag in ACCOUNT_FLAGS
        if before[flag] != getattr(instance, flag)
    }
    if changes:
        record(Action.ACCOUNT_CHANGED, subject=user_subject(instance), detail=changes)


# Retention -----------------------------------------------------------------------------------


def purge(now=None):
    """Delete the events older than the retention; returns how many. Idempotent: a second run
    finds nothing older left."""
    days = settings.WARROOM_AUDIT_RETENTION_DAYS
    if not days:
        return 0  # 0 keeps everything
    cutoff = (now or timezone.now()) - timedelta(days=days)
    return AuditEvent.objects.purge_before(cutoff)


@shared_task(name="incidents.tasks.purge_audit_log")
def purge_audit_log():
    deleted = purge()
    if deleted:
        log.info("Purged %s audit events older than %s days", deleted, settings.WARROOM_AUDIT_RETENTION_DAYS)
    return deleted
