"""The post-incident review and action items over the REST API (incidents.review.api).

Every rule is tried from each side: commander, responder, viewer, outsider, the security
group, an item's owner and anonymous callers. Bad input is a 4xx keyed by the field at fault,
never a 500, and leaves what is stored untouched; a stale edit is a 409.
"""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from incidents import services
from incidents.models import ActionItem, Incident, Review, TimelineEntry
from incidents.review import services as review
from tests.conftest import make_user
from tests.incidents.test_api import assert_field_error, count_queries, token_client

pytestmark = pytest.mark.django_db

INCIDENTS = "/api/v1/incidents/"
ALL_ITEMS = "/api/v1/action-items/"


def review_url(incident, tail=""):
    return f"{INCIDENTS}{incident.pk}/review/{tail}"


def metrics_url(incident):
    return f"{INCIDENTS}{incident.pk}/metrics/"


def items_url(incident, item=None):
    return f"{INCIDENTS}{incident.pk}/action-items/" + (f"{item.pk}/" if item else "")


def in_days(n):
    return (timezone.localdate() + timedelta(days=n)).isoformat()


def resolve(incident, commander, hours=3):
    Incident.objects.filter(pk=incident.pk).update(started_at=timezone.now() - timedelta(hours=hours))
    incident.refresh_from_db()
    services.acknowledge(incident, commander)
    services.change_status(incident, "resolved", commander)
    incident.refresh_from_db()
    return incident


@pytest.fixture
def resolved(declare, commander, api_service):
    incident = declare(title="Chat API down", severity=1)
    services.add_impact(incident, commander, service=api_service, level="major_outage", regions=["EU"])
    services.log_entry(incident, commander, "Blocked the bot network at the edge")
    return resolve(incident, commander)


@pytest.fixture
def started(resolved, commander):
    return review.start_review(resolved, commander)


@pytest.fixture
def hidden(confidential, commander):
    """A resolved confidential incident with a review and an action item."""
    resolve(confidential, commander)
    review.start_review(confidential, commander)
    review.add_action_item(confidential, commander, title="Rotate the exposed keys", owner=commander)
    return confidential


def stored(incident):
    """What is stored for an incident's review and items, to assert a refusal changed nothing."""
    return {
        "review": list(Review.objects.filter(incident=incident).values()),
        "items": list(ActionItem.objects.filter(incident=incident).order_by("id").values()),
        "timeline": incident.timeline.count(),
    }


def ids(response):
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def titles(response):
    assert response.status_code == 200, response.content
    return [row["title"] for row in response.json()["results"]]


# Metrics and reading the review ------------------------------------------------------------


def test_the_review_is_a_404_saying_so_until_it_is_started(api, viewer, resolved):
    response = api(viewer).get(review_url(resolved))
    assert response.status_code == 404
    message = response.json()["detail"]
    assert f"review of {resolved.reference} has not been started" in message
    assert metrics_url(resolved) in message


def test_metrics_are_there_before_the_review_is_started(api, viewer, resolved):
    response = api(viewer).get(metrics_url(resolved))
    assert response.status_code == 200
    body = response.json()
    assert body["incident"] == resolved.key and body["reference"] == resolved.reference
    by_key = {m["key"]: m for m in body["metrics"]}
    assert list(by_key) == ["detect", "acknowledge", "mitigate", "resolve"]
    resolve_metric = by_key["resolve"]
    assert resolve_metric["label"] == "Time to resolve"
    assert (resolve_metric["from"], resolve_metric["to"]) == ("started_at", "resolved_at")
    assert resolve_metric["seconds"] == int((resolved.resolved_at - resolved.started_at).total_seconds())
    assert resolve_metric["duration"].startswith("3 h")
    assert resolve_metric["problem"] == ""
    assert resolve_metric["started_at"] and resolve_metric["ended_at"]


def test_a_metric_that_ends_before_it_starts_says_so_and_has_no_seconds(api, viewer, resolved):
    Incident.objects.filter(pk=resolved.pk).update(detected_at=resolved.started_at - timedelta(minutes=5))
    detect = api(viewer).get(metrics_url(resolved)).json()["metrics"][0]
    assert detect["key"] == "detect"
    assert detect["seconds"] is None and detect["duration"] is None
    assert "ends before it starts" in detect["problem"]


def test_viewer_reads_the_review_with_its_metrics_and_item_counts(api, viewer, commander, responder, started):
    incident = started.incident
    review.add_action_item(incident, responder, title="Rate-limit sign-ups", due_on=timezone.localdate())
    done = review.add_action_item(incident, responder, title="Alert on spikes")
    review.update_action_item(done, responder, status="done")
    late = review.add_action_item(incident, responder, title="Write the runbook")
    ActionItem.objects.filter(pk=late.pk).update(due_on=timezone.localdate() - timedelta(days=2))
    response = api(viewer).get(review_url(incident))
    assert response.status_code == 200
    body = response.json()
    assert body["incident"] == incident.key and body["reference"] == incident.reference
    assert body["status"] == "draft" and body["version"] == 1
    assert body["owner"] is None and body["meeting_at"] is None
    assert body["body"].startswith(f"# Post-incident review: {incident.reference} Chat API down")
    assert "<h1>Post-incident review" in body["body_html"]
    assert body["created_by"] == body["updated_by"] == "cmdr"
    assert body["created_at"] and body["updated_at"]
    assert body["published_at"] is None and body["published_by"] is None
    assert [m["key"] for m in body["metrics"]] == ["detect", "acknowledge", "mitigate", "resolve"]
    assert body["action_item_counts"] == {"open": 2, "done": 1, "wont_do": 0, "overdue": 1, "total": 3}


