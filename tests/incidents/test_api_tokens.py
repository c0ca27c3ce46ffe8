"""API tokens (`Authorization: Token <key>`, incidents.credentials): only a hash of the key is
stored, the key is shown once, an expired token is refused, and a password change or a
deactivation ends every token of the user. Tokens DRF's authtoken kept in plain text are
migrated as hashes and keep working."""

import importlib
import io
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from incidents.credentials import LAST_USED_PRECISION, hash_key, issue_token
from incidents.models import ApiToken

INCIDENTS = "/api/v1/incidents/"


def call_with(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get(INCIDENTS)


def test_only_a_hash_of_the_key_is_stored(commander):
    token, key = issue_token(commander)

    stored = ApiToken.objects.filter(pk=token.pk).values().get()
    assert key not in {str(value) for value in stored.values()}
    assert stored["key_hash"] == hash_key(key) and stored["prefix"] == key[:8]
    assert call_with(key).status_code == 200


def test_a_token_records_when_it_was_last_used(commander, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    token, key = issue_token(commander)

    call_with(key)
    token.refresh_from_db()
    assert token.last_used == timezone.now()

    first_use = token.last_used
    time_machine.shift(LAST_USED_PRECISION / 2)
    call_with(key)
    token.refresh_from_db()
    assert token.last_used == first_use  # not a write per call


def test_an_expired_token_is_refused(commander):
    _, key = issue_token(commander, expires_at=timezone.now() - timedelta(seconds=1))

    response = call_with(key)

    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_a_token_before_its_expiry_works(commander):
    _, key = issue_token(commander, expires_at=timezone.now() + timedelta(days=1))

    assert call_with(key).status_code == 200


def test_a_password_change_ends_every_token_of_the_user(commander, responder):
    _, first = issue_token(commander)
    _, second = issue_token(commander)
    _, others = issue_token(responder)

    commander.set_password("a-new-long-passphrase")
    commander.save()

    assert call_with(first).status_code == 401
    assert call_with(second).status_code == 401
    assert call_with(others).status_code == 200


def test_a_password_change_saved_with_update_fields_ends_the_tokens(commander):
    _, key = issue_token(commander)

    commander.set_password("a-new-long-passphrase")
    commander.save(update_fields=["password"])

    assert call_with(key).status_code == 401


def test_deactivation_ends_the_tokens_for_good(commander):
    _, key = issue_token(commander)

    commander.is_active = False
    commander.save()
    commander.is_active = True
    commander.save()

    assert not ApiToken.objects.filter(user=commander).exists()
    assert call_with(key).status_code == 401


def test_signing_in_and_other_saves_keep_the_tokens(commander):
    _, key = issue_token(commander)

    assert APIClient().login(username="cmdr", password="pw-cmdr")  # writes last_login
    commander.first_name = "Casey"
    commander.save()

    assert call_with(key).status_code == 200


def test_create_api_token_prints_a_working_key_once(commander):
    out = io.StringIO()
    call_command("create_api_token", "cmdr", stdout=out)

    key = out.getvalue().strip()
    assert len(key) == 40
    assert call_with(key).status_code == 200


def test_create_api_token_replace_ends_the_earlier_tokens(commander):
    _, old = issue_token(commander)
    out = io.StringIO()
    call_command("create_api_token", "cmdr", "--replace", "--expires-in-days", "30", stdout=out, stderr=io.StringIO())

    assert call_with(old).status_code == 401
    new = ApiToken.objects.get(user=commander)
    assert timedelta(days=29) < new.expires_at - timezone.now() <= timedelta(days=30)
    assert call_with(out.getvalue().strip()).status_code == 200


def test_create_api_token_refuses_an_unknown_user(db):
    with pytest.raises(CommandError, match="No user named 'ghost'"):
        call_command("create_api_token", "ghost")


def test_plain_text_tokens_of_drf_authtoken_are_migrated_as_hashes_and_keep_working(commander):
    legacy_key = "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token (key varchar(40) PRIMARY KEY, created timestamp NOT NULL, user_id integer)"
        )
        cursor.execute(
            "INSERT INTO authtoken_token (key, created, user_id) VALUES (%s, %s, %s)",
            [legacy_key, "2026-01-02 03:04:05", commander.pk],
        )
    migration = importlib.import_module("incidents.migrations.0013_api_tokens")

    # The step reads only the editor's connection (SQLite refuses a real editor in a test's transaction).
    migration.hash_legacy_tokens(apps, SimpleNamespace(connection=connection))

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM authtoken_token")
        assert cursor.fetchone()[0] == 0  # no key left in plain text
    token = ApiToken.objects.get(user=commander)
    assert token.created.isoformat() == "2026-01-02T03:04:05+00:00"
    assert call_with(legacy_key).status_code == 200
