"""Sign-in with OpenID Connect against a real provider (tests/oidc/provider.mjs: the certified
npm `oidc-provider`): users and their groups come from the provider at every sign-in; every
answer that does not verify is refused with a clear message (never a 500), logged and counted
by the sign-in throttle; passwords can be switched off for all but the break-glass accounts."""

import logging
import re
from html import unescape
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from django.contrib.auth.models import Group
from django.test import Client

from incidents import access
from incidents.models import AuditEvent, SignInIdentity
from tests.conftest import make_user
from tests.oidc_provider import Provider, configure

CALLBACK = "http://testserver/login/sso/callback/"
OFFICE = "203.0.113.20"

pytestmark = pytest.mark.usefixtures("clear_cache")

MAYA = {"preferred_username": "maya", "email": "maya@example.com", "given_name": "Maya", "groups": ["wr-commanders"]}


@pytest.fixture(scope="module")
def provider():
    running = Provider([CALLBACK], {"maya": MAYA})
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def sso(settings, provider):
    configure(settings, provider, "http://testserver", OIDC_GROUP_MAP=["wr-commanders=commander", "wr-sec=security"])
    provider.set_accounts({"maya": MAYA})
    provider.tamper(None)
    return provider


def through_provider(location, login):
    """What a person does at the provider: its login page, then its consent page. Returns the
    URL the provider sends the browser back to (Warroom's callback)."""
    browser = requests.Session()
    for _ in range(12):
        if location.startswith(CALLBACK):
            return location
        response = browser.get(location, allow_redirects=False, timeout=5)
        if response.is_redirect:
            location = urljoin(response.url, response.headers["Location"])
            continue
        action = unescape(re.search(r'<form[^>]*action="([^"]+)"', response.text)[1])
        prompt = re.search(r'name="prompt" value="(\w+)"', response.text)[1]
        data = {"prompt": prompt, "login": login, "password": "any"} if prompt == "login" else {"prompt": prompt}
        response = browser.post(urljoin(response.url, action), data=data, allow_redirects=False, timeout=5)
        location = urljoin(response.url, response.headers["Location"])
    raise AssertionError(f"the provider never sent the browser back: {location}")


def callback_path(url):
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def sign_in(client, login="maya", address=OFFICE):
    """The whole round: Warroom -> provider (login, consent) -> Warroom's callback."""
    start = client.get("/login/sso/", REMOTE_ADDR=address)
    assert start.status_code == 302, start.content
    back = through_provider(start["Location"], login)
    return client.get(callback_path(back), REMOTE_ADDR=address)


def signed_in_as(client):
    return client.session.get("_auth_user_id")


def refused(response, status, message):
    assert response.status_code == status
    assert message in response.content.decode()
    assert "Sign in with Example ID" in response.content.decode()


# Sign-in, users and groups --------------------------------------------------------------------


def test_first_sign_in_creates_the_user_with_the_mapped_groups(
    django_user_model, django_assert_max_num_queries, settings
):
    client = Client()
    start = client.get("/login/sso/?next=/incidents/declare/")
    assert "code_challenge_method=S256" in start["Location"]
    back = through_provider(start["Location"], "maya")
    # Most are the sign-in throttle's counters (in the database cache without CACHE_URL).
    with django_assert_max_num_queries(60):
        response = client.get(callback_path(back))

    assert response.status_code == 302
    assert response["Location"] == "/incidents/declare/"
    maya = django_user_model.objects.get(username="maya")
    assert signed_in_as(client) == str(maya.pk)
    assert maya.email == "maya@example.com" and maya.first_name == "Maya"
    assert not maya.has_usable_password()
    assert set(maya.groups.values_list("name", flat=True)) == {"commander"}
    assert access.can_declare(maya)
    assert SignInIdentity.objects.get(user=maya).issuer == settings.OIDC_ISSUER_URL
    assert client.get("/incidents/declare/").status_code == 200


