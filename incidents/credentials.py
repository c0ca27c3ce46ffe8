"""What proves who a caller is, besides the password: API tokens and the session's lifetime.

API tokens (`Authorization: Token <key>`, docs/api.md) are stored as a SHA-256 of the key
(ApiToken), so the table is no credential by itself; the key is shown once when issued. A key
is 40 random hex characters, the format DRF's authtoken used, so keys issued before hashed
storage (migrated by incidents/migrations/0012) keep working. A password change or a
deactivation ends every token of the user: whoever took over the account, or left, keeps no
way in.

Each user may hold several named tokens (the tokens page /account/tokens/ and
/api/v1/tokens/), each read-only or read-write, optionally expiring; a read-only token is
refused (403) on anything but a safe method (incidents.signin.ThrottledTokenAuthentication).
Issuing and revoking are recorded in the audit log.

Sessions (settings SESSION_*): the signed-in time is stamped into the session at sign-in so
config.middleware.SessionLifetimeMiddleware can end a session past its absolute lifetime
however active it stays.
"""

import hashlib
import secrets
import time
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.db.models.signals import pre_save
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from incidents import auditlog
from incidents.models import ApiToken, AuditEvent

# `last_used` is written at most this often per token: not a database write per API call.
LAST_USED_PRECISION = timedelta(minutes=1)
# The session key holding when its user signed in (epoch seconds).
SIGNED_IN_AT = "warroom_signed_in_at"


def hash_key(key):
    return hashlib.sha256(key.encode()).hexdigest()


def issue_token(user, expires_at=None, *, name="API token", scope=ApiToken.Scope.READ_WRITE, by=None):
    """A new token for `user`; returns (ApiToken, key). The key is not stored: show it now.
    Recorded in the audit log (`by`: who issued it, when not the request's user)."""
    key = secrets.token_hex(20)
    token = ApiToken.objects.create(
        user=user, name=name, scope=scope, key_hash=hash_key(key), prefix=key[:8], expires_at=expires_at
    )
    auditlog.record(
        AuditEvent.Action.TOKEN_CREATED,
        actor=by,
        subject=f"token {token.prefix}… of {user.get_username()}",
        detail={"name": name, "scope": scope, "expires_at": expires_at},
    )
    return token, key


def create_personal_token(user, *, name, scope, expires_at=None):
    """A token the user issues for themselves (the tokens page, the API)."""
    if not user.is_active:
        raise PermissionDenied(_("A deactivated account cannot hold tokens."))
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": _("Name the token after what will use it.")})
    if scope not in ApiToken.Scope.values:
        raise ValidationError({"scope": _("Choose read only or read and write.")})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": _("An expiry must lie in the future.")})
    return issue_token(user, expires_at, name=name, scope=scope, by=user)


def revoke_token(token, by):
    """End one token (its holder, or a superuser)."""
    if token.user_id != by.pk and not by.is_superuser:
        raise PermissionDenied(_("Only the token's holder may revoke it."))
    auditlog.record(
        AuditEvent.Action.TOKEN_REVOKED,
        actor=by,
        subject=f"token {token.prefix}… of {token.user.get_username()}",
        detail={"name": token.name},
    )
    token.delete()


def revoke_tokens(user):
    """End every token of `user`; returns how many there were."""
    deleted, _counts = ApiToken.objects.filter(user=user).delete()
    if deleted:
        auditlog.record(
            AuditEvent.Action.TOKEN_REVOKED,
            subject=f"every token of {user.get_username()}",
            detail={"count": deleted, "why": "password changed or account deactivated"},
        )
    return deleted


class HashedTokenAuthentication(TokenAuthentication):
    """DRF's `Authorization: Token <key>`, looked up by the key's hash."""

    keyword = "Token"
    model = ApiToken

    def authenticate_credentials(self, key):
        token = ApiToken.objects.select_related("user").filter(key_hash=hash_key(key)).first()
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        now = timezone.now()
        if token.expires_at is not None and token.expires_at <= now:
            raise exceptions.AuthenticationFailed(_("This token has expired: ask for a new one."))
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        if token.last_used is None or token.last_used < now - LAST_USED_PRECISION:
            # Conditional, so concurrent calls write once.
            ApiToken.objects.filter(pk=token.pk).filter(
                Q(last_used__isnull=True) | Q(last_used__lt=now - LAST_USED_PRECISION)
            ).update(last_used=now)
        return token.user, token


@receiver(pre_save, sender=get_user_model(), dispatch_uid="warroom-end-tokens-on-password-change")
def end_tokens_when_password_changes_or_user_leaves(sender, instance, update_fields=None, raw=False, **kwargs):
    """A signal rather than a service: passwords change through the admin, `changepassword`,
    the password-change page and `set_password` anywhere, and every path must end the tokens."""
    if raw or instance.pk is None:
        return
    if update_fields is not None and not {"password", "is_active"} & set(update_fields):
        return  # e.g. last_login at sign-in: nothing that ends tokens
    before = sender.objects.filter(pk=instance.pk).values("password", "is_active").first()
    if before is None:
        return
    if before["password"] != instance.password or (before["is_active"] and not instance.is_active):
        revoke_tokens(instance)


@receiver(user_logged_in, dispatch_uid="warroom-stamp-signed-in-at")
def stamp_signed_in_at(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        request.session[SIGNED_IN_AT] = int(time.time())
