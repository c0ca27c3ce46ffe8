"""Sign-in with OpenID Connect: the authorization code flow with PKCE against the provider at
OIDC_ISSUER_URL (docs/deploy.md "SSO setup").

The protocol is Authlib's: discovery, the authorization URL with state, nonce and an S256 code
challenge, the code exchange, the ID token's signature (the provider's published keys) and its
claims (issuer, audience, expiry, nonce). What is Warroom's own is around it:

- the provider's discovery document must name the configured issuer, and an ID token is
  required (Authlib would otherwise accept a bare OAuth answer);
- the claims then go through django.contrib.auth.authenticate to `OpenIDConnectBackend`, which
  finds the user by (issuer, subject) or creates them, and sets their Warroom groups from the
  groups claim at every sign-in (`groups_from_claims`);
- every callback is an attempt on the sign-in throttle (incidents.signin), per client address,
  and every refusal is logged there with its reason.
"""

import logging

import requests
from authlib.integrations.base_client import MismatchingStateError, OAuthError
from authlib.integrations.django_client import OAuth
from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core import checks
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from joserfc.errors import BadSignatureError, ExpiredTokenError, InvalidClaimError, JoseError, MissingClaimError

from incidents import access, languages
from incidents.models import SignInIdentity
from incidents.ratelimit import client_address
from incidents.signin import Attempt, password_signin_allowed

log = logging.getLogger("warroom.auth")

# What the callback's attempts are counted under on the sign-in throttle.
THROTTLE_NAME = "openid-connect"
_CLIENT_NAME = "oidc"


def configured():
    return bool(settings.OIDC_ISSUER_URL)


def provider_name():
    return settings.OIDC_PROVIDER_NAME


class SignInFailed(Exception):
    """A refused sign-in: `message` for the person, `reason` for the log, `status` to answer."""

    def __init__(self, message, reason, status=400):
        super().__init__(reason)
        self.message = message
        self.reason = reason
        self.status = status


def group_map():
    """{provider group: {Warroom groups}} from OIDC_GROUP_MAP ("idp-group=warroom-group,...");
    without it each of Warroom's own group names maps to itself."""
    if not settings.OIDC_GROUP_MAP:
        return {name: {name} for name in warroom_groups()}
    mapping = {}
    for item in settings.OIDC_GROUP_MAP:
        source, _sep, target = item.partition("=")
        mapping.setdefault(source.strip(), set()).add(target.strip())
    return mapping


def warroom_groups():
    """The groups that give rights in Warroom (incidents/access.py) and the on-call group."""
    return {*access.GLOBAL_ROLES, settings.WARROOM_SECURITY_GROUP, settings.WARROOM_ONCALL_GROUP}


def managed_groups():
    """The groups a sign-in sets: those the mapping can give. Others are left alone."""
    return set().union(*group_map().values())


def groups_from_claims(claims):
    """The Warroom groups the provider's groups claim gives (a list, or one space- or
    comma-separated string). No claim: none."""
    value = claims.get(settings.OIDC_GROUPS_CLAIM) or []
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if not isinstance(value, list | tuple):
        return set()
    mapping = group_map()
    return set().union(set(), *(mapping.get(str(name), set()) for name in value))


def _client():
    issuer = settings.OIDC_ISSUER_URL
    oauth = OAuth()
    oauth.register(
        _CLIENT_NAME,
        client_id=settings.OIDC_CLIENT_ID,
        client_secret=settings.OIDC_CLIENT_SECRET,
        server_metadata_url=issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={
            "scope": settings.OIDC_SCOPES,
            "code_challenge_method": "S256",
            "default_timeout": settings.OIDC_TIMEOUT,
        },
    )
    return oauth.create_client(_CLIENT_NAME)


def _unreachable(exc):
    return SignInFailed(
        _("%(provider)s cannot be reached just now. Try again in a minute; if it stays down, ask an administrator.")
        % {"provider": provider_name()},
        f"provider unreachable: {exc.__class__.__name__}: {exc}"[:300],
        status=503,
    )


def _load_metadata(client):
    try:
        metadata = client.load_server_metadata()
    except (requests.RequestException, ValueError) as exc:
        raise _unreachable(exc) from exc
    if metadata.get("issuer") != settings.OIDC_ISSUER_URL:
        raise SignInFailed(
            _("%(provider)s is not set up correctly for Warroom (its issuer differs). Ask an administrator.")
            % {"provider": provider_name()},
            f"discovery names issuer {metadata.get('issuer')!r}, configured {settings.OIDC_ISSUER_URL!r}",
        )
    return metadata