def test_the_reviews_html_is_sanitised(api, viewer, responder, started):
    body = '# Notes\n\n<script>alert("x")</script>\n\n[click](javascript:alert(1)) <img src=x onerror=alert(1)>'
    review.update_review(started, responder, version=started.version, body=body)
    html = api(viewer).get(review_url(started.incident)).json()["body_html"]
    assert "<h1>Notes</h1>" in html
    assert "<script" not in html and "javascript:" not in html and "onerror" not in html and "<img" not in html


# Starting the review ------------------------------------------------------------------------


def test_responder_starts_the_review_drafted_from_the_timeline(api, responder, resolved):
    response = api(responder).post(review_url(resolved), {}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "draft" and body["version"] == 1 and body["created_by"] == "resp"
    assert "Blocked the bot network at the edge (cmdr)" in body["body"]
    assert body["action_item_counts"]["total"] == 0
    entry = resolved.timeline.filter(kind=TimelineEntry.Kind.REVIEW).get()
    assert entry.author == responder and entry.body.startswith("Post-incident review started")


def test_the_review_may_be_started_with_an_owner_and_a_meeting_time(api, commander, responder, resolved):
    meeting = (timezone.now() + timedelta(days=2)).replace(microsecond=0)
    response = api(commander).post(
        review_url(resolved), {"owner": "resp", "meeting_at": meeting.isoformat()}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["owner"] == "resp"
    assert Review.objects.get(incident=resolved).meeting_at == meeting


def test_starting_the_review_of_an_unresolved_incident_is_a_400_on_incident(api, commander, incident):
    response = api(commander).post(review_url(incident), {}, format="json")
    assert_field_error(response, "incident")
    assert "resolved" in response.json()["incident"][0]
    assert not Review.objects.exists()


def test_a_review_is_started_once(api, commander, started):
    response = api(commander).post(review_url(started.incident), {}, format="json")
    assert_field_error(response, "incident")
    assert Review.objects.count() == 1


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"owner": "nobody"}, "owner"),
        ({"owner": 5}, "owner"),
        ({"owner": ["cmdr"]}, "owner"),
        ({"owner": "cm\x00dr"}, "owner"),
        ({"meeting_at": "next tuesday"}, "meeting_at"),
        ({"meeting_at": "2025-02-30T10:00:00Z"}, "meeting_at"),
        ({"meeting_at": "0001-01-01T00:00:00+14:00"}, "meeting_at"),
        ({"meeting_at": 12}, "meeting_at"),
    ],
)
def test_bad_start_input_is_a_400_keyed_by_the_field_and_starts_nothing(api, commander, resolved, payload, field):
    before = stored(resolved)
    assert_field_error(api(commander).post(review_url(resolved), payload, format="json"), field)
    assert stored(resolved) == before


def test_a_deactivated_owner_is_refused(api, commander, resolved, django_user_model):
    make_user(django_user_model, "gone", "responder", is_active=False)
    assert_field_error(api(commander).post(review_url(resolved), {"owner": "gone"}, format="json"), "owner")


@pytest.mark.parametrize("who", ["viewer", "outsider"])
def test_readers_cannot_start_the_review_whatever_they_send(api, request, resolved, who):
    client = api(request.getfixturevalue(who))
    for payload in ({}, {"owner": "nobody", "meeting_at": "bad"}):
        response = client.post(review_url(resolved), payload, format="json")
        assert response.status_code == 403
        assert "responders and commanders" in response.json()["detail"]
    assert not Review.objects.exists()


# Editing the review ---------------------------------------------------------------------------


def test_responder_edits_the_review_with_the_version_they_read(api, responder, viewer, started):
    incident = started.incident
    meeting = (timezone.now() + timedelta(days=1)).replace(microsecond=0)
    response = api(responder).patch(
        review_url(incident),
        {"version": 1, "body": "# Better\n\nWhat happened.", "owner": "view", "meeting_at": meeting.isoformat()},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["version"] == 2 and body["updated_by"] == "resp" and body["created_by"] == "cmdr"
    assert body["body"] == "# Better\n\nWhat happened." and "<h1>Better</h1>" in body["body_html"]
    assert body["owner"] == "view"
    entry = incident.timeline.last()
    assert entry.body.startswith("Review edited:") and "What happened" not in entry.body


def test_an_edit_on_an_older_version_is_a_409_on_version_and_changes_nothing(api, commander, responder, started):
    incident = started.incident
    assert api(responder).patch(review_url(incident), {"version": 1, "body": "First"}, format="json").status_code == 200
    before = stored(incident)
    response = api(commander).patch(review_url(incident), {"version": 1, "body": "Second"}, format="json")
    assert response.status_code == 409
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["version"]
    assert "resp changed the review" in body["version"][0] and "not saved" in body["version"][0]
    assert stored(incident) == before
    again = api(commander).patch(review_url(incident), {"version": 2, "body": "Second"}, format="json")
    assert again.status_code == 200 and again.json()["version"] == 3


@pytest.mark.parametrize("version", [None, "x", "", 1.5, True, 0, -1, 2**63, [1], {"v": 1}, "²", "9" * 5000])
def test_an_edit_without_a_usable_version_is_a_400_on_version(api, responder, started, version):
    before = stored(started.incident)
    payload = {"body": "New"} if version is None else {"version": version, "body": "New"}
    response = api(responder).patch(review_url(started.incident), payload, format="json")
    assert_field_error(response, "version")
    assert stored(started.incident) == before


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"body": "nul\x00byte"}, "body"),
        ({"body": ["a"]}, "body"),
        ({"body": 5}, "body"),
        ({"body": "x" * (review.MAX_BODY + 1)}, "body"),
        ({"owner": "nobody"}, "owner"),
        ({"owner": True}, "owner"),
        ({"meeting_at": "2025-13-01T00:00:00Z"}, "meeting_at"),
        ({"status": "published"}, "status"),
    ],
)
def test_bad_review_edit_is_a_400_keyed_by_the_field_and_changes_nothing(api, responder, started, payload, field):
    before = stored(started.incident)
    response = api(responder).patch(review_url(started.incident), {"version": 1, **payload}, format="json")
    assert_field_error(response, field)
    assert stored(started.incident) == before


