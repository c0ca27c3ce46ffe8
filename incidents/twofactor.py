"""Two-factor sign-in for local accounts: a TOTP authenticator app, and recovery codes for the
day the phone is lost (django-otp's TOTPDevice and StaticDevice).

After a password sign-in, an account that has enrolled is asked for a code before anything
else; an account that must have a second factor (superusers and the security group, when
WARROOM_2FA_REQUIRED is on: access.two_factor_required) and has not enrolled is sent to
enrolment. What a session still owes is decided once, at sign-in, and kept in the session
(`PENDING`), so `TwoFactorMiddleware` costs no query on each request. The admin's login is the
same password sign-in, so it goes through the same second step. Sessions of other backends
(a coming single sign-on, whose provider asks its own second factor) owe nothing here.

Codes go through the sign-in throttle (incidents.signin.Attempt: per username and address, per
address, and the per-username backoff) and, on top, through django-otp's own per-device
backoff, which doubles the wait after each wrong code. Enrolment, accepted and refused codes,
used and renewed recovery codes and an admin's reset are written to the audit log.
"""

from base64 import b32encode
from urllib.parse import urlencode

import segno
from django.contrib.auth import BACKEND_SESSION_KEY
from django.contrib.auth.signals import user_logged_in
from django.core.exceptions import ValidationError
from django.db import transaction
from django.dispatch import receiver
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from incidents import auditlog
from incidents.access import can_reset_two_factor, require, two_factor_required
from incidents.models import AuditEvent
from incidents.signin import Attempt

Action = AuditEvent.Action

# The session key saying what the session still owes: VERIFY (a code) or ENROL (enrolment).
PENDING = "warroom_2fa_pending"
VERIFY = "verify"
ENROL = "enrol"
# Sign-ins through these backends are local-password sign-ins: the second factor applies.
LOCAL_BACKENDS = {"incidents.signin.ThrottledModelBackend", "django.contrib.auth.backends.ModelBackend"}
RECOVERY_CODES = 10
DEVICE_NAME = "authenticator"


def totp_device(user):
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def has_two_factor(user):
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def recovery_codes_left(user):
    return StaticToken.objects.filter(device__user=user, device__confirmed=True).count()


@receiver(user_logged_in, dispatch_uid="warroom-two-factor-pending")
def decide_at_sign_in(sender, request, user, **kwargs):
    if request is None or not hasattr(request, "session"):
        return
    request.session.pop(PENDING, None)
    if request.session.get(BACKEND_SESSION_KEY) not in LOCAL_BACKENDS:
        return
    if has_two_factor(user):
        request.session[PENDING] = VERIFY
    elif two_factor_required(user):
        request.session[PENDING] = ENROL


class TwoFactorMiddleware:
    """A session that owes a second step may only reach the page of that step (and sign out,
    static files, the language switch): pages redirect there, the API answers 403, htmx polls
    get nothing (204). base.html shows such a session no navigation."""

    OPEN_PREFIXES = ("/static/", "/i18n/", "/healthz", "/readyz", "/status/", "/api/v2/")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(self.OPEN_PREFIXES) or not hasattr(request, "session"):
            # Not even a look at the session: the public status page must not vary by cookie.
            return self.get_response(request)
        pending = request.session.get(PENDING)
        if pending:
            target = reverse("account:two_factor_verify" if pending == VERIFY else "account:two_factor")
            allowed = {target, reverse("logout")}
            if request.path not in allowed:
                message = (
                    _("Enter the code from your authenticator app first.")
                    if pending == VERIFY
                    else _("Set up two-factor sign-in first: your account requires it.")
                )
                if request.path.startswith("/api/"):
                    return JsonResponse({"detail": message}, status=403)
                if request.headers.get("HX-Request"):
                    # A panel's poll: nothing to swap in (a redirect would put a whole page there).
                    return HttpResponse(status=204)
                next_url = request.get_full_path() if request.method == "GET" else ""
                return redirect(f"{target}?{urlencode({'next': next_url})}" if next_url else target)
        return self.get_response(request)


# Enrolment ---------------------------------------------------------------------------------


