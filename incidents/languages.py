"""Each person's language: the staff UI once they are signed in, and the e-mails Warroom sends
them (reminders, approval requests, sign-in pauses...), whatever language the site runs in.

The preference is a `LanguagePreference` row, set on the account page (/account/), by the
language switch in the page header, or, on a first sign-in through OpenID Connect, from the
provider's `locale` claim. Signing in copies it into the session, and
`config.middleware.PersonLanguageMiddleware` activates it for every staff request of that
session and sets the language cookie, so the sign-in page after signing out stays in that language too
(LocaleMiddleware reads the cookie). Reading it from the session costs no query per request.

Mail is rendered per recipient under `translation.override(email_language(user))`, so one
batch of e-mails in several languages never leaks one person's language into the next.
"""

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.dispatch import receiver
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from incidents.models import LanguagePreference

# The session key holding the signed-in person's language (a code of settings.LANGUAGES).
SESSION_KEY = "warroom_language"


def set_cookie(response, language):
    """Set the language cookie LocaleMiddleware reads (as Django's set_language view does)."""
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )


def codes():
    return {code for code, _name in settings.LANGUAGES}


def supported(code):
    """The code of settings.LANGUAGES that `code` (a preference, an SSO `locale` such as
    "zh-CN" or "en_US") stands for, or ""."""
    if not isinstance(code, str) or not code:
        return ""
    code = code.strip().replace("_", "-").lower()
    if code in codes():
        return code
    try:
        found = translation.get_supported_language_variant(code)
    except LookupError:
        return ""
    return found if found in codes() else ""


def preference_of(user):
    """The person's chosen language, or "" (none: the site's)."""
    try:
        preference = user.language_preference
    except (ObjectDoesNotExist, AttributeError):
        return ""
    return supported(preference.language)


def email_language(user):
    """The language of what Warroom sends this person."""
    return preference_of(user) or settings.LANGUAGE_CODE


def set_preference(user, language, request=None):
    """Set (or, with "", clear) a person's language. With the request of that person's own
    session, the session follows at once; their other sessions follow at their next sign-in."""
    language = (language or "").strip()
    if language and language not in codes():
        raise ValidationError({"language": _("Choose one of the languages offered.")})
    LanguagePreference.objects.update_or_create(
        user=user, defaults={"language": language, "updated_at": timezone.now()}
    )
    user._state.fields_cache.pop("language_preference", None)  # the next read sees this one
    if request is not None and getattr(request, "user", None) == user:
        _remember(request, language)
    return language


def set_from_sign_in_claim(user, locale):
    """A first sign-in through OpenID Connect: the provider's `locale` claim, when it names a
    language Warroom speaks and the person has chosen none yet."""
    language = supported(locale)
    if language and not LanguagePreference.objects.filter(user=user).exists():
        LanguagePreference.objects.create(user=user, language=language)


def _remember(request, language):
    if not hasattr(request, "session"):
        return
    if language:
        request.session[SESSION_KEY] = language
    else:
        request.session.pop(SESSION_KEY, None)


@receiver(user_logged_in, dispatch_uid="incidents.languages.signed_in")
def use_preference_at_sign_in(sender, request, user, **kwargs):
    if request is not None:
        _remember(request, LanguagePreference.objects.filter(user=user).values_list("language", flat=True).first())