def test_the_owner_of_a_confidential_review_must_see_the_incident(api, commander, viewer, hidden):
    response = api(commander).patch(review_url(hidden), {"version": 1, "owner": "view"}, format="json")
    assert_field_error(response, "owner")
    assert "cannot see this confidential incident" in response.json()["owner"][0]


@pytest.mark.parametrize("who", ["viewer", "outsider"])
def test_readers_cannot_edit_the_review(api, request, started, who):
    before = stored(started.incident)
    client = api(request.getfixturevalue(who))
    for payload in ({"version": 1, "body": "mine"}, {"body": 5}):
        response = client.patch(review_url(started.incident), payload, format="json")
        assert response.status_code == 403
        assert "responders and commanders" in response.json()["detail"]
    assert stored(started.incident) == before


def test_editing_a_review_not_started_is_a_404(api, responder, resolved):
    response = api(responder).patch(review_url(resolved), {"version": 1, "body": "x"}, format="json")
    assert response.status_code == 404
    assert "has not been started" in response.json()["detail"]


def test_the_review_cannot_be_put_or_deleted(api, commander, started):
    client = api(commander)
    assert client.put(review_url(started.incident), {"version": 1}, format="json").status_code == 405
    assert client.delete(review_url(started.incident)).status_code == 405
    assert Review.objects.count() == 1


# Publishing and reopening ---------------------------------------------------------------------


