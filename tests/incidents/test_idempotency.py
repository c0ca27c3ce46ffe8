"""Safe retries (the `Idempotency-Key` header) and honest conflicts (409) in the API.

A creating POST sent again with the same key returns the first answer and stores nothing new;
the same key for another request is a 422; keys are per user. Two commanders moving the same
incident at once: the one who decided on a stale state hears 409 with the current state.
"""

import threading
import time

import pytest
from django.db import connection, transaction

from incidents import services
from incidents.idempotency import KEY_TTL
from incidents.models import (
    ActionItem,
    Communication,
    CommunicationTemplate,
    IdempotencyKey,
    Impact,
    Incident,
    Membership,
    Mitigation,
    Service,
    TimelineEntry,
)
from tests.conftest import in_thread, needs_postgresql

pytestmark = pytest.mark.django_db

INCIDENTS = "/api/v1/incidents/"


def timeline(incident):
    return f"{INCIDENTS}{incident.pk}/timeline/"


# Each creating endpoint: (url for the incident, a valid body, what it creates).
ENDPOINTS = {
    "incidents": (lambda i: INCIDENTS, {"title": "Login fails", "severity": 2}, Incident),
    "timeline": (timeline, {"body": "Blocked the ASN at the edge."}, TimelineEntry),
    "impacts": (lambda i: f"{INCIDENTS}{i.pk}/impacts/", {"service": "web-chat", "level": "major_outage"}, Impact),
    "roles": (lambda i: f"{INCIDENTS}{i.pk}/roles/", {"user": "resp", "role": "scribe"}, Membership),
    "communications": (
        lambda i: f"{INCIDENTS}{i.pk}/communications/",
        {"audience": "internal", "body": "We are on it."},
        Communication,
    ),
    "mitigations": (
        lambda i: f"{INCIDENTS}{i.pk}/mitigations/",
        {"title": "Sign-ups limited", "description": "Only +49 numbers"},
        Mitigation,
    ),
    "action-items": (lambda i: f"{INCIDENTS}{i.pk}/action-items/", {"title": "Rate-limit per ASN"}, ActionItem),
    "services": (lambda i: "/api/v1/services/", {"name": "Billing"}, Service),
    "communication-templates": (
        lambda i: "/api/v1/communication-templates/",
        {"name": "Outage", "body": "{title} is down.", "language": "en"},
        CommunicationTemplate,
    ),
}


@pytest.fixture
def post(api, commander):
    def _post(url, body, key=None, user=commander):
        headers = {"Idempotency-Key": key} if key is not None else {}
        return api(user).post(url, body, format="json", headers=headers)

    return _post


@pytest.mark.parametrize("name", ENDPOINTS)
def test_a_retry_with_the_same_key_stores_one_object_and_replays_the_first_answer(
    name, post, incident, web_chat, responder
):
    url, body, model = ENDPOINTS[name]
    before = model.objects.count()

    first = post(url(incident), body, key="retry-1")
    again = post(url(incident), body, key="retry-1")

    assert first.status_code == 201, first.content
    assert model.objects.count() == before + 1
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first


@pytest.mark.parametrize("name", ["timeline", "incidents", "communications"])
def test_without_a_key_each_post_creates_as_before(name, post, incident, web_chat, responder):
    url, body, model = ENDPOINTS[name]
    before = model.objects.count()

    assert post(url(incident), body).status_code == 201
    assert post(url(incident), body).status_code == 201

    assert model.objects.count() == before + 2
    assert not IdempotencyKey.objects.exists()


def test_the_same_key_with_another_body_is_a_422_and_stores_nothing(post, incident):
    post(timeline(incident), {"body": "First note"}, key="k")

    response = post(timeline(incident), {"body": "Another note"}, key="k")

    assert response.status_code == 422
    assert "another request" in response.json()["idempotency_key"][0]
    assert list(incident.timeline.filter(kind="note").values_list("body", flat=True)) == ["First note"]


def test_the_same_key_on_another_path_is_a_422(post, incident, declare):
    other = declare(title="Second incident")
    post(timeline(incident), {"body": "Note"}, key="k")

    response = post(timeline(other), {"body": "Note"}, key="k")

    assert response.status_code == 422
    assert not other.timeline.filter(kind="note").exists()


def test_the_same_data_in_another_order_is_the_same_request(post, incident, web_chat):
    url = f"{INCIDENTS}{incident.pk}/impacts/"
    first = post(url, {"service": "web-chat", "level": "major_outage"}, key="k")
    again = post(url, {"level": "major_outage", "service": "web-chat"}, key="k")

    assert again.status_code == 201 and again.json() == first.json()
    assert incident.impacts.count() == 1


