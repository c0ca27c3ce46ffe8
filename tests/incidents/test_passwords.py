"""Password rules (AUTH_PASSWORD_VALIDATORS): at least 12 characters, not common, not all
digits, not like the user's name, and not the product's or the site's name with a few
characters around it."""

import io

import pytest
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import override_settings


@pytest.mark.parametrize("password", ["warroom2026", "Warroom-2026!!", "xx-WARROOM-incident-9"])
def test_password_with_the_product_name_is_refused(password):
    with pytest.raises(ValidationError):
        validate_password(password)


@override_settings(SITE_URL="https://warroom.acme-corp.com")
def test_password_with_the_site_name_is_refused():
    with pytest.raises(ValidationError, match="acme-corp"):
        validate_password("Acme-Corp-2026-spring")


@pytest.mark.parametrize("password", ["Tr0ub4dor&3", "123456789012", "password1234"])
def test_short_common_and_numeric_passwords_are_refused(password):
    with pytest.raises(ValidationError):
        validate_password(password)


def test_a_long_unrelated_passphrase_is_accepted():
    validate_password("correct horse battery staple")


@pytest.mark.django_db
def test_the_admin_password_make_run_generates_passes_the_rules(tmp_path, django_user_model):
    path = tmp_path / "admin_password"
    call_command("ensure_admin", "--password-file", str(path), stdout=io.StringIO())

    validate_password(path.read_text().strip(), django_user_model.objects.get(username="admin"))