def test_commander_publishes_and_reopens_the_review(api, commander, responder, started):
    incident = started.incident
    review.add_action_item(incident, responder, title="Rate-limit sign-ups")
    response = api(commander).post(review_url(incident, "publish/"))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "published" and body["published_at"] and body["published_by"] == "cmdr"
    assert incident.timeline.last().body == "Post-incident review published (1 open action item)."

    locked = api(responder).patch(review_url(incident), {"version": body["version"], "body": "late"}, format="json")
    assert_field_error(locked, "status")

    assert_field_error(api(commander).post(review_url(incident, "reopen/"), {}, format="json"), "reason")
    assert_field_error(api(commander).post(review_url(incident, "reopen/"), {"reason": "  "}, format="json"), "reason")
    response = api(commander).post(review_url(incident, "reopen/"), {"reason": "Missed the DNS part"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "draft" and body["published_at"] is None and body["published_by"] is None
    assert incident.timeline.last().body.endswith("Reason: Missed the DNS part")


def test_publishing_twice_is_harmless(api, commander, started):
    first = api(commander).post(review_url(started.incident, "publish/")).json()
    second = api(commander).post(review_url(started.incident, "publish/"))
    assert second.status_code == 200 and second.json()["version"] == first["version"]


def test_the_reviews_owner_may_publish_it(api, commander, django_user_model, resolved):
    owner = make_user(django_user_model, "owner", "responder")
    review.start_review(resolved, commander, owner=owner)
    response = api(owner).post(review_url(resolved, "publish/"))
    assert response.status_code == 200 and response.json()["published_by"] == "owner"


@pytest.mark.parametrize("who", ["responder", "viewer", "outsider"])
def test_only_commanders_and_the_owner_publish_or_reopen_the_review(api, request, commander, started, who):
    client = api(request.getfixturevalue(who))
    response = client.post(review_url(started.incident, "publish/"))
    assert response.status_code == 403
    assert response.json()["detail"] == "Only the incident's commanders and the review's owner may publish it."
    review.publish_review(started, commander)
    before = stored(started.incident)
    response = client.post(review_url(started.incident, "reopen/"), {"reason": 5}, format="json")
    assert response.status_code == 403
    assert "may reopen it" in response.json()["detail"]
    assert stored(started.incident) == before


def test_publishing_a_review_not_started_is_a_404(api, commander, resolved):
    assert api(commander).post(review_url(resolved, "publish/")).status_code == 404
    assert api(commander).post(review_url(resolved, "reopen/"), {"reason": "x"}, format="json").status_code == 404


@pytest.mark.parametrize("reason", [None, 5, ["a"], "a\x00b", "x" * 1001])
def test_a_bad_reopen_reason_is_a_400_on_reason(api, commander, started, reason):
    review.publish_review(started, commander)
    before = stored(started.incident)
    response = api(commander).post(review_url(started.incident, "reopen/"), {"reason": reason}, format="json")
    assert_field_error(response, "reason")
    assert stored(started.incident) == before


# Action items under an incident ----------------------------------------------------------------


def test_responder_adds_an_action_item_and_it_is_logged(api, responder, resolved):
    due = in_days(14)
    payload = {
        "title": "Alert on sign-up spikes",
        "description": "Per **country**",
        "owner": "resp",
        "due_on": due,
        "priority": "high",
        "tracker_url": "https://tracker.example.com/OPS-12",
    }
    response = api(responder).post(items_url(resolved), payload, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert {k: body[k] for k in payload} == payload
    assert body["incident"] == resolved.key and body["reference"] == resolved.reference
    assert body["status"] == "open" and body["overdue"] is False
    assert body["description_html"] == "<p>Per <strong>country</strong></p>"
    assert body["created_by"] == "resp" and body["completed_at"] is None and body["completed_by"] is None
    assert resolved.timeline.last().body == f"Action item added: **Alert on sign-up spikes**, owner resp, due {due}."


def test_an_action_item_needs_only_a_title(api, responder, incident):
    response = api(responder).post(items_url(incident), {"title": "Add capacity"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert (body["owner"], body["due_on"], body["priority"], body["tracker_url"]) == (None, None, "medium", "")


def test_action_items_are_listed_open_first_then_soonest_due(api, viewer, responder, resolved):
    def add(title, **kwargs):
        return review.add_action_item(resolved, responder, title=title, **kwargs)

    later = add("Later", due_on=timezone.localdate() + timedelta(days=30))
    undated = add("Undated", priority="high")
    soon = add("Soon", due_on=timezone.localdate() + timedelta(days=1))
    finished = add("Finished", due_on=timezone.localdate())
    review.update_action_item(finished, responder, status="done")
    response = api(viewer).get(items_url(resolved))
    assert titles(response) == ["Soon", "Later", "Undated", "Finished"]
    assert response.json()["count"] == 4
    assert api(viewer).get(items_url(resolved, soon)).json()["title"] == "Soon"
    assert ids(api(viewer).get(items_url(resolved), {"status": "open"})) == [soon.pk, later.pk, undated.pk]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": None}, "title"),
        ({"title": ["a"]}, "title"),
        ({"title": "a\x00b"}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"description": "a\x00b"}, "description"),
        ({"description": {"a": 1}}, "description"),
        ({"owner": "nobody"}, "owner"),
        ({"owner": 12}, "owner"),
        ({"owner": "a\x00b"}, "owner"),
        ({"due_on": "2025-02-30"}, "due_on"),
        ({"due_on": "tomorrow"}, "due_on"),
        ({"due_on": "2030-01-01T10:00:00Z"}, "due_on"),
        ({"due_on": 20300101}, "due_on"),
        ({"due_on": "2000-01-01"}, "due_on"),
        ({"priority": "urgent"}, "priority"),
        ({"priority": None}, "priority"),
        ({"status": "closed"}, "status"),
        ({"status": "done"}, "status"),
        ({"tracker_url": "javascript:alert(1)"}, "tracker_url"),
        ({"tracker_url": "not a url"}, "tracker_url"),
        ({"tracker_url": "https://x.example/\x00"}, "tracker_url"),
        ({"tracker_url": "https://x.example/" + "a" * 500}, "tracker_url"),
    ],
)
def test_bad_action_item_is_a_400_keyed_by_the_field_and_stores_nothing(api, responder, resolved, payload, field):
    before = stored(resolved)
    response = api(responder).post(items_url(resolved), {"title": "Fix it", **payload}, format="json")
    assert_field_error(response, field)
    assert stored(resolved) == before


def test_an_action_item_without_a_title_is_a_400_on_title(api, responder, resolved):
    response = api(responder).post(items_url(resolved), {"owner": "resp"}, format="json")
    assert_field_error(response, "title")
    assert response.json()["title"] == ["Say what must be done, in a few words."]
    assert not ActionItem.objects.exists()


@pytest.mark.parametrize("who", ["viewer", "outsider"])
def test_viewer_cannot_add_an_action_item(api, request, resolved, who):
    client = api(request.getfixturevalue(who))
    for payload in ({"title": "Mine"}, {"title": 5, "due_on": "bad"}):
        response = client.post(items_url(resolved), payload, format="json")
        assert response.status_code == 403
        assert response.json()["detail"] == "Only the incident's responders and commanders may add action items."
    assert not ActionItem.objects.exists()


def test_responder_marks_an_item_done_and_reopens_it(api, responder, commander, resolved):
    item = review.add_action_item(resolved, commander, title="Write the DDoS runbook")
    response = api(responder).patch(items_url(resolved, item), {"status": "done"}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "done" and body["completed_by"] == "resp" and body["completed_at"]
    assert resolved.timeline.last().body == "Action item done: **Write the DDoS runbook**."
    response = api(responder).patch(items_url(resolved, item), {"status": "open"}, format="json")
    body = response.json()
    assert body["status"] == "open" and body["completed_at"] is None and body["completed_by"] is None


def test_an_item_can_be_dropped_as_wont_do(api, commander, resolved):
    item = review.add_action_item(resolved, commander, title="Rewrite everything")
    response = api(commander).patch(items_url(resolved, item), {"status": "wont_do"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "wont_do"
    assert "dropped" in resolved.timeline.last().body


def test_patch_changes_any_field_and_logs_old_and_new(api, commander, responder, resolved):
    item = review.add_action_item(resolved, commander, title="x")
    due = in_days(3)
    payload = {
        "title": "Add capacity",
        "description": "More nodes",
        "owner": "resp",
        "due_on": due,
        "priority": "high",
        "tracker_url": "https://tracker.example.com/OPS-1",
    }
    response = api(commander).patch(items_url(resolved, item), payload, format="json")
    assert response.status_code == 200, response.content
    assert {k: response.json()[k] for k in payload} == payload
    entry = resolved.timeline.last()
    assert entry.data["old"]["title"] == "x" and entry.data["new"]["owner"] == "resp"
    response = api(commander).patch(items_url(resolved, item), {"owner": None, "due_on": None}, format="json")
    assert (response.json()["owner"], response.json()["due_on"]) == (None, None)


def test_an_existing_item_may_be_moved_to_a_past_due_date_and_is_overdue(api, commander, resolved):
    item = review.add_action_item(resolved, commander, title="x")
    response = api(commander).patch(items_url(resolved, item), {"due_on": in_days(-1)}, format="json")
    assert response.status_code == 200 and response.json()["overdue"] is True


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"status": "closed"}, "status"),
        ({"status": None}, "status"),
        ({"status": ["done"]}, "status"),
        ({"title": ""}, "title"),
        ({"owner": "nobody"}, "owner"),
        ({"due_on": "31/12/2030"}, "due_on"),
        ({"tracker_url": "ftp://x.example/"}, "tracker_url"),
        ({"priority": 1}, "priority"),
    ],
)
def test_bad_action_item_change_is_a_400_and_changes_nothing(api, commander, resolved, payload, field):
    item = review.add_action_item(resolved, commander, title="x")
    before = stored(resolved)
    assert_field_error(api(commander).patch(items_url(resolved, item), payload, format="json"), field)
    assert stored(resolved) == before


def test_the_owner_of_an_item_may_mark_it_done_even_as_a_viewer(api, commander, viewer, resolved):
    item = review.add_action_item(resolved, commander, title="Document the edge rules", owner=viewer)
    response = api(viewer).patch(items_url(resolved, item), {"status": "done"}, format="json")
    assert response.status_code == 200 and response.json()["completed_by"] == "view"


@pytest.mark.parametrize("who", ["viewer", "outsider"])
def test_someone_else_without_a_working_role_cannot_change_an_item(api, request, commander, responder, resolved, who):
    item = review.add_action_item(resolved, commander, title="x", owner=responder)
    before = stored(resolved)
    for payload in ({"status": "done"}, {"status": "bogus"}):
        response = api(request.getfixturevalue(who)).patch(items_url(resolved, item), payload, format="json")
        assert response.status_code == 403
        assert "the item's owner may change it" in response.json()["detail"]
    assert stored(resolved) == before


def test_an_action_items_owner_must_see_a_confidential_incident(api, commander, viewer, hidden):
    response = api(commander).post(items_url(hidden), {"title": "Rotate keys", "owner": "view"}, format="json")
    assert_field_error(response, "owner")
    assert "cannot see this confidential incident" in response.json()["owner"][0]


def test_an_item_of_another_incident_is_not_found_under_this_one(api, commander, resolved, declare):
    other = declare(title="Other")
    item = review.add_action_item(other, commander, title="Elsewhere")
    assert api(commander).get(items_url(resolved, item)).status_code == 404
    response = api(commander).patch(items_url(resolved, item), {"status": "done"}, format="json")
    assert response.status_code == 404
    assert ActionItem.objects.get(pk=item.pk).status == "open"


def test_action_items_cannot_be_deleted_or_replaced(api, commander, resolved):
    item = review.add_action_item(resolved, commander, title="x")
    assert api(commander).delete(items_url(resolved, item)).status_code == 405
    assert api(commander).put(items_url(resolved, item), {"title": "y"}, format="json").status_code == 405
    assert ActionItem.objects.filter(pk=item.pk, title="x").exists()


@pytest.mark.parametrize("tail", ["abc/", "99999999999999999999/", "0/", "-1/"])
def test_an_odd_item_id_is_a_404(api, commander, resolved, tail):
    client = api(commander)
    client.raise_request_exception = False
    assert client.get(items_url(resolved) + tail).status_code == 404
    assert client.patch(items_url(resolved) + tail, {"status": "done"}, format="json").status_code == 404


# All action items ------------------------------------------------------------------------------


def test_all_action_items_lists_the_items_of_every_incident_one_may_see(
    api, commander, viewer, outsider, security, resolved, hidden
):
    shown = review.add_action_item(resolved, commander, title="Add capacity")
    secret = hidden.action_items.get()
    for user in (viewer, outsider):
        response = api(user).get(ALL_ITEMS)
        assert ids(response) == [shown.pk] and response.json()["count"] == 1
        assert "Rotate the exposed keys" not in response.content.decode()
    for user in (commander, security):
        assert set(ids(api(user).get(ALL_ITEMS))) == {shown.pk, secret.pk}
    row = api(viewer).get(ALL_ITEMS).json()["results"][0]
    assert row["incident"] == resolved.key and row["reference"] == resolved.reference


def test_a_member_of_a_confidential_incident_sees_its_items(api, commander, outsider, hidden):
    services.assign_role(hidden, outsider, "observer", commander)
    assert titles(api(outsider).get(ALL_ITEMS)) == ["Rotate the exposed keys"]


def test_all_action_items_filter_by_status_owner_overdue_and_incident(
    api, commander, responder, viewer, resolved, declare
):
    other = resolve(declare(title="Other"), commander)
    mine = review.add_action_item(resolved, commander, title="Mine", owner=responder, due_on=timezone.localdate())
    late = review.add_action_item(other, commander, title="Late", owner=responder)
    review.update_action_item(late, commander, due_on=timezone.localdate() - timedelta(days=3))
    theirs = review.add_action_item(other, commander, title="Theirs", owner=commander)
    finished = review.add_action_item(resolved, commander, title="Finished", owner=responder)
    review.update_action_item(finished, commander, status="done")
    dropped = review.add_action_item(resolved, commander, title="Dropped")
    review.update_action_item(dropped, commander, status="wont_do")
    client = api(responder)

    def found(**params):
        return set(ids(client.get(ALL_ITEMS, params)))

    assert found(status="open") == {mine.pk, late.pk, theirs.pk}
    assert set(ids(client.get(ALL_ITEMS, {"status": ["done", "wont_do"]}))) == {finished.pk, dropped.pk}
    assert found(owner="me") == {mine.pk, late.pk, finished.pk}
    assert found(owner="cmdr") == {theirs.pk}
    assert found(owner="nobody") == set()
    assert found(overdue="true") == {late.pk}
    assert found(overdue="false") == {mine.pk, theirs.pk, finished.pk, dropped.pk}
    assert found(incident=str(other.pk)) == {late.pk, theirs.pk}
    assert found(incident=other.reference) == {late.pk, theirs.pk}
    assert found(incident=other.key) == {late.pk, theirs.pk}
    assert found(owner="me", status="open", overdue="true", incident=other.pk) == {late.pk}
    assert found(priority="medium") == {mine.pk, late.pk, theirs.pk, finished.pk, dropped.pk}
    assert ids(client.get(ALL_ITEMS))[:3] == [late.pk, mine.pk, theirs.pk]  # open first, soonest due first
    assert set(ids(api(viewer).get(ALL_ITEMS, {"owner": "me"}))) == set()


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("status", "closed"),
        ("priority", "urgent"),
        ("overdue", "maybe"),
        ("incident", "abc"),
        ("incident", "²"),
        ("incident", "9" * 40),
        ("incident", "INC-"),
        ("owner", "a\x00b"),
        ("owner", "x" * 200),
    ],
)
def test_bad_action_item_filter_is_a_400_keyed_by_the_filter(api, viewer, resolved, param, value):
    assert_field_error(api(viewer).get(ALL_ITEMS, {param: value}), param)