def test_keys_are_per_user(post, incident, responder):
    mine = post(timeline(incident), {"body": "Edge blocked"}, key="shared")
    theirs = post(timeline(incident), {"body": "Edge blocked"}, key="shared", user=responder)

    assert theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs
    assert theirs.json()["id"] != mine.json()["id"]
    assert theirs.json()["author"] == "resp"
    assert incident.timeline.filter(kind="note").count() == 2


def test_a_replay_after_the_entry_was_edited_still_returns_the_first_answer(api, post, incident, commander):
    first = post(timeline(incident), {"body": "Edge blocked"}, key="k")
    entry_id = first.json()["id"]
    edit = api(commander).patch(f"{timeline(incident)}{entry_id}/", {"body": "Edge blocked (ASN 64500)"}, format="json")
    assert edit.status_code == 200

    again = post(timeline(incident), {"body": "Edge blocked"}, key="k")

    assert again.json() == first.json()
    assert again.json()["body"] == "Edge blocked"
    assert incident.timeline.filter(kind="note").count() == 1


def test_a_refused_request_stores_no_key_so_it_can_be_resent(post, incident):
    refused = post(timeline(incident), {"body": "   "}, key="k")
    assert refused.status_code == 400

    fixed = post(timeline(incident), {"body": "   "}, key="k")

    assert fixed.status_code == 400  # run again, not replayed
    assert "Idempotent-Replayed" not in fixed
    assert not IdempotencyKey.objects.exists()


def test_a_caller_who_may_not_create_gets_403_even_with_a_key(post, incident, viewer):
    response = post(timeline(incident), {"body": "Hi"}, key="k", user=viewer)

    assert response.status_code == 403
    assert not IdempotencyKey.objects.exists()


@pytest.mark.parametrize(
    "key, message",
    [("x" * 256, "at most 255"), ("  ", "empty"), ('""', "empty")],
)
def test_a_bad_key_is_a_400(post, incident, key, message):
    response = post(timeline(incident), {"body": "Note"}, key=key)

    assert response.status_code == 400
    assert message in response.json()["idempotency_key"][0]
    assert not incident.timeline.filter(kind="note").exists()


def test_a_key_of_255_characters_and_a_quoted_key_work(post, incident):
    assert post(timeline(incident), {"body": "Long"}, key="x" * 255).status_code == 201
    first = post(timeline(incident), {"body": "Quoted"}, key='"abc"')
    again = post(timeline(incident), {"body": "Quoted"}, key="abc")

    assert again["Idempotent-Replayed"] == "true" and again.json() == first.json()


def test_a_key_expires_after_a_day(post, incident, time_machine):
    time_machine.move_to("2026-03-02 09:00Z", tick=False)
    post(timeline(incident), {"body": "Note"}, key="k")

    time_machine.move_to("2026-03-02 09:00Z", tick=False)
    time_machine.shift(KEY_TTL.total_seconds() + 1)
    later = post(timeline(incident), {"body": "Note"}, key="k")

    assert later.status_code == 201 and "Idempotent-Replayed" not in later
    assert incident.timeline.filter(kind="note").count() == 2
    assert IdempotencyKey.objects.count() == 1  # the expired one was purged


def test_keys_older_than_a_day_are_purged_whoever_sent_them(post, incident, responder, time_machine):
    time_machine.move_to("2026-03-02 09:00Z", tick=False)
    post(timeline(incident), {"body": "Old"}, key="old", user=responder)
    time_machine.shift(KEY_TTL.total_seconds() - 60)
    post(timeline(incident), {"body": "Recent"}, key="recent", user=responder)
    time_machine.shift(120)

    post(timeline(incident), {"body": "Now"}, key="now")

    assert sorted(IdempotencyKey.objects.values_list("key", flat=True)) == ["now", "recent"]


def test_the_timeline_entry_answer_needs_no_query_after_the_entry_is_stored(post, incident):
    """The answer is built from what the transaction holds: no query for the new entry's
    revisions (a database blip there used to turn a stored entry into a 500)."""
    response = post(timeline(incident), {"body": "Note"})

    assert response.json()["revisions"] == []
    with connection.execute_wrapper(_refuse_revision_queries):
        assert post(timeline(incident), {"body": "Another"}).status_code == 201


def _refuse_revision_queries(execute, sql, params, many, context):
    assert "timelinerevision" not in sql, sql
    return execute(sql, params, many, context)