def test_groups_are_set_again_at_every_sign_in(provider, django_user_model):
    assert sign_in(Client()).status_code == 302
    maya = django_user_model.objects.get(username="maya")
    maya.groups.add(Group.objects.get_or_create(name="comms")[0])  # not managed by the mapping

    provider.set_accounts({"maya": {**MAYA, "groups": ["wr-sec"]}})
    assert sign_in(Client()).status_code == 302
    assert set(maya.groups.values_list("name", flat=True)) == {"security", "comms"}

    provider.set_accounts({"maya": {key: value for key, value in MAYA.items() if key != "groups"}})
    client = Client()
    assert sign_in(client).status_code == 302
    maya = django_user_model.objects.get(username="maya")
    assert set(maya.groups.values_list("name", flat=True)) == {"comms"}
    assert not access.can_declare(maya)
    assert client.get("/incidents/declare/").status_code == 403


def test_the_same_person_is_recognised_by_subject_after_a_rename(provider, django_user_model):
    assert sign_in(Client()).status_code == 302
    provider.set_accounts({"maya": {**MAYA, "preferred_username": "maya.k"}})
    client = Client()
    assert sign_in(client).status_code == 302
    assert signed_in_as(client) == str(django_user_model.objects.get(username="maya").pk)
    assert not django_user_model.objects.filter(username="maya.k").exists()


def test_an_existing_local_account_of_that_name_is_linked(django_user_model):
    local = make_user(django_user_model, "maya")
    client = Client()
    assert sign_in(client).status_code == 302
    assert signed_in_as(client) == str(local.pk)
    assert SignInIdentity.objects.get().user == local


def test_a_superuser_account_is_never_taken_over_by_name(provider, django_user_model):
    django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-long-enough")
    provider.set_accounts({"root": {"preferred_username": "root", "groups": []}})
    client = Client()
    refused(sign_in(client, "root"), 403, "local administrator account")
    assert not signed_in_as(client)
    assert not SignInIdentity.objects.exists()


def test_a_deactivated_user_cannot_sign_in(django_user_model, caplog):
    assert sign_in(Client()).status_code == 302
    django_user_model.objects.filter(username="maya").update(is_active=False)
    client = Client()
    with caplog.at_level(logging.WARNING, logger="warroom.auth"):
        response = sign_in(client)
    refused(response, 403, "deactivated")
    assert not signed_in_as(client)
    assert "Failed sign-in (OpenID Connect)" in caplog.text and "deactivated" in caplog.text


# Answers that do not verify -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "logged"),
    [
        ("wrong-issuer", "iss"),
        ("other-key", "signature"),
        ("expired", "expired"),
        ("other-nonce", "nonce"),
        ("no-id-token", "no ID token"),
    ],
)
def test_a_token_that_does_not_verify_is_refused_and_logged(provider, mode, logged, caplog, django_user_model):
    provider.tamper(mode)
    client = Client()
    with caplog.at_level(logging.WARNING, logger="warroom.auth"):
        response = sign_in(client)
    refused(response, 400, "answer could not be verified")
    assert not signed_in_as(client)
    assert not django_user_model.objects.filter(username="maya").exists()
    assert f"Failed sign-in (OpenID Connect) for username 'openid-connect' from {OFFICE}" in caplog.text
    assert logged in caplog.text


def test_a_replayed_id_token_from_an_earlier_sign_in_is_refused(provider):
    assert sign_in(Client()).status_code == 302
    provider.tamper("replay")
    client = Client()
    refused(sign_in(client), 400, "answer could not be verified")
    assert not signed_in_as(client)


def test_a_replayed_callback_is_refused(caplog):
    client = Client()
    start = client.get("/login/sso/", REMOTE_ADDR=OFFICE)
    back = callback_path(through_provider(start["Location"], "maya"))
    assert client.get(back, REMOTE_ADDR=OFFICE).status_code == 302

    for replay in (client, Client()):  # the same browser again, or someone else's
        with caplog.at_level(logging.WARNING, logger="warroom.auth"):
            response = replay.get(back, REMOTE_ADDR=OFFICE)
        refused(response, 400, "already been used or has expired")
    assert "replayed state" in caplog.text


def test_a_sign_in_the_person_cancels_at_the_provider_is_refused_clearly():
    client = Client()
    start = client.get("/login/sso/")
    state = re.search(r"state=([^&]+)", start["Location"])[1]
    response = client.get(f"/login/sso/callback/?error=access_denied&state={state}")
    refused(response, 400, "did not sign you in (access_denied)")


