"""Personal API tokens (issue #12): several named tokens per person, each read-only or
read-write and optionally expiring, created and revoked on /account/tokens/ and through
/api/v1/tokens/, the key shown once and stored hashed, every issue and revocation audited."""

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from incidents.credentials import LAST_USED_PRECISION, hash_key, issue_token
from incidents.models import ApiToken, AuditEvent

TOKENS = "/api/v1/tokens/"
INCIDENTS = "/api/v1/incidents/"


def with_key(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_person_creates_named_tokens_on_the_page_and_sees_the_key_once(as_user, responder):
    client = as_user(responder)

    first = client.post("/account/tokens/", {"name": "chat-ops bot", "scope": "read"})
    client.post("/account/tokens/", {"name": "grafana", "scope": "read_write"})

    assert first.status_code == 200
    key = first.context["new_key"]
    token = ApiToken.objects.get(name="chat-ops bot")
    assert token.user == responder and token.scope == "read" and token.key_hash == hash_key(key)
    assert key.encode() in first.content  # shown this once...
    page = client.get("/account/tokens/")
    assert key.encode() not in page.content  # ...and never again
    assert b"chat-ops bot" in page.content and b"grafana" in page.content
    assert token.prefix.encode() in page.content
    assert AuditEvent.objects.filter(action="token_created", actor_name="resp").count() == 2


def test_a_token_needs_a_name_and_a_future_expiry(as_user, responder):
    client = as_user(responder)

    nameless = client.post("/account/tokens/", {"name": "  ", "scope": "read"})
    past = client.post("/account/tokens/", {"name": "old", "scope": "read", "expires_at": "2020-01-01T10:00"})
    bad_scope = client.post("/account/tokens/", {"name": "x", "scope": "admin"})

    assert nameless.status_code == past.status_code == bad_scope.status_code == 400
    assert "expires_at" in past.context["form"].errors
    assert not ApiToken.objects.exists()


def test_read_only_token_reads_but_is_refused_writes(commander):
    _, key = issue_token(commander, name="dashboard", scope=ApiToken.Scope.READ)

    read = with_key(key).get(INCIDENTS)
    write = with_key(key).post(INCIDENTS, {"title": "From a read-only token", "severity": 2}, format="json")

    assert read.status_code == 200
    assert write.status_code == 403
    assert "read-only" in write.json()["detail"]


def test_read_write_token_may_write(commander):
    _, key = issue_token(commander, name="bot", scope=ApiToken.Scope.READ_WRITE)

    response = with_key(key).post(INCIDENTS, {"title": "Declared by the bot", "severity": 2}, format="json")

    assert response.status_code == 201


def test_tokens_through_the_api_are_in_the_schema_and_the_key_comes_once(api, responder):
    client = api(responder)

    created = client.post(TOKENS, {"name": "ci", "scope": "read", "expires_at": None}, format="json")
    listed = client.get(TOKENS)
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")

    assert created.status_code == 201
    body = created.json()
    assert body["name"] == "ci" and body["scope"] == "read" and len(body["key"]) == 40
    assert with_key(body["key"]).get(INCIDENTS).status_code == 200
    assert [t["key"] for t in listed.json()["results"]] == [None]
    assert "/api/v1/tokens/" in schema.json()["paths"]
    assert "/api/v1/tokens/{id}/" in schema.json()["paths"]


def test_bad_token_input_through_the_api_is_a_400(api, responder):
    client = api(responder)

    for body in ({"scope": "read"}, {"name": "x", "scope": "root"}, {"name": "x", "expires_at": "2001-01-01T00:00Z"}):
        assert client.post(TOKENS, body, format="json").status_code == 400
    assert not ApiToken.objects.exists()


def test_revoked_token_stops_working_at_once(as_user, responder):
    token, key = issue_token(responder, name="laptop")
    assert with_key(key).get(INCIDENTS).status_code == 200

    response = as_user(responder).post(f"/account/tokens/{token.pk}/revoke/")

    assert response.status_code == 302
    assert with_key(key).get(INCIDENTS).status_code == 401
    event = AuditEvent.objects.get(action="token_revoked")
    assert event.actor_name == "resp" and token.prefix in event.subject


def test_revoking_through_the_api(responder):
    _, key = issue_token(responder, name="script")
    other, other_key = issue_token(responder, name="other")

    response = with_key(key).delete(f"{TOKENS}{other.pk}/")

    assert response.status_code == 204
    assert with_key(other_key).get(INCIDENTS).status_code == 401


def test_nobody_sees_or_revokes_anothers_tokens(as_user, api, responder, security):
    theirs, key = issue_token(security, name="secret integration")

    page = as_user(responder).get("/account/tokens/")
    revoke = as_user(responder).post(f"/account/tokens/{theirs.pk}/revoke/")
    api_delete = api(responder).delete(f"{TOKENS}{theirs.pk}/")

    assert b"secret integration" not in page.content
    assert revoke.status_code == 404 and api_delete.status_code == 404
    assert with_key(key).get(INCIDENTS).status_code == 200


def test_read_only_token_cannot_mint_or_revoke_tokens(responder):
    token, key = issue_token(responder, name="ro", scope=ApiToken.Scope.READ)

    assert with_key(key).post(TOKENS, {"name": "escalate", "scope": "read_write"}, format="json").status_code == 403
    assert with_key(key).delete(f"{TOKENS}{token.pk}/").status_code == 403
    assert ApiToken.objects.count() == 1


def test_expired_or_deactivated_tokens_stop_at_once(commander, responder, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    _, expiring = issue_token(commander, name="short", expires_at=timezone.now() + timedelta(minutes=5))
    _, leaver_key = issue_token(responder, name="leaver")
    assert with_key(expiring).get(INCIDENTS).status_code == 200

    time_machine.shift(timedelta(minutes=5))
    responder.is_active = False
    responder.save()

    assert with_key(expiring).get(INCIDENTS).status_code == 401
    assert with_key(leaver_key).get(INCIDENTS).status_code == 401


def test_last_use_is_recorded_at_most_once_a_minute(commander, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    token, key = issue_token(commander, name="poller")

    with_key(key).get(INCIDENTS)
    first = ApiToken.objects.get(pk=token.pk).last_used
    time_machine.shift(timedelta(seconds=30))
    with_key(key).get(INCIDENTS)
    unchanged = ApiToken.objects.get(pk=token.pk).last_used
    time_machine.shift(LAST_USED_PRECISION)
    with_key(key).get(INCIDENTS)
    later = ApiToken.objects.get(pk=token.pk).last_used

    assert timedelta(minutes=1) == LAST_USED_PRECISION
    assert first is not None and unchanged == first and later > first


def test_a_token_issued_before_named_tokens_keeps_working(commander):
    # What migration 0022 leaves of an earlier token: the default name, read-write.
    key = "a" * 40
    ApiToken.objects.create(user=commander, key_hash=hash_key(key), prefix=key[:8], name="Issued before named tokens")

    assert with_key(key).post(INCIDENTS, {"title": "Still works", "severity": 3}, format="json").status_code == 201


@pytest.mark.parametrize("count", [1, 12])
def test_tokens_page_query_count_is_bounded(as_user, responder, django_assert_max_num_queries, count):
    for n in range(count):
        issue_token(responder, name=f"token {n}")
    client = as_user(responder)

    with django_assert_max_num_queries(8):
        response = client.get("/account/tokens/")

    assert response.status_code == 200 and len(response.context["tokens"]) == count


def test_tokens_api_query_count_is_bounded(responder, django_assert_max_num_queries):
    _, key = issue_token(responder, name="lister")
    for n in range(10):
        issue_token(responder, name=f"token {n}")

    with django_assert_max_num_queries(5):
        response = with_key(key).get(TOKENS)

    assert response.json()["count"] == 11


def test_anonymous_is_sent_to_sign_in(client):
    assert client.get("/account/tokens/").status_code == 302
    assert APIClient().get(TOKENS).status_code in (401, 403)
