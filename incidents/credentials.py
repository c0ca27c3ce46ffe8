"""What proves who a caller is, besides the password: API tokens and the session's lifetime.

API tokens (`Authorization: Token <key>`, docs/api.md) are stored as a SHA-256 of the key
(ApiToken), so the table is no credential by itself; the key is shown once when issued. A key
is 40 random hex characters, the format DRF's authtoken used, so keys issued before hashed
storage (migrated by incidents/migrations/0012) keep working. A password change or a
deactivation ends every token of the user: whoever took over the account, or left, keeps no
way in.

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
from django.db.models import Q
from django.db.models.signals import pre_save
from django.dispatch import receiver
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from incidents.models import ApiToken

# `last_used` is written at most this often per token: not a database write per API call.
LAST_USED_PRECISION = timedelta(minutes=5)
# The session key holding when its user signed in (epoch seconds).
SIGNED_IN_AT = "warroom_signed_in_at"


def hash_key(key):
    return hashlib.sha256(key.encode()).hexdigest()


def issue_token(user, expires_at=None):
    """A new token for `user`; returns (ApiToken, key). The key is not stored: show it now."""
    key = secrets.token_hex(20)
    token = ApiToken.objects.create(user=user, key_hash=hash_key(key), prefix=key[:8], expires_at=expires_at)
    return token, key


def revoke_tokens(user):
    """End every token of `user`; returns how many there were."""
    deleted, _ = ApiToken.objects.filter(user=user).delete()
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