def redirect_to_provider(request, redirect_uri):
    """The redirect that starts a sign-in; state, nonce and PKCE verifier stay in the session."""
    try:
        client = _client()
        _load_metadata(client)
        try:
            return client.authorize_redirect(request, redirect_uri)
        except (requests.RequestException, ValueError) as exc:
            raise _unreachable(exc) from exc
    except SignInFailed as failure:
        log.warning("Sign-in (OpenID Connect) not possible from %s: %s", client_address(request), failure.reason)
        raise


def _verified_claims(request, client):
    """The ID token's claims, checked, with the userinfo endpoint's added (same subject)."""
    not_verified = _("%(provider)s's answer could not be verified, so you are not signed in. Try again.") % {
        "provider": provider_name()
    }
    try:
        token = client.authorize_access_token(
            request,
            claims_options={
                "iss": {"essential": True, "value": settings.OIDC_ISSUER_URL},
                "nonce": {"essential": True},
            },
        )
    except MismatchingStateError as exc:
        raise SignInFailed(
            _("This sign-in has already been used or has expired. Start again."),
            "unknown or replayed state",
        ) from exc
    except OAuthError as exc:
        raise SignInFailed(
            _("%(provider)s did not sign you in (%(error)s).") % {"provider": provider_name(), "error": exc.error},
            f"provider answered {exc.error}: {exc.description}"[:300],
        ) from exc
    except BadSignatureError as exc:
        raise SignInFailed(not_verified, "ID token signature does not verify with the provider's keys") from exc
    except ExpiredTokenError as exc:
        raise SignInFailed(not_verified, "ID token expired (check this server's clock)") from exc
    except (InvalidClaimError, MissingClaimError) as exc:
        raise SignInFailed(not_verified, f"ID token refused: {exc}") from exc
    except JoseError as exc:
        raise SignInFailed(not_verified, f"ID token refused: {exc.__class__.__name__}: {exc}"[:300]) from exc
    except (requests.RequestException, ValueError) as exc:
        raise _unreachable(exc) from exc
    claims = token.get("userinfo")
    if not claims:
        raise SignInFailed(not_verified, "the token response carried no ID token")
    claims = dict(claims)
    if client.server_metadata.get("userinfo_endpoint"):
        try:
            userinfo = client.userinfo(token=token)
        except (requests.RequestException, ValueError) as exc:
            raise _unreachable(exc) from exc
        if userinfo.get("sub") != claims["sub"]:
            raise SignInFailed(not_verified, "userinfo names another subject than the ID token")
        claims = {**userinfo, **claims}
    return claims


def sign_in(request):
    """Finish a sign-in at the callback: the user to log in, or SignInFailed. Counted on the
    sign-in throttle like a password attempt."""
    attempt = Attempt(request, THROTTLE_NAME, per_username=False)
    if attempt.refusal:
        request.signin_refused = attempt.refusal
        raise SignInFailed(_("Too many sign-in attempts."), "throttled", status=429)
    try:
        client = _client()
        _load_metadata(client)
        claims = _verified_claims(request, client)
        user = authenticate(request, oidc_claims=claims)
        if user is None:
            raise getattr(request, "oidc_refusal", None) or SignInFailed(
                _("You could not be signed in."), "no backend accepted the claims"
            )
    except SignInFailed as failure:
        if failure.status == 503:
            attempt.abandoned()
            log.warning("Sign-in (OpenID Connect) not possible from %s: %s", attempt.address, failure.reason)
        else:
            attempt.failed(how="OpenID Connect", reason=failure.reason)
        raise
    attempt.succeeded()
    log.info("Signed in (OpenID Connect) as %r from %s", user.get_username(), attempt.address)
    return user