def test_filtering_by_a_confidential_incident_looks_like_filtering_by_a_missing_one(api, outsider, hidden):
    by_hidden = api(outsider).get(ALL_ITEMS, {"incident": hidden.pk})
    by_missing = api(outsider).get(ALL_ITEMS, {"incident": hidden.pk + 1000})
    assert by_hidden.status_code == by_missing.status_code == 200
    assert by_hidden.json() == by_missing.json() == {"count": 0, "next": None, "previous": None, "results": []}


def test_all_action_items_is_paginated(api, viewer, commander, resolved):
    ActionItem.objects.bulk_create(ActionItem(incident=resolved, title=f"Item {i}") for i in range(55))
    first = api(viewer).get(ALL_ITEMS).json()
    assert first["count"] == 55 and len(first["results"]) == 50 and first["next"]
    second = api(viewer).get(first["next"]).json()
    assert len(second["results"]) == 5 and second["next"] is None
    assert api(viewer).get(ALL_ITEMS, {"page": 3}).status_code == 404


def test_the_api_root_lists_action_items(api, viewer):
    assert "action-items" in api(viewer).get("/api/v1/").json()


# Confidential incidents: 404 everywhere for non-members -----------------------------------------


@pytest.mark.parametrize("who", ["viewer", "outsider", "responder"])
def test_non_members_get_404_for_the_review_metrics_and_action_items_of_a_confidential_incident(
    api, request, hidden, who
):
    item = hidden.action_items.get()
    before = stored(hidden)
    client = api(request.getfixturevalue(who))
    for url in (review_url(hidden), metrics_url(hidden), items_url(hidden), items_url(hidden, item)):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "Rotate" not in response.content.decode() and "Database exposed" not in response.content.decode()
    writes = [
        ("post", review_url(hidden), {}),
        ("patch", review_url(hidden), {"version": 1, "body": "peek"}),
        ("patch", review_url(hidden), {"version": "bad"}),
        ("post", review_url(hidden, "publish/"), {}),
        ("post", review_url(hidden, "reopen/"), {"reason": "peek"}),
        ("post", items_url(hidden), {"title": "peek"}),
        ("post", items_url(hidden), {"title": ""}),
        ("patch", items_url(hidden, item), {"status": "done"}),
        ("patch", items_url(hidden, item), {"status": "bogus"}),
    ]
    for method, url, payload in writes:
        response = getattr(client, method)(url, payload, format="json")
        assert response.status_code == 404, (method, url, response.status_code, response.content)
    assert stored(hidden) == before


