"""Password rules beyond Django's validators (AUTH_PASSWORD_VALIDATORS).

Django's list of common passwords does not know this product or this site, so the first thing
someone guesses at a Warroom sign-in ("warroom2026", "acme123456!") would pass it.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

PRODUCT_NAMES = ("warroom",)
# Parts of a host name that say nothing about the site.
GENERIC_LABELS = {"www", "app", "status", "localhost", "example", "incidents"}


def site_names():
    """The product's name and the distinctive labels of SITE_URL's host (`acme` of
    https://warroom.acme.com), lowercase."""
    host = urlsplit(settings.SITE_URL).hostname or ""
    labels = host.split(".")[:-1] if "." in host else [host]
    names = {label for label in labels if len(label) >= 4 and label not in GENERIC_LABELS and not label.isdigit()}
    return set(PRODUCT_NAMES) | names


class SiteNamePasswordValidator:
    """Refuse a password that contains the product's or the site's name."""

    def validate(self, password, user=None):
        lowered = password.lower()
        for name in sorted(site_names()):
            if name in lowered:
                raise ValidationError(
                    _("This password contains the site’s name (“%(name)s”), the first thing anyone guesses."),
                    code="password_contains_site_name",
                    params={"name": name},
                )

    def get_help_text(self):
        return _("Your password can’t contain the name of this site.")
