"""How long a sign-in lasts (config.middleware.SessionLifetimeMiddleware): a session ends after
SESSION_IDLE_TIMEOUT (12 hours) without a request, and SESSION_MAX_LIFETIME (7 days) after
signing in however active it stays. Before: 14 days, activity or not."""

from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock(time_machine):
    time_machine.move_to(T0, tick=False)
    return time_machine


@pytest.fixture
def signed_in(clock, commander):
    client = Client()
    client.force_login(commander)
    return client


def is_signed_in(client):
    response = client.get(reverse("incidents:list"))
    assert response.status_code in (200, 302)
    return response.status_code == 200


def test_the_lifetimes_are_twelve_hours_idle_and_a_week_in_all():
    assert settings.SESSION_IDLE_TIMEOUT == settings.SESSION_COOKIE_AGE == 12 * 3600
    assert settings.SESSION_MAX_LIFETIME == 7 * 86400


def test_a_session_left_idle_ends(signed_in, clock):
    assert is_signed_in(signed_in)

    clock.shift(timedelta(hours=12, minutes=1))

    assert not is_signed_in(signed_in)


def test_a_session_in_use_outlives_the_idle_timeout(signed_in, clock):
    for _ in range(8):  # 24 hours, a request every 3
        clock.shift(timedelta(hours=3))
        assert is_signed_in(signed_in)


def test_a_session_ends_a_week_after_signing_in_however_active(signed_in, clock):
    for _ in range(27):  # 6 days 18 hours, a request every 6
        clock.shift(timedelta(hours=6))
        assert is_signed_in(signed_in)

    clock.shift(timedelta(hours=6))

    assert not is_signed_in(signed_in)


def test_signing_in_again_starts_a_new_week(signed_in, clock, commander):
    clock.shift(timedelta(days=6, hours=23))
    signed_in.force_login(commander)

    clock.shift(timedelta(hours=2))

    assert is_signed_in(signed_in)