def test_members_and_security_see_the_review_of_a_confidential_incident(api, commander, viewer, security, hidden):
    services.assign_role(hidden, viewer, "observer", commander)
    for user in (commander, viewer, security):
        client = api(user)
        assert client.get(review_url(hidden)).status_code == 200
        assert client.get(metrics_url(hidden)).status_code == 200
        assert titles(client.get(items_url(hidden))) == ["Rotate the exposed keys"]
    # An observer reads but does not write.
    assert api(viewer).post(items_url(hidden), {"title": "x"}, format="json").status_code == 403


def test_a_hidden_incident_and_a_missing_one_look_the_same(api, outsider, hidden):
    missing = Incident(pk=hidden.pk + 1000)
    for url_of in (review_url, metrics_url, items_url, lambda i: review_url(i, "publish/")):
        for method in ("get", "options", "post"):
            seen = getattr(api(outsider), method)(url_of(hidden))
            absent = getattr(api(outsider), method)(url_of(missing))
            assert seen.status_code == absent.status_code, (url_of(hidden), method)
            assert seen.content == absent.content, (url_of(hidden), method)


@pytest.mark.parametrize(
    ("method", "tail"),
    [("get", "review/"), ("post", "review/"), ("get", "metrics/"), ("get", "action-items/"), ("post", "action-items/")],
)
def test_anonymous_callers_are_refused(api, resolved, method, tail):
    response = getattr(api(None), method)(f"{INCIDENTS}{resolved.pk}/{tail}")
    assert response.status_code == 401
    assert api(None).get(ALL_ITEMS).status_code == 401


