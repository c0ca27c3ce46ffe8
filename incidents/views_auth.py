"""Sign-in pages: Warroom's own and the admin's, both behind the one throttle
(incidents.signin), answering 429 with Retry-After when it refuses an attempt; and the two ends
of sign-in with OpenID Connect (incidents.sso)."""

from django.conf import settings
from django.contrib.admin import AdminSite
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from incidents import sso
from incidents.signin import signin_refused

BREAK_GLASS_PARAMETER = "break-glass"
_NEXT_KEY = "warroom_sso_next"


def refused_response(request, refusal):
    body = render_to_string(
        "registration/rate_limited.html",
        {"minutes": max(1, -(-refusal.retry_after // 60)), "seconds": refusal.retry_after, "refusal": refusal},
        request=request,
    )
    return HttpResponse(body, status=429, headers={"Retry-After": str(refusal.retry_after)})


def password_off_message():
    return _("Passwords are not used here: sign in with %(provider)s.") % {"provider": sso.provider_name()}


def _safe_next(request, url):
    hosts = {request.get_host()}
    if url and url_has_allowed_host_and_scheme(url, allowed_hosts=hosts, require_https=request.is_secure()):
        return url
    return ""


class RateLimitedLoginView(auth_views.LoginView):
    """The sign-in page: the password form (unless WARROOM_PASSWORD_SIGNIN is off: then only
    behind ?break-glass) and, when SSO is configured, "Sign in with <provider>". The throttle
    itself is the authentication backend; this view turns its refusal into a 429 page rather
    than "wrong password"."""

    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        break_glass = BREAK_GLASS_PARAMETER in self.request.GET or BREAK_GLASS_PARAMETER in self.request.POST
        context.update(
            sso_name=sso.provider_name() if sso.configured() else "",
            show_password_form=settings.WARROOM_PASSWORD_SIGNIN or break_glass or not sso.configured(),
            break_glass=break_glass and not settings.WARROOM_PASSWORD_SIGNIN,
            break_glass_parameter=BREAK_GLASS_PARAMETER,
            passwords_off=not settings.WARROOM_PASSWORD_SIGNIN,
        )
        return context

    def form_invalid(self, form):
        refusal = signin_refused(self.request)
        if refusal:
            return refused_response(self.request, refusal)
        if getattr(self.request, "password_signin_off", False):
            form.errors.clear()
            form.add_error(None, password_off_message())
        return super().form_invalid(form)


@require_GET
def sso_start(request):
    """Send the browser to the provider; it comes back to `sso_callback`."""
    if not sso.configured():
        return redirect("login")
    request.session[_NEXT_KEY] = _safe_next(request, request.GET.get("next", ""))
    try:
        return sso.redirect_to_provider(request, settings.SITE_URL + reverse("sso-callback"))
    except sso.SignInFailed as failure:
        return _sso_failed(request, failure)


@require_GET
def sso_callback(request):
    """The provider's answer: sign in, or the sign-in page with what went wrong."""
    if not sso.configured():
        return redirect("login")
    try:
        user = sso.sign_in(request)
    except sso.SignInFailed as failure:
        refusal = signin_refused(request)
        if refusal:
            return refused_response(request, refusal)
        return _sso_failed(request, failure)
    next_url = request.session.pop(_NEXT_KEY, "")
    login(request, user)
    return redirect(_safe_next(request, next_url) or resolve_url(settings.LOGIN_REDIRECT_URL))


def _sso_failed(request, failure):
    return render(
        request,
        "registration/login.html",
        {
            "sso_name": sso.provider_name(),
            "sso_error": failure.message,
            "form": AuthenticationForm(request),
            "show_password_form": settings.WARROOM_PASSWORD_SIGNIN,
            "passwords_off": not settings.WARROOM_PASSWORD_SIGNIN,
            "break_glass_parameter": BREAK_GLASS_PARAMETER,
        },
        status=failure.status,
    )


class WarroomAdminSite(AdminSite):
    """Django's admin, with its login answering the throttle's refusals with a 429 like the
    sign-in page (the backend refuses them either way), and saying so when passwords are off
    for the account."""

    def login(self, request, extra_context=None):
        response = super().login(request, extra_context)
        refusal = signin_refused(request)
        if refusal:
            return refused_response(request, refusal)
        if getattr(request, "password_signin_off", False) and hasattr(response, "context_data"):
            form = response.context_data.get("form")
            if form is not None:
                form.errors.clear()
                form.add_error(None, password_off_message())
        return response