def test_provider_down_is_refused_with_a_clear_message(settings, caplog):
    settings.OIDC_ISSUER_URL = "http://127.0.0.1:9"  # nothing listens there
    client = Client()
    with caplog.at_level(logging.WARNING, logger="warroom.auth"):
        response = client.get("/login/sso/", REMOTE_ADDR=OFFICE)
    refused(response, 503, "Example ID cannot be reached just now")
    assert f"not possible from {OFFICE}: provider unreachable" in caplog.text


def test_provider_down_between_redirect_and_callback_is_refused_with_a_clear_message(settings):
    own = Provider([CALLBACK], {"maya": MAYA})
    try:
        configure(settings, own, "http://testserver")
        client = Client()
        back = callback_path(through_provider(client.get("/login/sso/")["Location"], "maya"))
    finally:
        own.stop()
    response = client.get(back)
    refused(response, 503, "cannot be reached just now")
    assert not signed_in_as(client)


def test_failed_callbacks_are_throttled_per_address(settings):
    settings.LOGIN_RATE_LIMIT = 2
    attacker = Client()
    for _ in range(2):
        assert attacker.get("/login/sso/callback/?code=x&state=y", REMOTE_ADDR="198.51.100.7").status_code == 400
    response = attacker.get("/login/sso/callback/?code=x&state=y", REMOTE_ADDR="198.51.100.7")
    assert response.status_code == 429
    assert response["Retry-After"] == "300"
    # Someone else, elsewhere, still signs in.
    assert sign_in(Client()).status_code == 302


# The sign-in page and local passwords ---------------------------------------------------------


def test_sign_in_page_offers_the_provider_next_to_passwords(django_assert_max_num_queries):
    with django_assert_max_num_queries(3):
        page = Client().get("/login/").content.decode()
    assert "Sign in with Example ID" in page
    assert 'name="password"' in page


@pytest.fixture
def passwords_off(settings, django_user_model):
    settings.WARROOM_PASSWORD_SIGNIN = False
    settings.WARROOM_BREAK_GLASS_USERS = ["root"]
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-long-enough")
    staff = make_user(django_user_model, "ops", is_staff=True)
    return root, staff


def test_with_passwords_off_the_page_shows_only_the_provider_and_a_break_glass_path(passwords_off):
    page = Client().get("/login/").content.decode()
    assert "Sign in with Example ID" in page
    assert 'name="password"' not in page
    assert "?break-glass" in page
    page = Client().get("/login/?break-glass").content.decode()
    assert 'name="password"' in page


def test_with_passwords_off_only_break_glass_admins_sign_in_with_a_password(passwords_off, caplog):
    client = Client()
    with caplog.at_level(logging.WARNING, logger="warroom.auth"):
        response = client.post("/login/?break-glass", {"username": "ops", "password": "pw-ops"})
    assert response.status_code == 200
    assert "Passwords are not used here: sign in with Example ID." in response.content.decode()
    assert not signed_in_as(client)
    assert "password sign-in is off" in caplog.text

    response = client.post("/login/?break-glass", {"username": "root", "password": "pw-root-long-enough"})
    assert response.status_code == 302
    assert signed_in_as(client)


def test_with_passwords_off_the_admin_login_refuses_them_too(passwords_off):
    client = Client()
    response = client.post("/admin/login/", {"username": "ops", "password": "pw-ops"})
    assert response.status_code == 200
    assert "Passwords are not used here" in response.content.decode()
    assert not signed_in_as(client)
    response = client.post("/admin/login/", {"username": "root", "password": "pw-root-long-enough"})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


def test_with_passwords_off_a_break_glass_account_cannot_be_taken_over_through_the_provider(
    passwords_off, provider, django_user_model, settings
):
    settings.WARROOM_BREAK_GLASS_USERS = ["root", "maya"]
    local = make_user(django_user_model, "maya")
    client = Client()
    refused(sign_in(client), 403, "local administrator account")
    assert not SignInIdentity.objects.filter(user=local).exists()


def test_without_sso_configured_the_page_is_the_password_form_alone(settings):
    settings.OIDC_ISSUER_URL = ""
    page = Client().get("/login/").content.decode()
    assert "Sign in with" not in page
    assert 'name="password"' in page
    assert Client().get("/login/sso/")["Location"] == "/login/"