def enrolment_device(user):
    """The unconfirmed authenticator being set up (made on first call, kept across reloads so
    the code shown stays the one scanned)."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-id").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return device


def qr_code(device):
    """The otpauth:// URL as an SVG data URI (img-src allows data:), for the app to scan."""
    return segno.make(device.config_url, error="m").svg_data_uri(scale=4, border=2)


def secret_text(device):
    """The secret as apps accept it typed in: base32, in groups of four."""
    secret = b32encode(device.bin_key).decode()
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _new_recovery_codes(user):
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name="recovery codes", confirmed=True)
    codes = [StaticToken.random_token() for _n in range(RECOVERY_CODES)]
    StaticToken.objects.bulk_create([StaticToken(device=device, token=code) for code in codes])
    return codes


def _throttled(request, user):
    return Attempt(request, user.get_username())


def _passed(request, device):
    otp_login(request, device)
    request.session.pop(PENDING, None)
    # A new session id for the now fully signed-in session, as at the password step.
    request.session.cycle_key()


def confirm_enrolment(request, code):
    """Confirm the authenticator being set up with a code from it; returns the new recovery
    codes (show them once), or raises ValidationError. The session counts as verified."""
    user = request.user
    attempt = _throttled(request, user)
    if attempt.refusal:
        return attempt.refusal, None
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).order_by("-id").first()
        right = device is not None and device.verify_token((code or "").strip().replace(" ", ""))
        if right:
            TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            codes = _new_recovery_codes(user)
    if not right:  # outside the transaction: the device's own backoff keeps the failure
        attempt.failed(how="two-factor code")
        auditlog.record(Action.TWO_FACTOR_FAILED, subject=auditlog.user_subject(user), detail={"step": "enrolment"})
        raise ValidationError({"code": _("That code is not right: check the app's clock and try the next code.")})
    attempt.succeeded()
    _passed(request, device)
    auditlog.record(Action.TWO_FACTOR_ENROLLED, subject=auditlog.user_subject(user))
    return None, codes


def verify(request, code):
    """Check a code from the authenticator app or a recovery code for the signed-in user.
    Returns (refusal, ok): a throttle refusal (answer 429), else whether the code was right."""
    user = request.user
    attempt = _throttled(request, user)
    if attempt.refusal:
        return attempt.refusal, False
    code = (code or "").strip().replace(" ", "").lower()
    used = None
    with transaction.atomic():
        if code.isdigit():
            device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).first()
            if device is not None and device.verify_token(code):
                used = device
        elif code:
            device = StaticDevice.objects.select_for_update().filter(user=user, confirmed=True).first()
            if device is not None and device.verify_token(code):
                used = device
    if used is None:
        attempt.failed(how="two-factor code")
        auditlog.record(Action.TWO_FACTOR_FAILED, subject=auditlog.user_subject(user), detail={"step": "sign-in"})
        return None, False
    attempt.succeeded()
    _passed(request, used)
    if isinstance(used, StaticDevice):
        left = recovery_codes_left(user)
        auditlog.record(Action.RECOVERY_CODE_USED, subject=auditlog.user_subject(user), detail={"left": left})
    else:
        auditlog.record(Action.TWO_FACTOR_VERIFIED, subject=auditlog.user_subject(user))
    return None, True


def renew_recovery_codes(user):
    """A fresh set of recovery codes, the old ones no longer accepted; returns the codes."""
    if not has_two_factor(user):
        raise ValidationError(_("Set up an authenticator app first."))
    with transaction.atomic():
        codes = _new_recovery_codes(user)
    auditlog.record(Action.RECOVERY_CODES_RENEWED, subject=auditlog.user_subject(user))
    return codes


def reset(user, by):
    """Remove the user's authenticator and recovery codes (a lost phone): at their next sign-in
    they enrol again if their account requires it. Returns whether there was anything."""
    require(can_reset_two_factor(by), _("Only superusers and the security group may reset two-factor sign-in."))
    with transaction.atomic():
        removed, _counts = TOTPDevice.objects.filter(user=user).delete()
        static, _counts = StaticDevice.objects.filter(user=user).delete()
    auditlog.record(Action.TWO_FACTOR_RESET, actor=by, subject=auditlog.user_subject(user))
    return bool(removed or static)