def test_session_writes_need_the_csrf_token(commander, started):
    client = Client(enforce_csrf_checks=True)
    client.force_login(commander)
    response = client.patch(review_url(started.incident), {"version": 1}, content_type="application/json")
    assert response.status_code == 403
    assert client.get(review_url(started.incident)).status_code == 200


# Query counts ---------------------------------------------------------------------------------


def add_items(incident, by, owner, n):
    for i in range(n):
        item = review.add_action_item(incident, by, title=f"Item {i}", owner=owner, due_on=timezone.localdate())
        if i % 3 == 0:
            review.update_action_item(item, by, status="done")


@pytest.mark.parametrize("who", ["outsider", "security"])
def test_all_action_items_run_the_same_number_of_queries_for_few_and_many(
    api, request, commander, responder, declare, who
):
    client = token_client(request.getfixturevalue(who))
    incident = resolve(declare(title="a"), commander)
    add_items(incident, commander, responder, 3)
    small, _ = count_queries(client, ALL_ITEMS)
    for i in range(8):
        other = resolve(declare(title=f"b{i}", confidential=bool(i % 2)), commander)
        add_items(other, commander, commander if i % 2 else responder, 5)
    big, response = count_queries(client, ALL_ITEMS)
    assert response.json()["count"] > 3
    assert big == small
    filtered, _ = count_queries(client, ALL_ITEMS, {"status": "open", "owner": "resp", "overdue": "false"})
    assert filtered == small


def test_action_item_lists_query_counts_are_small(api, commander, responder, resolved, django_assert_max_num_queries):
    add_items(resolved, commander, responder, 30)
    client = token_client(responder)
    with django_assert_max_num_queries(6):
        assert client.get(items_url(resolved)).status_code == 200
    with django_assert_max_num_queries(5):
        assert client.get(ALL_ITEMS).status_code == 200
    with django_assert_max_num_queries(6):
        assert client.get(items_url(resolved, resolved.action_items.first())).status_code == 200


def test_incident_action_items_run_the_same_number_of_queries_for_few_and_many(api, commander, viewer, resolved):
    client = token_client(viewer)
    add_items(resolved, commander, viewer, 2)
    small, _ = count_queries(client, items_url(resolved))
    add_items(resolved, commander, commander, 40)
    big, _ = count_queries(client, items_url(resolved))
    assert big == small


def test_review_and_metrics_query_counts_are_small_and_do_not_grow_with_items(
    api, commander, viewer, responder, started, django_assert_max_num_queries
):
    client = token_client(viewer)
    small, _ = count_queries(client, review_url(started.incident))
    add_items(started.incident, commander, responder, 30)
    big, response = count_queries(client, review_url(started.incident))
    assert response.json()["action_item_counts"]["total"] == 30
    assert big == small
    with django_assert_max_num_queries(6):
        assert client.get(review_url(started.incident)).status_code == 200
    with django_assert_max_num_queries(4):
        assert client.get(metrics_url(started.incident)).status_code == 200


# Never a 500 ----------------------------------------------------------------------------------

ODD_VALUES = [
    None,
    True,
    2**63,
    -(2**63) - 1,
    1.5,
    "",
    "a\x00b",
    "x" * 5000,
    "²",
    ["a", "b"],
    {"a": 1},
    "2024-02-30",
    "2024-02-30T00:00:00Z",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01",
    "9999-12-31",
]


def test_no_odd_input_makes_a_500(api, commander, started):
    incident = started.incident
    item = review.add_action_item(incident, commander, title="x")
    client = api(commander)
    client.raise_request_exception = False
    item_fields = ["title", "description", "owner", "due_on", "priority", "status", "tracker_url", "id", "incident"]
    targets = [
        ("patch", review_url(incident), ["version", "body", "owner", "meeting_at", "status"], {"version": 1}),
        ("post", items_url(incident), item_fields, {"title": "t"}),
        ("patch", items_url(incident, item), item_fields, {}),
        ("post", review_url(incident, "reopen/"), ["reason"], {}),
    ]
    failures = []
    for method, url, fields, base in targets:
        for field in fields:
            for value in ODD_VALUES:
                response = getattr(client, method)(url, {**base, field: value}, format="json")
                if response.status_code >= 500:
                    failures.append((method, url, field, repr(value)[:30]))
        for body in ("[1, 2]", '"text"', "{not json", "null"):
            response = getattr(client, method)(url, body, content_type="application/json")
            if response.status_code >= 500:
                failures.append((method, url, "body", body))
    Review.objects.all().delete()
    for field in ("owner", "meeting_at"):
        for value in ODD_VALUES:
            response = client.post(review_url(incident), {field: value}, format="json")
            if response.status_code >= 500:
                failures.append(("post", "review", field, repr(value)[:30]))
            Review.objects.all().delete()
    for url in (ALL_ITEMS, items_url(incident)):
        for param in ("status", "priority", "owner", "overdue", "incident", "page"):
            for value in ODD_VALUES:
                if client.get(url, {param: str(value)}).status_code >= 500:
                    failures.append(("get", url, param, repr(value)[:30]))
    assert failures == []


# Schema ---------------------------------------------------------------------------------------