# Operators ------------------------------------------------------------------------------------


def test_admin_lists_who_signs_in_as_whom_with_bounded_queries(django_user_model, django_assert_max_num_queries):
    assert sign_in(Client()).status_code == 302
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-long-enough")
    admin = Client()
    admin.force_login(root)
    with django_assert_max_num_queries(10):
        page = admin.get("/admin/incidents/signinidentity/")
    assert page.status_code == 200
    assert "maya" in page.content.decode()
    assert admin.get("/admin/incidents/signinidentity/add/").status_code == 403


def test_check_reports_sso_settings_that_cannot_work(settings):
    from django.core import checks

    settings.OIDC_CLIENT_SECRET = ""
    settings.OIDC_SCOPES = "profile groups"
    settings.OIDC_GROUP_MAP = ["wr-commanders", "pr=press"]
    settings.WARROOM_PASSWORD_SIGNIN = False
    settings.WARROOM_BREAK_GLASS_USERS = []
    ids = {problem.id for problem in checks.run_checks(tags=[checks.Tags.security])}
    assert {"warroom.E101", "warroom.E102", "warroom.E103", "warroom.W104", "warroom.W106"} <= ids

    settings.OIDC_ISSUER_URL = ""
    ids = {problem.id for problem in checks.run_checks(tags=[checks.Tags.security])}
    assert "warroom.E105" in ids


def test_a_failed_sign_in_still_offers_the_password_form_while_passwords_are_on(provider):
    provider.tamper("expired")
    page = sign_in(Client()).content.decode()
    assert 'name="password"' in page
    assert "break-glass" not in page


def test_sign_ins_failures_and_groups_from_the_provider_are_in_the_audit_log(provider, settings):
    settings.WARROOM_2FA_REQUIRED = True  # for password sign-ins; the provider asks its own
    provider.set_accounts({"maya": {**MAYA, "groups": ["wr-sec"]}})
    client = Client()
    start = client.get("/login/sso/", REMOTE_ADDR=OFFICE)
    back = callback_path(through_provider(start["Location"], "maya"))
    assert client.get(back, REMOTE_ADDR=OFFICE).status_code == 302
    Client().get(back, REMOTE_ADDR=OFFICE)  # replayed by someone else

    signed_in = AuditEvent.objects.get(action="signed_in")
    assert (signed_in.actor_name, signed_in.address, signed_in.detail) == ("maya", OFFICE, {"via": "openid_connect"})
    groups = AuditEvent.objects.get(action="groups_changed")
    assert groups.subject == "user maya" and groups.detail == {"added": ["security"]}
    failed = AuditEvent.objects.get(action="signin_failed")
    assert failed.address == OFFICE and failed.detail["method"] == "OpenID Connect"
    assert "replayed state" in failed.detail["reason"]
    # A security-group member signed in through the provider is not sent to enrol here.
    assert client.get("/incidents/").status_code == 200


# Language -------------------------------------------------------------------------------------


def test_a_first_sign_in_takes_the_language_from_the_locale_claim_and_keeps_a_later_choice(provider, django_user_model):
    from incidents.models import LanguagePreference

    provider.set_accounts({"maya": {**MAYA, "locale": "zh-CN"}})
    client = Client()
    assert sign_in(client).status_code == 302
    maya = django_user_model.objects.get(username="maya")
    assert LanguagePreference.objects.get(user=maya).language == "zh-hans"
    assert "宣布事件" in client.get("/incidents/", HTTP_ACCEPT_LANGUAGE="en").content.decode()

    # Her own choice afterwards wins over the claim at later sign-ins.
    LanguagePreference.objects.filter(user=maya).update(language="en")
    client = Client()
    assert sign_in(client).status_code == 302
    assert LanguagePreference.objects.get(user=maya).language == "en"
    assert "Declare incident" in client.get("/incidents/", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()


def test_a_locale_warroom_does_not_speak_sets_no_language(provider, django_user_model):
    from incidents.models import LanguagePreference

    provider.set_accounts({"maya": {**MAYA, "locale": "fr-FR"}})
    assert sign_in(Client()).status_code == 302
    assert not LanguagePreference.objects.filter(user__username="maya").exists()
