"""One throttle for every way in (incidents/signin.py): the sign-in page, the admin's login and
API tokens count against the same limits; a lockout pauses one (username, address) pair, never
the account everywhere; lockouts are told to the user and the security group; failures are
logged; the API's throttles are on."""

import logging
import time
import warnings

import pytest
from django.core.cache.backends.base import CacheKeyWarning
from django.test import Client
from rest_framework.test import APIClient

from incidents.credentials import issue_token
from incidents.models import NotificationDelivery, UserNotification
from tests.conftest import cache_keys, make_user

ATTACKER = "198.51.100.7"
OFFICE = "203.0.113.20"

pytestmark = pytest.mark.usefixtures("clear_cache")


def sign_in(client, username, password, address, path="/login/"):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=address)


def signed_in(client):
    return "_auth_user_id" in client.session


@pytest.fixture
def root(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", "pw-root-long-enough")


# The admin's login ------------------------------------------------------------------------------


def test_admin_login_is_refused_after_twelve_guesses_like_the_sign_in_page(root):
    admin = Client()
    for _ in range(12):
        response = sign_in(admin, "root", "guess", ATTACKER, path="/admin/login/")
        assert response.status_code in (200, 429)
        assert not signed_in(admin)

    response = sign_in(admin, "root", "pw-root-long-enough", ATTACKER, path="/admin/login/")
    assert response.status_code == 429
    assert response["Retry-After"] == "300"
    assert not signed_in(admin)

    page = Client()
    response = sign_in(page, "root", "pw-root-long-enough", ATTACKER)
    assert response.status_code == 429
    assert not signed_in(page)


def test_admin_login_with_the_right_password_still_signs_in(root):
    client = Client()
    response = sign_in(client, "root", "pw-root-long-enough", OFFICE, path="/admin/login/")
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


# Lockout per (username, address), never as a weapon ---------------------------------------------


def test_locked_out_address_does_not_lock_the_commander_out_from_another(commander, settings):
    settings.LOGIN_RATE_LIMIT = 3
    attacker = Client()
    for _ in range(3):
        assert sign_in(attacker, "cmdr", "guess", ATTACKER).status_code == 200
    assert sign_in(attacker, "cmdr", "guess", ATTACKER).status_code == 429
    assert sign_in(attacker, "cmdr", "pw-cmdr", ATTACKER).status_code == 429

    commander_client = Client()
    response = sign_in(commander_client, "cmdr", "pw-cmdr", OFFICE)
    assert response.status_code == 302
    assert signed_in(commander_client)


def test_username_guessed_from_many_addresses_slows_down_but_the_right_password_gets_in(commander, settings):
    # Real time, not a frozen clock: with Redis the cache's own expiry decides the backoff.
    settings.LOGIN_RATE_LIMIT = 3
    settings.LOGIN_USER_BACKOFF_AFTER = 5
    settings.LOGIN_USER_BACKOFF_SECONDS = 1
    for n in range(6):  # the sixth takes the username's one attempt of this second
        assert sign_in(Client(), "cmdr", "guess", f"192.0.2.{n}").status_code == 200
    response = sign_in(Client(), "cmdr", "guess", "192.0.2.99")
    assert response.status_code == 429
    assert response["Retry-After"] == "1"
    assert "Try again in 1 second." in response.content.decode()

    commander_client = Client()
    assert sign_in(commander_client, "cmdr", "pw-cmdr", OFFICE).status_code == 429  # the backoff
    time.sleep(1.2)
    response = sign_in(commander_client, "cmdr", "pw-cmdr", OFFICE)
    assert response.status_code == 302
    assert signed_in(commander_client)


def test_a_lockout_is_told_to_the_user_and_the_security_group_once(django_user_model, security, settings):
    settings.LOGIN_RATE_LIMIT = 3
    ana = make_user(django_user_model, "ana", "commander", email="ana@example.com")
    attacker = Client()
    for _ in range(9):
        sign_in(attacker, "ana", "guess", ATTACKER)

    notes = UserNotification.objects.filter(kind=UserNotification.Kind.SIGNIN_LOCKOUT)
    assert sorted(notes.values_list("user__username", flat=True)) == ["ana", "sec"]
    to_ana = notes.get(user=ana)
    assert ATTACKER in to_ana.body
    assert ATTACKER in notes.get(user=security).title
    # Ana has an e-mail address and no opt-out: she is e-mailed; the security member has none.
    assert list(NotificationDelivery.objects.values_list("notification", flat=True)) == [to_ana.pk]


def test_no_lockout_notice_for_a_username_nobody_has(security, settings):
    settings.LOGIN_RATE_LIMIT = 3
    for _ in range(5):
        sign_in(Client(), "nobody", "guess", ATTACKER)
    assert not UserNotification.objects.exists()


# Logging -------------------------------------------------------------------------------------


def test_every_failed_sign_in_is_logged_with_username_and_address_never_the_password(commander, root, caplog):
    caplog.set_level(logging.WARNING, logger="warroom.auth")
    sign_in(Client(), "cmdr", "hunter2-secret", ATTACKER)
    sign_in(Client(), "root", "hunter3-secret", OFFICE, path="/admin/login/")
    sign_in(Client(), "cmdr", "pw-cmdr", OFFICE)

    messages = [r.getMessage() for r in caplog.records if r.name == "warroom.auth"]
    assert len(messages) == 2, messages
    assert "'cmdr'" in messages[0] and ATTACKER in messages[0]
    assert "'root'" in messages[1] and OFFICE in messages[1]
    assert not any("secret" in m for m in messages)


# The API -------------------------------------------------------------------------------------


def test_bad_api_tokens_are_throttled_per_address(commander, settings, caplog):
    settings.LOGIN_ADDRESS_RATE_LIMIT = 3
    caplog.set_level(logging.WARNING, logger="warroom.auth")
    _token, good_key = issue_token(commander)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-key")
    for _ in range(3):
        assert client.get("/api/v1/incidents/", REMOTE_ADDR=ATTACKER).status_code == 401
    response = client.get("/api/v1/incidents/", REMOTE_ADDR=ATTACKER)
    assert response.status_code == 429
    assert response["Retry-After"] == "300"
    assert "detail" in response.json()

    assert client.get("/api/v1/incidents/", REMOTE_ADDR=OFFICE).status_code == 401
    # A good token is no guess: it works from the throttled address too.
    client.credentials(HTTP_AUTHORIZATION=f"Token {good_key}")
    assert client.get("/api/v1/incidents/", REMOTE_ADDR=ATTACKER).status_code == 200
    assert sum("API token" in r.getMessage() and ATTACKER in r.getMessage() for r in caplog.records) == 4


def test_bad_tokens_count_against_the_address_sign_ins_also_count_against(commander, settings):
    settings.LOGIN_ADDRESS_RATE_LIMIT = 3
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-key")
    for _ in range(3):
        client.get("/api/v1/incidents/", REMOTE_ADDR=ATTACKER)
    assert sign_in(Client(), "cmdr", "pw-cmdr", ATTACKER).status_code == 429


def test_api_answers_429_past_the_users_rate(commander, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": "2/min", "user": "3/min"}}
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {issue_token(commander)[1]}")
    for _ in range(3):
        assert client.get("/api/v1/incidents/").status_code == 200
    response = client.get("/api/v1/incidents/")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0


def test_api_answers_429_past_the_anonymous_rate_per_address(db, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": "1/min", "user": "3/min"}}
    client = APIClient()
    assert client.get("/api/schema/", REMOTE_ADDR=ATTACKER).status_code == 200
    assert client.get("/api/schema/", REMOTE_ADDR=ATTACKER).status_code == 429
    # A forged X-Forwarded-For is not a new address (no BEHIND_PROXY here).
    assert client.get("/api/schema/", REMOTE_ADDR=ATTACKER, HTTP_X_FORWARDED_FOR="10.9.9.9").status_code == 429
    assert client.get("/api/schema/", REMOTE_ADDR=OFFICE).status_code == 200


# Cache keys -------------------------------------------------------------------------------------


def test_a_long_username_with_spaces_and_any_script_is_throttled_under_valid_cache_keys(commander, settings):
    """Whatever someone types as a username becomes part of the throttle's cache keys: 250
    characters with spaces and non-Latin letters must make keys every cache backend accepts
    (Django warns, and memcached refuses, past 250 characters or with whitespace), and the
    throttle must still count them."""
    settings.LOGIN_RATE_LIMIT = 3
    typed = ("Zoë the 指挥官 on call\t" * 20)[:250]
    client, other = Client(), Client()
    with warnings.catch_warnings():
        warnings.simplefilter("error", CacheKeyWarning)
        answers = [sign_in(client, typed, "guess", ATTACKER).status_code for _ in range(4)]
        # The same username typed in other case is the same username.
        assert sign_in(client, typed.upper()[:200] + typed[200:], "guess", ATTACKER).status_code == 429
        # Another typed username is not held back by this one's pause.
        assert sign_in(other, "cmdr", "pw-cmdr", ATTACKER).status_code == 302
    assert answers == [200, 200, 200, 429]


def test_a_cache_dump_shows_no_client_address_and_unlocking_the_address_still_works(
    as_user, security, commander, settings
):
    settings.LOGIN_RATE_LIMIT = 3
    settings.LOGIN_ADDRESS_RATE_LIMIT = 6
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"anon": "1/min", "user": "3/min"}}
    for _ in range(4):  # pauses the pair (cmdr, ATTACKER)
        sign_in(Client(), "cmdr", "guess", ATTACKER)
    api = APIClient()
    assert api.get("/api/schema/", REMOTE_ADDR=ATTACKER).status_code == 200  # the anonymous API rate
    api.credentials(HTTP_AUTHORIZATION="Token not-a-real-key")
    assert api.get("/api/v1/incidents/", REMOTE_ADDR=ATTACKER).status_code == 401  # a bad token
    for n in range(2):  # ... and the address is paused for every username
        sign_in(Client(), f"someone{n}", "guess", ATTACKER)
    assert sign_in(Client(), "sec", "pw-sec", ATTACKER).status_code == 429

    keys = cache_keys()
    assert any(":addr:" in key for key in keys) and any(":pair:" in key for key in keys)
    assert not [key for key in keys if ATTACKER in key]

    assert as_user(security).post("/audit/lockouts/", {"address": ATTACKER}).status_code == 302
    assert sign_in(Client(), "sec", "pw-sec", ATTACKER).status_code == 302


def test_an_ipv6_client_written_another_way_is_unlocked_by_the_address_typed(as_user, security, settings):
    """A proxy or a server may write an IPv6 address long or in capitals; the person unlocking
    types it short: both name the same client."""
    settings.LOGIN_ADDRESS_RATE_LIMIT = 3
    written = "2001:DB8:0:0:0:0:0:7"
    for n in range(4):
        sign_in(Client(), f"someone{n}", "guess", written)
    assert sign_in(Client(), "sec", "pw-sec", written).status_code == 429
    assert as_user(security).post("/audit/lockouts/", {"address": "2001:db8::7"}).status_code == 302
    assert sign_in(Client(), "sec", "pw-sec", written).status_code == 302
