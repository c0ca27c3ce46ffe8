"""One throttle for every way in: the sign-in page, the admin's login, API tokens, sign-in with
OpenID Connect (incidents/sso.py: its callbacks count per client address, under the username
"openid-connect", without the per-username backoff) and whatever else calls
django.contrib.auth.authenticate.

Password sign-ins are throttled in an authentication backend (`ThrottledModelBackend`, first in
AUTHENTICATION_BACKENDS), so no login view can forget it; API tokens in
`ThrottledTokenAuthentication`. Every attempt is counted before the password is checked (a
burst of parallel guesses cannot slip past a limit) and a success gives its attempt back (a
team signing in from behind one office address is never held back). Counted:

- per (username, address): more than LOGIN_RATE_LIMIT attempts in LOGIN_RATE_WINDOW and that
  pair is refused (429) until its window ends. The user and the security group hear of it once
  per window (the `signin_locked_out` signal; the reminders wing writes the notifications).
- per address, all usernames and API tokens together: more than LOGIN_ADDRESS_RATE_LIMIT and
  the address is refused, so spreading guesses over many accounts does not help.
- per username, all addresses together: never a lock, or an outsider could keep the commanders
  out on the day of an attack. Past LOGIN_USER_BACKOFF_AFTER attempts, the username is only
  tried once every LOGIN_USER_BACKOFF_SECONDS (others get a 429 saying when to try again), so a
  guessing botnet slows to a crawl while the right password from another address still gets in.

Refusals that never reached the password check give their counts back: they taught the guesser
nothing, and a person retrying after the backoff must not use up their own pair's allowance.

Every failed sign-in is logged (logger "warroom.auth": username and address, never the password).
"""

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions, permissions, throttling
from rest_framework.settings import api_settings

from incidents import auditlog, shared_cache
from incidents.access import can_unlock_signin, require
from incidents.credentials import HashedTokenAuthentication
from incidents.models import ApiToken, AuditEvent
from incidents.ratelimit import client_address, count, give_back, key_part, reset
from incidents.signals import signin_locked_out

log = logging.getLogger("warroom.auth")


@dataclass(frozen=True)
class Refusal:
    """Why an attempt was refused before its credentials were checked, and for how long."""

    retry_after: int  # seconds
    reason: str  # "pair", "address" or "backoff"


def _username_key(username):
    return (username or "").strip().lower()[:150]


# Failures the audit log records elsewhere: passwords through Django's user_login_failed signal
# (incidents.auditlog), two-factor codes by incidents.twofactor with their step.
OWN_AUDIT = {"password", "two-factor code"}