class OpenIDConnectBackend(ModelBackend):
    """Turns verified claims (from `sign_in`, never from a request's own data) into a user.
    `get_user` is ModelBackend's: a deactivated user's sessions end too."""

    def authenticate(self, request, oidc_claims=None, **kwargs):
        if oidc_claims is None or request is None:
            return None
        try:
            return self._user_for(oidc_claims)
        except SignInFailed as failure:
            request.oidc_refusal = failure
            return None

    @transaction.atomic
    def _user_for(self, claims):
        issuer, subject = claims["iss"], str(claims["sub"])
        identity = SignInIdentity.objects.select_related("user").filter(issuer=issuer, subject=subject).first()
        user = identity.user if identity else self._new_identity_user(claims)
        if not self.user_can_authenticate(user):
            raise SignInFailed(
                _("Your Warroom account is deactivated. Ask an administrator."),
                f"account {user.get_username()!r} is deactivated",
                status=403,
            )
        if identity is None:
            identity = SignInIdentity.objects.create(user=user, issuer=issuer, subject=subject)
            # A first sign-in: the provider's `locale`, unless the person chose a language.
            languages.set_from_sign_in_claim(user, claims.get("locale"))
        self._update(user, claims)
        identity.last_sign_in = timezone.now()
        identity.save(update_fields=["last_sign_in"])
        return user

    def _new_identity_user(self, claims):
        """The user a first sign-in of this identity is for: the account of that name (linked
        now), or a new one. Break-glass and superuser accounts are never taken over this way."""
        username = claims.get(settings.OIDC_USERNAME_CLAIM)
        if not isinstance(username, str) or not username:
            raise SignInFailed(
                _("%(provider)s did not say who you are (no %(claim)s). Ask an administrator.")
                % {"provider": provider_name(), "claim": settings.OIDC_USERNAME_CLAIM},
                f"no {settings.OIDC_USERNAME_CLAIM!r} claim",
            )
        try:
            UnicodeUsernameValidator()(username)
            if len(username) > 150:
                raise ValidationError(_("too long"))
        except ValidationError as exc:
            raise SignInFailed(
                _("Your user name at %(provider)s cannot be used in Warroom. Ask an administrator.")
                % {"provider": provider_name()},
                f"unusable username {username[:160]!r}",
            ) from exc
        User = get_user_model()
        existing = User.objects.filter(username__iexact=username).first()
        if existing is None:
            user = User(username=username)
            user.set_unusable_password()
            user.save()
            return user
        if existing.is_superuser or (
            not settings.WARROOM_PASSWORD_SIGNIN and password_signin_allowed(existing.get_username())
        ):
            raise SignInFailed(
                _("The account %(username)s is a local administrator account and cannot be used through %(provider)s.")
                % {"username": existing.get_username(), "provider": provider_name()},
                f"refused to link {existing.get_username()!r} (superuser or break-glass) to {claims['sub']!r}",
                status=403,
            )
        return existing

    def _update(self, user, claims):
        changed = []
        for field, claim in (("email", "email"), ("first_name", "given_name"), ("last_name", "family_name")):
            value = claims.get(claim)
            if isinstance(value, str) and value and getattr(user, field) != value[:150]:
                setattr(user, field, value[:150])
                changed.append(field)
        if changed:
            user.save(update_fields=changed)
        managed = managed_groups()
        wanted = groups_from_claims(claims) & managed
        have = set(user.groups.filter(name__in=managed).values_list("name", flat=True))
        if have - wanted:
            user.groups.remove(*Group.objects.filter(name__in=have - wanted))
        if wanted - have:
            user.groups.add(*(Group.objects.get_or_create(name=name)[0] for name in sorted(wanted - have)))
        if have != wanted:
            log.info(
                "Groups of %r set from %s: %s (were %s)",
                user.get_username(),
                settings.OIDC_GROUPS_CLAIM,
                sorted(wanted) or "none",
                sorted(have) or "none",
            )


@checks.register(checks.Tags.security)
def check_settings(app_configs=None, **kwargs):
    """Mistakes in the SSO settings, caught by `manage.py check` rather than at someone's sign-in."""
    problems = []
    if configured():
        missing = [name for name in ("OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET") if not getattr(settings, name)]
        if missing:
            problems.append(checks.Error(f"OIDC_ISSUER_URL is set but {' and '.join(missing)} not.", id="warroom.E101"))
        if "openid" not in settings.OIDC_SCOPES.split():
            problems.append(checks.Error('OIDC_SCOPES must include "openid".', id="warroom.E102"))
    for item in settings.OIDC_GROUP_MAP:
        source, sep, target = item.partition("=")
        if not (sep and source.strip() and target.strip()):
            problems.append(
                checks.Error(f"OIDC_GROUP_MAP item {item!r} is not provider-group=warroom-group.", id="warroom.E103")
            )
        elif target.strip() not in warroom_groups():
            problems.append(
                checks.Warning(
                    f"OIDC_GROUP_MAP maps to {target.strip()!r}, which gives no rights in Warroom.",
                    hint=f"Warroom's groups: {', '.join(sorted(warroom_groups()))}.",
                    id="warroom.W104",
                )
            )
    if not settings.WARROOM_PASSWORD_SIGNIN:
        if not configured():
            problems.append(
                checks.Error(
                    "WARROOM_PASSWORD_SIGNIN is False but OIDC_ISSUER_URL is not set: only the break-glass "
                    "accounts could sign in.",
                    id="warroom.E105",
                )
            )
        if not settings.WARROOM_BREAK_GLASS_USERS:
            problems.append(
                checks.Warning(
                    "WARROOM_PASSWORD_SIGNIN is False and WARROOM_BREAK_GLASS_USERS is empty: nobody can sign in "
                    "while the provider is down.",
                    id="warroom.W106",
                )
            )
    return problems
