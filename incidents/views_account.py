"""A person's own account pages: their language (/account/), their API tokens (/account/tokens/) and two-factor sign-in
(/account/two-factor/, and the code asked after the password at /account/two-factor/verify/).
Signed-in users only, each seeing and changing only their own."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django.views.i18n import set_language

from incidents import access, credentials, languages, twofactor
from incidents.forms import ApiTokenForm, LanguageForm, TwoFactorCodeForm
from incidents.models import ApiToken
from incidents.views_auth import refused_response


def _page(request, template, context, status=200):
    context["can_read_audit_log"] = access.can_read_audit_log(request.user)
    return render(request, template, context, status=status)


def _add_errors(form, exc):
    for field, errors in exc.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


# Language ------------------------------------------------------------------------------------


@login_required
def language(request):
    form = LanguageForm(request.POST or None, initial={"language": languages.preference_of(request.user)})
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                chosen = languages.set_preference(request.user, form.cleaned_data["language"], request)
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                response = redirect("account:language")
                # The page after the redirect, and the sign-in page after signing out, in it.
                languages.set_cookie(response, chosen or settings.LANGUAGE_CODE)
                with translation.override(chosen or settings.LANGUAGE_CODE):
                    messages.success(request, _("Language saved."))
                return response
        status = 400
    return _page(request, "account/language.html", {"form": form}, status)


def switch_language(request):
    """The header's language switch (Django's set_language); for a signed-in person it is also
    their preference, so e-mail and their next sign-in follow it."""
    response = set_language(request)
    chosen = request.POST.get("language", "") if request.method == "POST" else ""
    if request.user.is_authenticated and chosen in languages.codes():
        languages.set_preference(request.user, chosen, request)
    return response


# API tokens ---------------------------------------------------------------------------------


@login_required
def tokens(request):
    form = ApiTokenForm(request.POST or None)
    new_key = None
    if request.method == "POST" and form.is_valid():
        try:
            token, new_key = credentials.create_personal_token(request.user, **form.cleaned_data)
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            form = ApiTokenForm()
            messages.success(
                request, _("Token “%(name)s” created. Copy its key now: it is not shown again.") % {"name": token.name}
            )
    held = ApiToken.objects.filter(user=request.user).order_by("-created", "-id")
    status = 400 if request.method == "POST" and new_key is None else 200
    context = {"form": form, "tokens": held, "new_key": new_key}
    return _page(request, "account/tokens.html", context, status)


@login_required
@require_POST
def revoke_token(request, token_pk):
    token = ApiToken.objects.filter(pk=token_pk, user=request.user).select_related("user").first()
    if token is None:
        raise Http404("No such token of yours.")
    credentials.revoke_token(token, request.user)
    messages.success(request, _("Token “%(name)s” revoked: it no longer works.") % {"name": token.name})
    return redirect("account:tokens")


# Two-factor sign-in --------------------------------------------------------------------------


def _next_url(request):
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return target
    return ""


@login_required
def two_factor(request):
    """Enrolment (scan, confirm with a code, note the recovery codes) or, once enrolled, the
    state of the second factor and a fresh set of recovery codes."""
    user = request.user
    enrolled = twofactor.has_two_factor(user)
    form = TwoFactorCodeForm(request.POST or None)
    codes = None
    status = 200
    if not enrolled and request.method == "POST":
        if form.is_valid():
            try:
                refusal, codes = twofactor.confirm_enrolment(request, form.cleaned_data["code"])
            except ValidationError as exc:
                _add_errors(form, exc)
                status = 400
            else:
                if refusal:
                    return refused_response(request, refusal)
                enrolled = True
        else:
            status = 400
    context = {
        "enrolled": enrolled,
        "required": twofactor.two_factor_required(user),
        "codes": codes,
        "form": form,
        "next": _next_url(request),
    }
    if enrolled:
        context["codes_left"] = twofactor.recovery_codes_left(user)
    else:
        device = twofactor.enrolment_device(user)
        context["qr_code"] = twofactor.qr_code(device)
        context["secret"] = twofactor.secret_text(device)
    return _page(request, "account/two_factor.html", context, status)


@login_required
@require_POST
def renew_recovery_codes(request):
    try:
        codes = twofactor.renew_recovery_codes(request.user)
    except ValidationError:
        return redirect("account:two_factor")
    context = {"enrolled": True, "required": twofactor.two_factor_required(request.user), "codes": codes}
    context["codes_left"] = len(codes)
    return _page(request, "account/two_factor.html", context)


@login_required
def two_factor_verify(request):
    """The second step of a password sign-in."""
    if request.session.get(twofactor.PENDING) != twofactor.VERIFY:
        return redirect(_next_url(request) or "incidents:list")
    if not twofactor.has_two_factor(request.user):  # reset by an admin meanwhile
        if twofactor.two_factor_required(request.user):
            request.session[twofactor.PENDING] = twofactor.ENROL
            return redirect("account:two_factor")
        request.session.pop(twofactor.PENDING)
        return redirect(_next_url(request) or "incidents:list")
    form = TwoFactorCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        refusal, ok = twofactor.verify(request, form.cleaned_data["code"])
        if refusal:
            return refused_response(request, refusal)
        if ok:
            return redirect(_next_url(request) or "incidents:list")
        form.add_error("code", _("That code is not right. Try the next one your app shows, or a recovery code."))
    status = 400 if request.method == "POST" else 200
    return render(request, "account/two_factor_verify.html", {"form": form, "next": _next_url(request)}, status=status)