class Attempt:
    """One sign-in attempt: `refusal` is set when it must not be tried; otherwise report how it
    went with `succeeded()` or `failed()`."""

    def __init__(self, request, username, per_username=True):
        self.request = request
        self.username = _username_key(username)
        self.address = client_address(request)
        self.per_username = per_username
        self.keys = []
        self.refusal = self._count()

    def _count(self):
        window = settings.LOGIN_RATE_WINDOW
        name, address = key_part(self.username), key_part(self.address)
        address_key = f"login:addr:{address}"
        pair_key = f"login:pair:{name}:{address}"
        user_key = f"login:user:{name}"
        self.keys = [pair_key, address_key, user_key] if self.per_username else [pair_key, address_key]
        # Count against every key (no short-circuit), so each limit sees each attempt.
        pair, per_address = count(pair_key, window), count(address_key, window)
        per_user = count(user_key, window) if self.per_username else 0
        if pair > settings.LOGIN_RATE_LIMIT:
            if pair == settings.LOGIN_RATE_LIMIT + 1:  # the first refusal of this pair's window
                self._locked_out()
            return self._refuse("pair", window, keep=pair_key)
        if per_address > settings.LOGIN_ADDRESS_RATE_LIMIT:
            if per_address == settings.LOGIN_ADDRESS_RATE_LIMIT + 1:
                self._address_locked_out()
            return self._refuse("address", window, keep=address_key)
        if per_user > settings.LOGIN_USER_BACKOFF_AFTER:
            backoff = settings.LOGIN_USER_BACKOFF_SECONDS
            if count(f"login:slow:{name}", backoff) > 1:
                return self._refuse("backoff", backoff)
        return None

    def _refuse(self, reason, retry_after, keep=None):
        # Refused before any check: nothing was learned, so only the limit that refused keeps
        # the attempt (a locked pair must not push its username into backoff for everyone).
        for key in self.keys:
            if key != keep:
                give_back(key)
        return Refusal(retry_after, reason)

    def _locked_out(self):
        log.warning(
            "Sign-in paused for username %r from %s for %s s after %s failed attempts",
            self.username,
            self.address,
            settings.LOGIN_RATE_WINDOW,
            settings.LOGIN_RATE_LIMIT,
        )
        auditlog.record(
            AuditEvent.Action.LOCKED_OUT,
            subject=f"user {self.username}",
            detail={"username": self.username, "address": self.address, "seconds": settings.LOGIN_RATE_WINDOW},
            request=self.request,
        )
        users = list(get_user_model().objects.filter(username__iexact=self.username, is_active=True))
        if users:
            signin_locked_out.send(sender=Attempt, users=users, address=self.address, window=settings.LOGIN_RATE_WINDOW)

    def _address_locked_out(self):
        log.warning("Sign-in paused for every username from %s for %s s", self.address, settings.LOGIN_RATE_WINDOW)
        auditlog.record(
            AuditEvent.Action.LOCKED_OUT,
            subject=f"address {self.address}",
            detail={"address": self.address, "seconds": settings.LOGIN_RATE_WINDOW},
            request=self.request,
        )

    def succeeded(self):
        for key in self.keys:
            give_back(key)

    def failed(self, how="password", reason=""):
        log.warning(
            "Failed sign-in (%s) for username %r from %s%s",
            how,
            self.username,
            self.address,
            f": {reason}" if reason else "",
        )
        if how not in OWN_AUDIT:
            auditlog.record(
                AuditEvent.Action.SIGNIN_FAILED,
                subject=f"{how} sign-in",
                detail={"method": how, "reason": reason},
                request=self.request,
            )

    def abandoned(self):
        """Neither success nor failure (the provider could not be reached): nothing was tried,
        so the attempt is given back like a success, but logged."""
        self.succeeded()


def password_signin_allowed(username):
    """Whether this username may sign in with a password: anyone, unless WARROOM_PASSWORD_SIGNIN
    is off (sign-in through the OpenID provider only); then only the break-glass accounts."""
    if settings.WARROOM_PASSWORD_SIGNIN:
        return True
    return _username_key(username) in {_username_key(name) for name in settings.WARROOM_BREAK_GLASS_USERS}


def recent_lockouts():
    """The pauses that may still hold (started within the last window), newest first."""
    since = timezone.now() - timedelta(seconds=max(settings.LOGIN_RATE_WINDOW, settings.LOGIN_USER_BACKOFF_SECONDS))
    return AuditEvent.objects.filter(action=AuditEvent.Action.LOCKED_OUT, at__gte=since).order_by("-at", "-id")


def unlock(by, *, username=None, address=None):
    """Lift the throttle's pause (an admin's unlock): for a username, its per-username counts and
    its pair with every address it was paused from in the last window; for an address, the
    per-address count. Recorded in the audit log. Counts each web process keeps for itself while
    the shared cache is down are forgotten here only for this process."""
    require(can_unlock_signin(by), gettext("Only superusers and the security group may unlock sign-in."))
    keys = []
    if username:
        username = _username_key(username)
        addresses = {event.detail.get("address") for event in recent_lockouts().filter(subject=f"user {username}")}
        name = key_part(username)
        keys += [f"login:user:{name}", f"login:slow:{name}"]
        keys += [f"login:pair:{name}:{key_part(a)}" for a in sorted(a for a in addresses if a)]
    if address:
        keys.append(f"login:addr:{key_part(address)}")
    if not keys:
        raise ValidationError(_("Name a username or an address to unlock."))
    for key in keys:
        reset(key)
    auditlog.record(
        AuditEvent.Action.UNLOCKED,
        actor=by,
        subject=f"user {username}" if username else f"address {address}",
        detail={"username": username, "address": address},
    )