# Status changes that race ---------------------------------------------------------------------


def test_a_status_already_set_by_someone_else_is_a_409_with_the_current_state(api, commander, incident):
    detail = f"{INCIDENTS}{incident.pk}/"
    assert api(commander).patch(detail, {"status": "monitoring"}, format="json").status_code == 200

    late = api(commander).patch(detail, {"status": "monitoring", "from_status": "investigating"}, format="json")

    assert late.status_code == 409
    body = late.json()
    assert "now monitoring" in body["status"][0]
    assert body["incident"]["status"] == "monitoring"
    assert body["incident"]["id"] == incident.key
    assert incident.timeline.filter(kind="status").count() == 1


def test_a_move_decided_on_a_stale_status_is_a_409_and_changes_nothing(api, commander, incident):
    detail = f"{INCIDENTS}{incident.pk}/"
    api(commander).patch(detail, {"status": "identified"}, format="json")

    late = api(commander).patch(
        detail, {"status": "resolved", "from_status": "investigating", "title": "New title"}, format="json"
    )

    assert late.status_code == 409
    assert late.json()["incident"]["status"] == "identified"
    incident.refresh_from_db()
    assert (incident.status, incident.title) == ("identified", "API errors")


def test_a_move_with_the_status_seen_goes_through(api, commander, incident):
    response = api(commander).patch(
        f"{INCIDENTS}{incident.pk}/", {"status": "identified", "from_status": "investigating"}, format="json"
    )

    assert response.status_code == 200 and response.json()["status"] == "identified"


def test_the_service_refuses_a_move_decided_on_a_status_read_before_another_commander_moved_it(commander, incident):
    stale = Incident.objects.get(pk=incident.pk)  # read while it was investigating
    services.change_status(incident, "monitoring", commander)

    with pytest.raises(services.StatusConflict) as refused:
        services.change_status(stale, "monitoring", commander)

    assert refused.value.current == "monitoring"
    assert "changed while you were looking" in refused.value.messages[0]


def test_the_page_says_the_incident_moved_on_when_its_status_button_was_stale(as_user, commander, incident):
    services.change_status(incident, "monitoring", commander)

    response = as_user(commander).post(
        f"/incidents/{incident.key}/status/", {"status": "monitoring", "from_status": "investigating"}, follow=True
    )

    assert "changed while you were looking: it is now monitoring" in response.content.decode()
    assert incident.timeline.filter(kind="status").count() == 1


# Concurrency (PostgreSQL: two connections really at once) ---------------------------------------


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_two_posts_with_the_same_key_at_once_store_one_entry(api, commander, incident):
    url, body = timeline(incident), {"body": "Edge blocked"}
    barrier = threading.Barrier(2)
    results = {}

    def send():
        barrier.wait()
        return api(commander).post(url, body, format="json", headers={"Idempotency-Key": "same"})

    threads = [in_thread(send, results, n) for n in ("a", "b")]
    for thread in threads:
        thread.join(30)

    codes = sorted(r.status_code for r in results.values())
    assert codes in ([201, 201], [201, 409]), codes
    assert incident.timeline.filter(kind="note").count() == 1
    assert IdempotencyKey.objects.count() == 1


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_retry_while_the_first_request_still_runs_is_a_409(api, commander, incident):
    """The first request is held inside its create (the test holds the incident's row lock);
    the retry must not wait for it, nor create a second entry."""
    url, body = timeline(incident), {"body": "Edge blocked"}
    results = {}

    def send():
        return api(commander).post(url, body, format="json", headers={"Idempotency-Key": "k"})

    with transaction.atomic():
        Incident.objects.select_for_update().get(pk=incident.pk)
        first = in_thread(send, results, "first")
        _wait_for_a_blocked_query()
        retry = in_thread(send, results, "retry")
        retry.join(10)
        retry_waited = retry.is_alive()
    first.join(30)
    retry.join(30)

    assert not retry_waited, "the retry waited for the first request instead of answering at once"
    assert results["retry"].status_code == 409
    assert "still being processed" in results["retry"].json()["idempotency_key"][0]
    assert results["first"].status_code == 201
    after = send()
    assert after.status_code == 201 and after["Idempotent-Replayed"] == "true"
    assert after.json() == results["first"].json()
    assert incident.timeline.filter(kind="note").count() == 1


def _wait_for_a_blocked_query(timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
            if cursor.fetchone()[0]:
                return
        time.sleep(0.05)
    raise AssertionError("the first request never reached the incident's row lock")