def test_the_schema_describes_the_review_endpoints_without_warnings():
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.validation import validate_schema

    GENERATOR_STATS.reset()
    with GENERATOR_STATS.silence():
        schema = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(schema)
    assert dict(GENERATOR_STATS._error_cache) == {}
    assert [m for m in GENERATOR_STATS._warn_cache if "api_review" in m or "filters.py" in m] == []
    paths = schema["paths"]
    assert {"get", "post", "patch"} <= set(paths["/api/v1/incidents/{incident_pk}/review/"])
    assert "post" in paths["/api/v1/incidents/{incident_pk}/review/publish/"]
    assert "post" in paths["/api/v1/incidents/{incident_pk}/review/reopen/"]
    assert "get" in paths["/api/v1/incidents/{incident_pk}/metrics/"]
    assert {"get", "post"} <= set(paths["/api/v1/incidents/{incident_pk}/action-items/"])
    assert {"get", "patch"} == set(paths["/api/v1/incidents/{incident_pk}/action-items/{id}/"])
    params = {p["name"] for p in paths["/api/v1/action-items/"]["get"]["parameters"]}
    assert {"status", "priority", "owner", "overdue", "incident", "page"} <= params
    assert "409" in paths["/api/v1/incidents/{incident_pk}/review/"]["patch"]["responses"]
    names = set(schema["components"]["schemas"])
    assert {"Review", "ActionItem", "Metric", "ReviewStatusEnum", "ActionItemStatusEnum"} <= names


# Admin ----------------------------------------------------------------------------------------


@pytest.fixture
def root_client(django_user_model):
    client = Client()
    client.force_login(make_user(django_user_model, "root", is_superuser=True, is_staff=True))
    return client


def test_admin_lists_and_shows_reviews_and_action_items(root_client, commander, started):
    item = review.add_action_item(started.incident, commander, title="Add capacity", owner=commander)
    for url in (
        "/admin/incidents/review/",
        f"/admin/incidents/review/{started.pk}/change/",
        "/admin/incidents/actionitem/",
        "/admin/incidents/actionitem/?status__exact=open&q=capacity",
        f"/admin/incidents/actionitem/{item.pk}/change/",
        "/admin/incidents/actionitem/add/",
    ):
        assert root_client.get(url).status_code == 200, url
    assert b"Add capacity" in root_client.get("/admin/incidents/actionitem/?q=capacity").content


def admin_item_form(item, **changes):
    return {
        "incident": item.incident_id,
        "title": item.title,
        "description": item.description,
        "owner": item.owner_id or "",
        "due_on": item.due_on.isoformat() if item.due_on else "",
        "priority": item.priority,
        "status": item.status,
        "tracker_url": item.tracker_url,
        **changes,
    }


def test_marking_an_item_done_in_the_admin_records_when_and_by_whom(root_client, commander, resolved):
    item = review.add_action_item(resolved, commander, title="Add capacity")
    url = f"/admin/incidents/actionitem/{item.pk}/change/"
    assert root_client.post(url, admin_item_form(item, status="done")).status_code == 302
    item.refresh_from_db()
    assert item.status == "done" and item.completed_at and item.completed_by.username == "root"
    assert root_client.post(url, admin_item_form(item, status="open")).status_code == 302
    item.refresh_from_db()
    assert item.completed_at is None and item.completed_by is None


def test_the_admin_refuses_an_owner_who_cannot_see_a_confidential_incident(root_client, commander, viewer, hidden):
    item = hidden.action_items.get()
    response = root_client.post(
        f"/admin/incidents/actionitem/{item.pk}/change/", admin_item_form(item, owner=viewer.pk)
    )
    assert response.status_code == 200
    assert b"cannot see this confidential incident" in response.content
    assert ActionItem.objects.get(pk=item.pk).owner == commander


def test_an_admin_edit_of_a_review_bumps_its_version(root_client, started):
    url = f"/admin/incidents/review/{started.pk}/change/"
    data = {"owner": "", "body": "Fixed by an admin", "meeting_at_0": "", "meeting_at_1": ""}
    # The form carries the version it showed (update_review refuses to save over a later edit).
    response = root_client.post(url, {**data, "loaded_version": str(started.version)})
    assert response.status_code == 302, response.content.decode()[:2000]
    started.refresh_from_db()
    assert started.body == "Fixed by an admin" and started.version == 2
    assert started.updated_by == get_user_model().objects.get(username="root")


def test_options_describe_the_endpoints_to_those_who_may_see_them(api, commander, viewer, started):
    item = review.add_action_item(started.incident, commander, title="x")
    for user in (commander, viewer):
        for url in (
            review_url(started.incident),
            review_url(started.incident, "publish/"),
            review_url(started.incident, "reopen/"),
            metrics_url(started.incident),
            items_url(started.incident),
            items_url(started.incident, item),
            ALL_ITEMS,
        ):
            assert api(user).options(url).status_code == 200, (user, url)


def test_an_owner_without_a_role_may_only_change_the_status_of_their_item(incident, commander, viewer):
    from rest_framework.test import APIClient

    item = review.add_action_item(incident, commander, title="Alert on spikes", owner=viewer)
    client = APIClient()
    client.force_authenticate(viewer)
    url = f"/api/v1/incidents/{incident.key}/action-items/{item.pk}/"
    refused = client.patch(url, {"due_on": "2099-01-01", "owner": None}, format="json")
    assert refused.status_code == 403
    assert "mark it done" in refused.json()["detail"]
    assert client.patch(url, {"status": "done"}, format="json").status_code == 200