class ThrottledModelBackend(ModelBackend):
    """Django's username and password check behind the throttle. A refused attempt raises
    PermissionDenied (authenticate() then stops and answers None) and leaves the refusal on the
    request as `signin_refused`, for the view to answer 429 rather than "wrong password"."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if request is None or username is None or password is None:
            # No client to count against (a management command, the test client's login()).
            return super().authenticate(request, username=username, password=password, **kwargs)
        attempt = Attempt(request, username)
        if attempt.refusal:
            request.signin_refused = attempt.refusal
            raise PermissionDenied(gettext("Too many sign-in attempts"))
        if not password_signin_allowed(username):
            # Counted like a wrong password (a guesser learns nothing either way), and told
            # apart on the page (incidents.views_auth) and in the log.
            request.password_signin_off = True
            attempt.failed(reason="password sign-in is off for this account (WARROOM_PASSWORD_SIGNIN)")
            return None
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None:
            attempt.failed()
        else:
            attempt.succeeded()
        return user


def signin_refused(request):
    """The Refusal left on this request by the throttle, or None."""
    return getattr(request, "signin_refused", None)


class ThrottledTokenAuthentication(HashedTokenAuthentication):
    """`Authorization: Token <key>` (stored hashed: incidents.credentials), with bad tokens
    counted against the client's address like bad passwords: an address that keeps guessing
    tokens gets 429s."""

    def authenticate(self, request):
        parts = authentication.get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None  # not a token: nothing to count
        # Only bad tokens are counted, after the lookup: a token is a long random key (guessing
        # is hopeless, so there is no race to close), and an API call with a good one should
        # cost no cache round trip. Past the address's limit a bad token gets 429, not 401.
        try:
            user, token = super().authenticate(request)
        except exceptions.AuthenticationFailed:
            address = client_address(request)
            log.warning("Failed sign-in (API token) from %s", address)
            if count(f"login:addr:{key_part(address)}", settings.LOGIN_RATE_WINDOW) > settings.LOGIN_ADDRESS_RATE_LIMIT:
                raise exceptions.Throttled(wait=settings.LOGIN_RATE_WINDOW) from None
            raise
        if token.scope == ApiToken.Scope.READ and request.method not in permissions.SAFE_METHODS:
            # Here rather than in each view's permissions: no endpoint can forget it.
            raise exceptions.PermissionDenied(_("This token is read-only: it may only read (GET, HEAD, OPTIONS)."))
        return user, token


class _CacheThatMayBeDown:
    """The shared cache (Redis) for DRF's throttles; this process's own memory while it is down
    (incidents.shared_cache), so the API stays up and stays throttled in an outage. Without
    CACHE_URL (the database cache) always this process's memory: a read and a write of the
    cache table on every API request would cost more than a per-process rate is worth losing."""

    _DOWN = object()

    def __init__(self):
        self.local = LocMemCache("warroom-api-throttle", {"OPTIONS": {"MAX_ENTRIES": 50_000}})

    def _shared(self):
        return not settings.CACHES["default"]["BACKEND"].endswith("db.DatabaseCache")

    def get(self, key, default=None):
        if not self._shared():
            return self.local.get(key, default)
        value = shared_cache.run(cache.get, key, default=self._DOWN)
        if value is self._DOWN:
            return self.local.get(key, default)
        return default if value is None else value

    def set(self, key, value, timeout):
        self.local.set(key, value, timeout)
        if self._shared():
            shared_cache.run(cache.set, key, value, timeout)


_throttle_cache = _CacheThatMayBeDown()
throttle_memory = _throttle_cache.local  # this process's share (tests clear it)


class _ClientAddress:
    cache = _throttle_cache

    def get_rate(self):
        # Read at each request, not once at import, so the rates follow the settings.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_ident(self, request):
        # DRF's own get_ident believes the whole X-Forwarded-For a client sends; the sign-in's
        # rule decides instead (BEHIND_PROXY: the hop our proxy wrote). DRF only makes the cache
        # key of it: digested like the sign-in's, so the cache holds no address.
        return key_part(client_address(request))


class AnonRateThrottle(_ClientAddress, throttling.AnonRateThrottle):
    """Requests without credentials, per client address (REST_FRAMEWORK "anon" rate)."""


class UserRateThrottle(_ClientAddress, throttling.UserRateThrottle):
    """Requests of a signed-in user or token, per user (REST_FRAMEWORK "user" rate)."""
