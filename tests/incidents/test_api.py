"""The REST API under /api/v1/, exercised over HTTP against the real database.

Every access rule is tried from each side: commander, responder, viewer, outsider, the
security group, and anonymous callers. Bad input must be a 4xx keyed by the field at fault,
never a 500, and must leave what is stored untouched.
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from incidents import services
from incidents.credentials import issue_token
from incidents.models import Impact, Incident, Membership, Service, TimelineEntry, TimelineRevision

pytestmark = pytest.mark.django_db

INCIDENTS = "/api/v1/incidents/"
SERVICES = "/api/v1/services/"


def detail(incident):
    return f"{INCIDENTS}{incident.pk}/"


def timeline(incident):
    return f"{INCIDENTS}{incident.pk}/timeline/"


def impacts(incident):
    return f"{INCIDENTS}{incident.pk}/impacts/"


def roles(incident):
    return f"{INCIDENTS}{incident.pk}/roles/"


def stored(incident):
    """What is stored for an incident, to assert that a refused request changed nothing."""
    fresh = Incident.objects.get(pk=incident.pk)
    return {
        "fields": {f.attname: getattr(fresh, f.attname) for f in Incident._meta.concrete_fields},
        "services": sorted(fresh.services.values_list("slug", flat=True)),
        "roles": sorted(fresh.memberships.values_list("user__username", "role")),
        "timeline": list(fresh.timeline.order_by("id").values_list("id", "body", "edited_at")),
        "impacts": list(fresh.impacts.order_by("id").values("id", "level", "regions", "started_at", "ended_at")),
    }


def assert_field_error(response, field):
    assert response.status_code == 400, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert field in body, body
    messages = body[field]
    assert messages and all(isinstance(m, str) and m.strip() for m in messages), body


def roles_of(incident):
    return sorted(incident.memberships.values_list("user__username", "role"))


# Declaring -----------------------------------------------------------------------------------


def test_commander_declares_incident_and_gets_reference_and_investigating_status(api, commander, web_chat):
    response = api(commander).post(
        INCIDENTS,
        {
            "title": "Chat returns 502",
            "summary": "Users **worldwide** see errors.",
            "severity": 1,
            "kind": "availability",
            "confidential": False,
            "services": ["web-chat"],
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    data = response.json()
    incident = Incident.objects.get(key=data["id"])
    assert data["reference"] == f"INC-{incident.pk}"
    assert data["status"] == "investigating"
    assert data["severity"] == 1
    assert data["kind"] == "availability"
    assert data["confidential"] is False
    assert data["services"] == ["web-chat"]
    assert data["commander"] == "cmdr"
    assert roles_of(incident) == [("cmdr", "commander")]
    assert incident.timeline.filter(kind=TimelineEntry.Kind.DECLARED).count() == 1


def test_it_declares_with_only_title_and_severity_and_defaults_the_start_to_now(api, commander):
    before = timezone.now()
    response = api(commander).post(INCIDENTS, {"title": "Slow", "severity": 3}, format="json")
    assert response.status_code == 201, response.content
    incident = Incident.objects.get(key=response.json()["id"])
    assert incident.kind == "availability" and incident.confidential is False
    assert before <= incident.started_at <= timezone.now()


def test_it_declares_with_a_past_start_and_another_commander(api, commander, responder):
    started = timezone.now() - timedelta(hours=3)
    response = api(commander).post(
        INCIDENTS,
        {"title": "Bots", "severity": 2, "kind": "security", "started_at": started.isoformat(), "commander": "resp"},
        format="json",
    )
    assert response.status_code == 201, response.content
    incident = Incident.objects.get(key=response.json()["id"])
    assert incident.started_at == started
    assert response.json()["commander"] == "resp"
    assert roles_of(incident) == [("resp", "commander")]


@pytest.mark.parametrize(
    ("kind", "confidential", "expected"),
    [
        ("availability", None, False),
        ("security", None, True),
        ("data_exposure", None, True),
        ("security", False, False),
        ("availability", True, True),
    ],
)
def test_confidential_follows_the_kind_unless_given(api, commander, kind, confidential, expected):
    payload = {"title": "x", "severity": 2, "kind": kind}
    if confidential is not None:
        payload["confidential"] = confidential
    response = api(commander).post(INCIDENTS, payload, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["confidential"] is expected
    assert Incident.objects.get(key=response.json()["id"]).confidential is expected


def test_it_declares_a_confidential_incident(api, commander):
    response = api(commander).post(
        INCIDENTS, {"title": "Logs exposed", "severity": 1, "kind": "data_exposure", "confidential": True}
    )
    assert response.status_code == 201, response.content
    assert Incident.objects.get(key=response.json()["id"]).confidential is True


@pytest.mark.parametrize("who", ["viewer", "responder", "outsider"])
def test_only_commanders_may_declare(api, request, who):
    user = request.getfixturevalue(who)
    response = api(user).post(INCIDENTS, {"title": "x", "severity": 2}, format="json")
    assert response.status_code == 403
    assert response.json()["detail"]
    assert Incident.objects.count() == 0


def test_non_commander_is_refused_before_their_input_is_judged(api, viewer):
    response = api(viewer).post(INCIDENTS, {"title": "", "severity": 9}, format="json")
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"title": "x", "severity": 7}, "severity"),
        ({"title": "x", "severity": 0}, "severity"),
        ({"title": "x", "severity": "x"}, "severity"),
        ({"title": "x", "severity": None}, "severity"),
        ({"title": "x", "severity": [1]}, "severity"),
        ({"title": "x", "severity": True}, "severity"),
        ({"title": "x"}, "severity"),
        ({"title": "x", "severity": 2, "kind": "outage"}, "kind"),
        ({"title": "x", "severity": 2, "kind": ["security"]}, "kind"),
        ({"title": "x", "severity": 2, "status": "closed"}, "status"),
        ({"title": "x", "severity": 2, "status": "bogus"}, "status"),
        ({"title": "x", "severity": 2, "services": ["no-such-service"]}, "services"),
        ({"title": "x", "severity": 2, "services": "web-chat"}, "services"),
        ({"title": "x", "severity": 2, "services": [{"slug": "web-chat"}]}, "services"),
        ({"title": "x", "severity": 2, "started_at": "yesterday"}, "started_at"),
        ({"title": "x", "severity": 2, "started_at": 12345}, "started_at"),
        ({"title": "x", "severity": 2, "detected_at": "2024-13-45T99:00:00Z"}, "detected_at"),
        ({"title": "x", "severity": 2, "confidential": "maybe"}, "confidential"),
        ({"title": "x", "severity": 2, "confidential": [True]}, "confidential"),
        ({"title": ["a", "b"], "severity": 2}, "title"),
        ({"title": {"text": "a"}, "severity": 2}, "title"),
        ({"title": "   ", "severity": 2}, "title"),
        ({"title": "x" * 201, "severity": 2}, "title"),
        ({"severity": 2}, "title"),
        ({"title": "x", "severity": 2, "summary": ["a"]}, "summary"),
        ({"title": "x", "severity": 2, "commander": "nobody"}, "commander"),
        ({"title": "x", "severity": 2, "commander": ["cmdr"]}, "commander"),
    ],
)
def test_bad_declaration_is_a_400_keyed_by_the_field_and_stores_nothing(api, commander, web_chat, payload, field):
    response = api(commander).post(INCIDENTS, payload, format="json")
    assert_field_error(response, field)
    assert Incident.objects.count() == 0
    assert TimelineEntry.objects.count() == 0


@pytest.mark.parametrize("field", ["started_at", "detected_at"])
def test_declaring_with_a_future_time_is_refused(api, commander, field):
    future = (timezone.now() + timedelta(hours=2)).isoformat()
    response = api(commander).post(INCIDENTS, {"title": "x", "severity": 2, field: future}, format="json")
    assert_field_error(response, field)
    assert Incident.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("[1, 2, 3]", "application/json"),
        ('"just a string"', "application/json"),
        ("{not json", "application/json"),
        ("", "application/json"),
        ("title=x&severity=2", "text/plain"),
    ],
)
def test_malformed_declaration_body_is_a_4xx_not_a_500(api, commander, body, content_type):
    response = api(commander).generic("POST", INCIDENTS, body, content_type=content_type)
    assert 400 <= response.status_code < 500, response.content
    assert response.json()
    assert Incident.objects.count() == 0


def test_form_encoded_declaration_works_too(api, commander):
    response = api(commander).post(INCIDENTS, {"title": "Form", "severity": "2", "kind": "performance"})
    assert response.status_code == 201, response.content
    assert response.json()["severity"] == 2


# Reading ------------------------------------------------------------------------------------


def test_incident_detail_shows_the_incident(api, viewer, declare, web_chat):
    incident = declare(title="Chat down", services=[web_chat], kind="availability")
    response = api(viewer).get(detail(incident))
    assert response.status_code == 200
    data = response.json()
    assert data["id"] == incident.key
    assert data["reference"] == incident.reference
    assert data["title"] == "Chat down"
    assert data["services"] == ["web-chat"]
    assert data["commander"] == "cmdr"
    assert "reason" not in data


def test_the_api_names_incidents_by_key_and_takes_the_number_of_older_clients(api, viewer, declare):
    incident = declare(title="Chat down")
    client = api(viewer)
    listed = client.get(INCIDENTS).json()["results"]
    assert [row["id"] for row in listed] == [incident.key]
    by_number = client.get(f"{INCIDENTS}{incident.pk}/")
    assert by_number.status_code == 200 and by_number.json()["id"] == incident.key
    assert client.get(f"{INCIDENTS}{incident.key}/timeline/").json()["results"][0]["body"].startswith("Declared")
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    parameters = schema["paths"]["/api/v1/incidents/{incident_pk}/timeline/"]["get"]["parameters"]
    (parameter,) = [p for p in parameters if p["name"] == "incident_pk"]
    assert parameter["schema"]["type"] == "string"
    assert schema["components"]["schemas"]["Incident"]["properties"]["id"]["type"] == "string"


def test_unknown_incident_is_a_404(api, commander):
    assert api(commander).get(f"{INCIDENTS}999999/").status_code == 404
    assert api(commander).get(f"{INCIDENTS}abc/").status_code == 404
    assert api(commander).get(f"{INCIDENTS}999999/timeline/").status_code == 404


def test_list_shows_open_incidents_first(api, viewer, declare, commander):
    resolved = declare(title="Old", severity=1)
    services.change_status(resolved, "resolved", commander)
    sev3 = declare(title="Minor", severity=3)
    sev1 = declare(title="Major", severity=1)
    response = api(viewer).get(INCIDENTS)
    assert response.status_code == 200
    assert [r["id"] for r in response.json()["results"]] == [sev1.key, sev3.key, resolved.key]


# Changing an incident ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        ["identified", "monitoring", "resolved", "closed"],
        ["monitoring", "identified", "investigating", "resolved"],
        ["resolved", "investigating", "identified"],
    ],
)
def test_commander_moves_status_along_legal_paths_and_each_move_is_logged(api, commander, incident, path):
    client = api(commander)
    previous = "investigating"
    for status in path:
        response = client.patch(detail(incident), {"status": status}, format="json")
        assert response.status_code == 200, response.content
        assert response.json()["status"] == status
        entry = incident.timeline.filter(kind=TimelineEntry.Kind.STATUS).latest("id")
        assert entry.data == {"field": "status", "old": previous, "new": status}
        assert entry.author == commander
        previous = status
    incident.refresh_from_db()
    assert incident.status == path[-1]


def test_resolving_records_the_times(api, commander, incident):
    response = api(commander).patch(detail(incident), {"status": "resolved"}, format="json")
    data = response.json()
    assert data["acknowledged_at"] and data["mitigated_at"] and data["resolved_at"]
    assert data["closed_at"] is None


@pytest.mark.parametrize(
    ("setup", "target"),
    [
        ([], "closed"),
        (["identified"], "closed"),
        (["resolved"], "monitoring"),
        (["resolved", "closed"], "investigating"),
        (["resolved", "closed"], "resolved"),
        (["resolved", "closed"], "identified"),
    ],
)
def test_illegal_status_move_is_a_400_and_leaves_the_incident_unchanged(api, commander, incident, setup, target):
    for status in setup:
        services.change_status(incident, status, commander)
    before = stored(incident)
    response = api(commander).patch(detail(incident), {"status": target}, format="json")
    assert_field_error(response, "status")
    assert "Cannot move" in response.json()["status"][0]
    assert stored(incident) == before


@pytest.mark.parametrize("status", ["bogus", "", None, 3, ["resolved"], {"to": "resolved"}])
def test_unknown_status_is_a_400(api, commander, incident, status):
    before = stored(incident)
    response = api(commander).patch(detail(incident), {"status": status}, format="json")
    assert_field_error(response, "status")
    assert stored(incident) == before


def test_a_refused_status_move_undoes_the_other_changes_in_the_same_request(api, commander, incident, web_chat):
    before = stored(incident)
    response = api(commander).patch(
        detail(incident),
        {"title": "Renamed", "severity": 1, "services": ["web-chat"], "status": "closed"},
        format="json",
    )
    assert_field_error(response, "status")
    assert stored(incident) == before


def test_patching_the_same_status_is_harmless(api, commander, incident):
    before = stored(incident)
    response = api(commander).patch(detail(incident), {"status": "investigating"}, format="json")
    assert response.status_code == 200
    assert stored(incident) == before


def test_commander_changes_severity_and_it_is_logged(api, commander, incident):
    response = api(commander).patch(detail(incident), {"severity": 1}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["severity"] == 1
    entry = incident.timeline.get(kind=TimelineEntry.Kind.SEVERITY)
    assert entry.data == {"field": "severity", "old": 2, "new": 1}


@pytest.mark.parametrize("severity", [7, 0, "x", None, [1], "", 2.5])
def test_bad_severity_change_is_a_400(api, commander, incident, severity):
    before = stored(incident)
    response = api(commander).patch(detail(incident), {"severity": severity}, format="json")
    assert_field_error(response, "severity")
    assert stored(incident) == before


def test_commander_edits_title_summary_kind_and_services(api, commander, incident, web_chat, api_service):
    response = api(commander).patch(
        detail(incident),
        {
            "title": "Chat and API down",
            "summary": "Both",
            "kind": "security",
            "services": ["web-chat", "public-api"],
            "confidential": True,
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["title"] == "Chat and API down"
    assert data["kind"] == "security"
    assert data["confidential"] is True
    assert sorted(data["services"]) == ["public-api", "web-chat"]
    changed = {e.data["field"] for e in incident.timeline.filter(kind=TimelineEntry.Kind.FIELD)}
    assert changed == {"title", "summary", "kind", "services", "confidential"}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "   "}, "title"),
        ({"title": ["a"]}, "title"),
        ({"kind": "outage"}, "kind"),
        ({"confidential": "maybe"}, "confidential"),
        ({"services": ["nope"]}, "services"),
        ({"services": "web-chat"}, "services"),
        ({"started_at": "yesterday"}, "started_at"),
        ({"started_at": None}, "started_at"),
        ({"resolved_at": "not a time"}, "resolved_at"),
        ({"commander": "nobody"}, "commander"),
        ({"commander": 12}, "commander"),
    ],
)
def test_bad_field_change_is_a_400_keyed_by_the_field_and_changes_nothing(
    api, commander, incident, web_chat, payload, field
):
    before = stored(incident)
    response = api(commander).patch(detail(incident), payload, format="json")
    assert_field_error(response, field)
    assert stored(incident) == before


@pytest.mark.parametrize("field", ["started_at", "detected_at", "acknowledged_at", "resolved_at"])
def test_a_time_in_the_future_is_refused(api, commander, incident, field):
    before = stored(incident)
    future = (timezone.now() + timedelta(minutes=5)).isoformat()
    response = api(commander).patch(detail(incident), {field: future}, format="json")
    assert_field_error(response, field)
    assert stored(incident) == before


def test_commander_corrects_a_time_with_a_reason_and_the_correction_is_logged(api, commander, incident):
    earlier = timezone.now() - timedelta(hours=6)
    response = api(commander).patch(
        detail(incident), {"started_at": earlier.isoformat(), "reason": "Logs show errors from 03:00"}, format="json"
    )
    assert response.status_code == 200, response.content
    incident.refresh_from_db()
    assert incident.started_at == earlier
    entry = incident.timeline.get(kind=TimelineEntry.Kind.TIME)
    assert entry.data["field"] == "started_at"
    assert entry.data["reason"] == "Logs show errors from 03:00"


def test_handover_through_patch_leaves_exactly_one_commander(api, commander, responder, incident):
    response = api(commander).patch(detail(incident), {"commander": "resp"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["commander"] == "resp"
    assert list(incident.memberships.filter(role="commander").values_list("user__username", flat=True)) == ["resp"]
    assert roles_of(incident) == [("cmdr", "responder"), ("resp", "commander")]
    entry = incident.timeline.get(kind=TimelineEntry.Kind.ROLE)
    assert entry.data == {"field": "commander", "old": "cmdr", "new": "resp"}


def test_handing_over_to_the_current_commander_is_a_400_on_the_commander_field(api, commander, incident):
    before = stored(incident)
    response = api(commander).patch(detail(incident), {"commander": "cmdr"}, format="json")
    assert_field_error(response, "commander")
    assert stored(incident) == before


def test_an_incident_commander_without_the_global_role_may_change_status_and_hand_over(
    api, commander, responder, viewer, incident
):
    services.hand_over_command(incident, responder, commander)
    response = api(responder).patch(detail(incident), {"status": "identified", "commander": "view"}, format="json")
    assert response.status_code == 200, response.content
    incident.refresh_from_db()
    assert incident.status == "identified"
    assert services.commander_of(incident) == viewer


@pytest.mark.parametrize("who", ["viewer", "responder", "outsider"])
def test_non_commanders_cannot_change_an_incident(api, request, incident, who):
    before = stored(incident)
    for payload in ({"status": "identified"}, {"severity": 1}, {"title": "Hijacked"}, {"commander": "view"}):
        response = api(request.getfixturevalue(who)).patch(detail(incident), payload, format="json")
        assert response.status_code == 403, (payload, response.content)
    assert stored(incident) == before


def test_viewer_patch_with_bad_input_is_still_403(api, viewer, incident):
    response = api(viewer).patch(detail(incident), {"severity": 9}, format="json")
    assert response.status_code == 403


def test_put_replaces_editable_fields(api, commander, incident):
    response = api(commander).put(
        detail(incident), {"title": "Replaced", "severity": 4, "kind": "other", "summary": ""}, format="json"
    )
    assert response.status_code == 200, response.content
    incident.refresh_from_db()
    assert (incident.title, incident.severity, incident.kind) == ("Replaced", 4, "other")


def test_incidents_cannot_be_deleted_through_the_api(api, commander, incident):
    assert api(commander).delete(detail(incident)).status_code == 405
    assert Incident.objects.filter(pk=incident.pk).exists()


# Timeline -------------------------------------------------------------------------------------


def test_responder_logs_an_entry_and_it_shows_in_the_timeline(api, responder, incident):
    response = api(responder).post(timeline(incident), {"body": "Rate limiting at the edge."}, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["body"] == "Rate limiting at the edge."
    assert data["author"] == "resp"
    assert data["kind"] == "note"
    assert data["revisions"] == []
    listed = api(responder).get(timeline(incident)).json()["results"]
    assert listed[-1]["id"] == data["id"]


def test_an_entry_may_be_backdated(api, responder, incident):
    when = timezone.now() - timedelta(hours=2)
    response = api(responder).post(
        timeline(incident), {"body": "First error in the logs", "occurred_at": when.isoformat()}, format="json"
    )
    assert response.status_code == 201, response.content
    entry = TimelineEntry.objects.get(pk=response.json()["id"])
    assert entry.occurred_at == when
    assert entry.recorded_at > when


def test_timeline_lists_entries_oldest_first_by_occurrence(api, viewer, responder, incident):
    now = timezone.now()
    services.log_entry(incident, responder, "later", occurred_at=now - timedelta(minutes=1))
    services.log_entry(incident, responder, "earliest", occurred_at=now - timedelta(hours=1))
    services.log_entry(incident, responder, "latest")
    response = api(viewer).get(timeline(incident))
    assert response.status_code == 200
    bodies = [e["body"] for e in response.json()["results"]]
    occurred = [e["occurred_at"] for e in response.json()["results"]]
    assert occurred == sorted(occurred)
    assert bodies.index("earliest") < bodies.index("later") < bodies.index("latest")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "body"),
        ({"body": ""}, "body"),
        ({"body": "   "}, "body"),
        ({"body": None}, "body"),
        ({"body": ["a", "b"]}, "body"),
        ({"body": {"text": "a"}}, "body"),
        ({"body": "x", "occurred_at": "yesterday"}, "occurred_at"),
        ({"body": "x", "occurred_at": ["2024-01-01T00:00:00Z"]}, "occurred_at"),
    ],
)
def test_bad_timeline_entry_is_a_400_and_logs_nothing(api, responder, incident, payload, field):
    before = stored(incident)
    response = api(responder).post(timeline(incident), payload, format="json")
    assert_field_error(response, field)
    assert stored(incident) == before


def test_an_entry_in_the_future_is_refused(api, responder, incident):
    before = stored(incident)
    future = (timezone.now() + timedelta(hours=1)).isoformat()
    response = api(responder).post(timeline(incident), {"body": "x", "occurred_at": future}, format="json")
    assert_field_error(response, "occurred_at")
    assert stored(incident) == before


def test_timeline_post_without_a_body_at_all_is_a_400(api, responder, incident):
    response = api(responder).generic("POST", timeline(incident), "", content_type="application/json")
    assert 400 <= response.status_code < 500
    response = api(responder).generic("POST", timeline(incident), "[]", content_type="application/json")
    assert response.status_code == 400


@pytest.mark.parametrize("who", ["viewer", "outsider"])
def test_readers_cannot_log_to_the_timeline(api, request, incident, who):
    before = stored(incident)
    response = api(request.getfixturevalue(who)).post(timeline(incident), {"body": "hello"}, format="json")
    assert response.status_code == 403
    assert stored(incident) == before


def test_editing_an_entry_keeps_the_earlier_text_as_a_revision(api, responder, viewer, incident):
    entry = services.log_entry(incident, responder, "Bots from one ASN")
    url = f"{timeline(incident)}{entry.pk}/"
    response = api(responder).patch(url, {"body": "Bots from three ASNs"}, format="json")
    assert response.status_code == 200, response.content
    response = api(responder).patch(url, {"body": "Bots from many ASNs"}, format="json")
    assert response.status_code == 200
    data = api(viewer).get(url).json()
    assert data["body"] == "Bots from many ASNs"
    assert data["edited_at"]
    assert [r["body"] for r in data["revisions"]] == ["Bots from one ASN", "Bots from three ASNs"]
    assert data["revisions"][0]["replaced_by"] == "resp"


def test_an_entry_cannot_be_emptied_or_moved_in_time(api, responder, incident):
    entry = services.log_entry(incident, responder, "Original")
    url = f"{timeline(incident)}{entry.pk}/"
    assert_field_error(api(responder).patch(url, {"body": ""}, format="json"), "body")
    earlier = (timezone.now() - timedelta(hours=1)).isoformat()
    assert_field_error(api(responder).patch(url, {"occurred_at": earlier}, format="json"), "occurred_at")
    entry.refresh_from_db()
    assert entry.body == "Original" and not entry.revisions.exists()


def test_recorded_changes_cannot_be_edited(api, commander, incident):
    declared = incident.timeline.get(kind=TimelineEntry.Kind.DECLARED)
    response = api(commander).patch(f"{timeline(incident)}{declared.pk}/", {"body": "Rewritten"}, format="json")
    assert_field_error(response, "body")
    declared.refresh_from_db()
    assert declared.body.startswith("Declared")


def test_another_responder_cannot_edit_an_entry_but_a_commander_can(
    api, django_user_model, commander, responder, incident
):
    entry = services.log_entry(incident, responder, "Original")
    url = f"{timeline(incident)}{entry.pk}/"
    other = django_user_model.objects.create_user(username="resp2")
    other.groups.add(*responder.groups.all())
    assert api(other).patch(url, {"body": "Not mine"}, format="json").status_code == 403
    assert api(commander).patch(url, {"body": "Clarified"}, format="json").status_code == 200
    entry.refresh_from_db()
    assert entry.body == "Clarified"
    assert list(entry.revisions.values_list("body", flat=True)) == ["Original"]


def test_viewer_cannot_edit_an_entry(api, responder, viewer, incident):
    entry = services.log_entry(incident, responder, "Original")
    response = api(viewer).patch(f"{timeline(incident)}{entry.pk}/", {"body": "Mine now"}, format="json")
    assert response.status_code == 403
    assert not TimelineRevision.objects.exists()


def test_timeline_entries_cannot_be_deleted(api, commander, responder, incident):
    entry = services.log_entry(incident, responder, "Keep me")
    assert api(commander).delete(f"{timeline(incident)}{entry.pk}/").status_code == 405
    assert TimelineEntry.objects.filter(pk=entry.pk).exists()


def test_an_entry_of_another_incident_is_not_found_under_this_one(api, responder, declare, incident):
    other = declare(title="Other")
    entry = services.log_entry(other, responder, "Elsewhere")
    assert api(responder).get(f"{timeline(incident)}{entry.pk}/").status_code == 404
    assert api(responder).patch(f"{timeline(incident)}{entry.pk}/", {"body": "x"}, format="json").status_code == 404


# Impacts --------------------------------------------------------------------------------------


def test_commander_records_an_impact_and_it_is_logged(api, commander, incident, web_chat):
    response = api(commander).post(
        impacts(incident), {"service": "web-chat", "level": "major_outage", "regions": ["EU", "US"]}, format="json"
    )
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["service"] == "web-chat"
    assert data["level"] == "major_outage"
    assert data["regions"] == ["EU", "US"]
    assert data["ended_at"] is None
    assert incident.services.filter(pk=web_chat.pk).exists()
    entry = incident.timeline.get(kind=TimelineEntry.Kind.IMPACT)
    assert entry.data["service"] == "web-chat" and entry.data["new"] == "major_outage"
    listed = api(commander).get(impacts(incident)).json()["results"]
    assert [i["id"] for i in listed] == [data["id"]]


def test_commander_ends_an_impact_with_patch(api, commander, incident, web_chat):
    impact = services.add_impact(incident, commander, service=web_chat, level="partial_outage")
    ended = timezone.now().isoformat()
    response = api(commander).patch(f"{impacts(incident)}{impact.pk}/", {"ended_at": ended}, format="json")
    assert response.status_code == 200, response.content
    impact.refresh_from_db()
    assert impact.ended_at is not None and not impact.is_open
    assert incident.timeline.filter(body__contains="ended").exists()


def test_commander_changes_an_impact_level(api, commander, incident, web_chat):
    impact = services.add_impact(incident, commander, service=web_chat, level="partial_outage")
    response = api(commander).patch(f"{impacts(incident)}{impact.pk}/", {"level": "major_outage"}, format="json")
    assert response.status_code == 200, response.content
    impact.refresh_from_db()
    assert impact.level == "major_outage"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"service": "web-chat", "level": "on_fire"}, "level"),
        ({"service": "web-chat", "level": ["major_outage"]}, "level"),
        ({"service": "web-chat"}, "level"),
        ({"service": "nope", "level": "major_outage"}, "service"),
        ({"service": ["web-chat"], "level": "major_outage"}, "service"),
        ({"service": None, "level": "major_outage"}, "service"),
        ({"level": "major_outage"}, "service"),
        ({"service": "web-chat", "level": "major_outage", "regions": "EU"}, "regions"),
        ({"service": "web-chat", "level": "major_outage", "regions": [["EU"]]}, "regions"),
        ({"service": "web-chat", "level": "major_outage", "regions": None}, "regions"),
        ({"service": "web-chat", "level": "major_outage", "started_at": "yesterday"}, "started_at"),
        ({"service": "web-chat", "level": "major_outage", "ended_at": "2000-01-01T00:00:00Z"}, "ended_at"),
    ],
)
def test_bad_impact_is_a_400_and_stores_nothing(api, commander, incident, web_chat, payload, field):
    before = stored(incident)
    response = api(commander).post(impacts(incident), payload, format="json")
    assert_field_error(response, field)
    assert stored(incident) == before
    assert Impact.objects.count() == 0


def test_a_scheduled_impact_does_not_change_service_status_until_it_starts(api, commander, incident, web_chat):
    future = (timezone.now() + timedelta(hours=1)).isoformat()
    response = api(commander).post(
        impacts(incident), {"service": "web-chat", "level": "under_maintenance", "started_at": future}, format="json"
    )
    assert response.status_code == 201, response.content
    assert api(commander).get(f"{SERVICES}{web_chat.pk}/").json()["status"] == "operational"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"level": "on_fire"}, "level"),
        ({"ended_at": "soon"}, "ended_at"),
        ({"ended_at": "2000-01-01T00:00:00Z"}, "ended_at"),
        ({"service": "public-api"}, "service"),
        ({"regions": "EU"}, "regions"),
    ],
)
def test_bad_impact_change_is_a_400_and_changes_nothing(
    api, commander, incident, web_chat, api_service, payload, field
):
    impact = services.add_impact(incident, commander, service=web_chat, level="partial_outage")
    before = stored(incident)
    response = api(commander).patch(f"{impacts(incident)}{impact.pk}/", payload, format="json")
    assert_field_error(response, field)
    assert stored(incident) == before


@pytest.mark.parametrize("who", ["viewer", "responder", "outsider"])
def test_non_commanders_cannot_record_or_change_impacts(api, request, commander, incident, web_chat, who):
    impact = services.add_impact(incident, commander, service=web_chat, level="partial_outage")
    before = stored(incident)
    client = api(request.getfixturevalue(who))
    response = client.post(impacts(incident), {"service": "web-chat", "level": "major_outage"}, format="json")
    assert response.status_code == 403
    response = client.patch(f"{impacts(incident)}{impact.pk}/", {"ended_at": timezone.now().isoformat()})
    assert response.status_code == 403
    assert stored(incident) == before


def test_impacts_cannot_be_deleted(api, commander, incident, web_chat):
    impact = services.add_impact(incident, commander, service=web_chat, level="partial_outage")
    assert api(commander).delete(f"{impacts(incident)}{impact.pk}/").status_code == 405


# Roles --------------------------------------------------------------------------------------


def test_roles_list_who_holds_what(api, viewer, commander, responder, incident):
    services.assign_role(incident, responder, "deputy", commander)
    response = api(viewer).get(roles(incident))
    assert response.status_code == 200
    held = sorted((r["user"], r["role"]) for r in response.json())
    assert held == [("cmdr", "commander"), ("resp", "deputy")]


def test_commander_assigns_a_role_and_it_is_logged(api, commander, responder, incident):
    response = api(commander).post(roles(incident), {"user": "resp", "role": "scribe"}, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["user"], data["role"], data["assigned_by"]) == ("resp", "scribe", "cmdr")
    assert ("resp", "scribe") in roles_of(incident)
    assert incident.timeline.filter(kind=TimelineEntry.Kind.ROLE).count() == 1


def test_posting_the_commander_role_hands_over_command(api, commander, responder, incident):
    response = api(commander).post(roles(incident), {"user": "resp", "role": "commander"}, format="json")
    assert response.status_code == 201, response.content
    assert incident.memberships.filter(role="commander").count() == 1
    assert services.commander_of(incident) == responder


def test_a_second_holder_of_a_single_role_replaces_the_first(api, commander, responder, viewer, incident):
    services.assign_role(incident, responder, "comms_lead", commander)
    response = api(commander).post(roles(incident), {"user": "view", "role": "comms_lead"}, format="json")
    assert response.status_code == 201
    assert incident.memberships.filter(role="comms_lead").get().user == viewer


def test_commander_removes_a_role(api, commander, responder, incident):
    services.assign_role(incident, responder, "responder", commander)
    membership = incident.memberships.get(user=responder)
    response = api(commander).delete(f"{roles(incident)}{membership.pk}/")
    assert response.status_code == 204
    assert not incident.memberships.filter(user=responder).exists()
    assert "no longer responder" in incident.timeline.latest("id").body


def test_the_commander_role_cannot_be_removed(api, commander, incident):
    membership = incident.memberships.get(role="commander")
    before = stored(incident)
    response = api(commander).delete(f"{roles(incident)}{membership.pk}/")
    assert_field_error(response, "role")
    assert stored(incident) == before


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"user": "resp", "role": "captain"}, "role"),
        ({"user": "resp"}, "role"),
        ({"user": "nobody", "role": "scribe"}, "user"),
        ({"user": ["resp"], "role": "scribe"}, "user"),
        ({"role": "scribe"}, "user"),
        ({"user": "resp", "role": ["scribe"]}, "role"),
    ],
)
def test_bad_role_is_a_400(api, commander, responder, incident, payload, field):
    before = stored(incident)
    response = api(commander).post(roles(incident), payload, format="json")
    assert_field_error(response, field)
    assert stored(incident) == before


def test_assigning_a_role_someone_already_holds_is_a_400(api, commander, responder, incident):
    services.assign_role(incident, responder, "scribe", commander)
    before = stored(incident)
    response = api(commander).post(roles(incident), {"user": "resp", "role": "scribe"}, format="json")
    assert_field_error(response, "user")
    assert stored(incident) == before


@pytest.mark.parametrize("who", ["viewer", "responder", "outsider"])
def test_non_commanders_cannot_assign_or_remove_roles(api, request, commander, responder, incident, who):
    services.assign_role(incident, responder, "observer", commander)
    membership = incident.memberships.get(user=responder)
    before = stored(incident)
    client = api(request.getfixturevalue(who))
    assert client.post(roles(incident), {"user": "resp", "role": "scribe"}, format="json").status_code == 403
    assert client.delete(f"{roles(incident)}{membership.pk}/").status_code == 403
    assert stored(incident) == before


def test_a_role_of_another_incident_cannot_be_removed_through_this_one(api, commander, responder, declare, incident):
    other = declare(title="Other")
    services.assign_role(other, responder, "observer", commander)
    membership = other.memberships.get(user=responder)
    assert api(commander).delete(f"{roles(incident)}{membership.pk}/").status_code == 404
    assert Membership.objects.filter(pk=membership.pk).exists()


# Services -------------------------------------------------------------------------------------


def service_row(response, slug):
    rows = response.json()["results"]
    return next(r for r in rows if r["slug"] == slug)


def test_services_list_shows_current_status_from_open_impacts(api, viewer, commander, incident, web_chat, api_service):
    services.add_impact(incident, commander, service=web_chat, level="degraded_performance")
    services.add_impact(incident, commander, service=web_chat, level="major_outage")
    ended = services.add_impact(incident, commander, service=api_service, level="major_outage")
    services.update_impact(ended, commander, ended_at=timezone.now())
    response = api(viewer).get(SERVICES)
    assert response.status_code == 200
    assert service_row(response, "web-chat")["status"] == "major_outage"
    assert service_row(response, "public-api")["status"] == "operational"


def test_service_detail_shows_status(api, viewer, commander, incident, web_chat):
    services.add_impact(incident, commander, service=web_chat, level="partial_outage")
    response = api(viewer).get(f"{SERVICES}{web_chat.pk}/")
    assert response.status_code == 200
    assert response.json()["status"] == "partial_outage"


def test_commander_creates_a_service(api, commander, responder):
    response = api(commander).post(
        SERVICES,
        {"name": "Login and sign-up", "group": "Product", "owner": "resp", "public": True},
        format="json",
    )
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["slug"] == "login-and-sign-up"
    assert data["status"] == "operational"
    assert Service.objects.get(slug="login-and-sign-up").owner == responder


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": ["x"]}, "name"),
        ({"name": "Web chat"}, "name"),
        ({"name": "web CHAT"}, "name"),
        ({"name": "Other", "slug": "web-chat"}, "slug"),
        ({"name": "Web-Chat!"}, "slug"),
        ({"name": "!!!"}, "slug"),
        ({"name": "ウェブ"}, "slug"),
        ({"name": "Other", "slug": "not a slug!"}, "slug"),
        ({"name": "Other", "owner": "nobody"}, "owner"),
        ({"name": "Other", "public": "maybe"}, "public"),
        ({"name": "Other", "position": -1}, "position"),
        ({"name": "Other", "position": "first"}, "position"),
    ],
)
def test_bad_service_is_a_400(api, commander, web_chat, payload, field):
    response = api(commander).post(SERVICES, payload, format="json")
    assert_field_error(response, field)
    assert list(Service.objects.values_list("slug", flat=True)) == ["web-chat"]


@pytest.mark.parametrize("who", ["viewer", "responder", "outsider"])
def test_only_commanders_edit_the_service_catalog(api, request, web_chat, who):
    client = api(request.getfixturevalue(who))
    assert client.post(SERVICES, {"name": "New"}, format="json").status_code == 403
    assert client.patch(f"{SERVICES}{web_chat.pk}/", {"name": "Renamed"}, format="json").status_code == 403
    assert client.delete(f"{SERVICES}{web_chat.pk}/").status_code == 403
    assert list(Service.objects.values_list("name", flat=True)) == ["Web chat"]


def test_commander_edits_a_service(api, commander, web_chat):
    response = api(commander).patch(f"{SERVICES}{web_chat.pk}/", {"description": "The chat UI"}, format="json")
    assert response.status_code == 200, response.content
    web_chat.refresh_from_db()
    assert web_chat.description == "The chat UI"


def test_a_service_named_by_an_incident_cannot_be_deleted(api, commander, declare, web_chat, api_service):
    services.add_impact(declare(), commander, service=web_chat, level="partial_outage")
    assert_field_error(api(commander).delete(f"{SERVICES}{web_chat.pk}/"), "service")
    listed = declare(title="Listed only", services=[api_service])
    assert_field_error(api(commander).delete(f"{SERVICES}{api_service.pk}/"), "service")
    assert list(listed.services.all()) == [api_service]
    unused = Service.objects.create(name="Payments", slug="payments")
    assert api(commander).delete(f"{SERVICES}{unused.pk}/").status_code == 204
    assert set(Service.objects.values_list("slug", flat=True)) == {"web-chat", "public-api"}


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "WEB CHAT"}, "name"),
        ({"name": ""}, "name"),
        ({"slug": "web-chat"}, "slug"),
        ({"slug": "Not a slug"}, "slug"),
        ({"owner": "nobody"}, "owner"),
    ],
)
def test_bad_service_change_is_a_400_and_changes_nothing(api, commander, web_chat, api_service, payload, field):
    response = api(commander).patch(f"{SERVICES}{api_service.pk}/", payload, format="json")
    assert_field_error(response, field)
    api_service.refresh_from_db()
    assert (api_service.name, api_service.slug, api_service.owner) == ("Public API", "public-api", None)


def test_a_service_keeps_its_own_name_when_other_fields_change(api, commander, web_chat):
    response = api(commander).put(
        f"{SERVICES}{web_chat.pk}/", {"name": "Web chat", "slug": "web-chat", "group": "Core"}, format="json"
    )
    assert response.status_code == 200, response.content
    web_chat.refresh_from_db()
    assert web_chat.group == "Core"


# Filters, search, pagination ------------------------------------------------------------------


def ids(response):
    assert response.status_code == 200, response.content
    return {r["id"] for r in response.json()["results"]}


def test_list_filters_by_status_severity_and_kind(api, viewer, commander, declare):
    a = declare(title="A", severity=1, kind="security", confidential=False)
    b = declare(title="B", severity=2, kind="availability")
    c = declare(title="C", severity=3, kind="availability")
    services.change_status(c, "identified", commander)
    client = api(viewer)
    assert ids(client.get(INCIDENTS, {"status": "identified"})) == {c.key}
    assert ids(client.get(INCIDENTS, {"status": ["investigating", "identified"]})) == {a.key, b.key, c.key}
    assert ids(client.get(INCIDENTS, {"severity": 1})) == {a.key}
    assert ids(client.get(INCIDENTS, {"severity": [1, 2]})) == {a.key, b.key}
    assert ids(client.get(INCIDENTS, {"kind": "availability"})) == {b.key, c.key}
    assert ids(client.get(INCIDENTS, {"kind": "availability", "severity": 3})) == {c.key}


def test_list_filters_by_open(api, viewer, commander, declare):
    open_one = declare(title="Open")
    resolved = declare(title="Done")
    services.change_status(resolved, "resolved", commander)
    assert ids(api(viewer).get(INCIDENTS, {"open": "true"})) == {open_one.key}
    assert ids(api(viewer).get(INCIDENTS, {"open": "false"})) == {resolved.key}


def test_list_filters_by_service_affected_or_impacted(api, viewer, commander, declare, web_chat, api_service):
    affected = declare(title="Affected", services=[web_chat])
    impacted = declare(title="Impacted")
    services.add_impact(impacted, commander, service=web_chat, level="partial_outage")
    declare(title="Elsewhere", services=[api_service])
    assert ids(api(viewer).get(INCIDENTS, {"service": "web-chat"})) == {affected.key, impacted.key}
    assert ids(api(viewer).get(INCIDENTS, {"service": "no-such-service"})) == set()


@pytest.mark.parametrize(
    ("param", "value"),
    [("status", "bogus"), ("severity", "9"), ("severity", "x"), ("kind", "outage")],
)
def test_bad_filter_value_is_a_400_keyed_by_the_filter(api, viewer, incident, param, value):
    response = api(viewer).get(INCIDENTS, {param: value})
    assert_field_error(response, param)


def test_text_search_finds_title_summary_timeline_and_reference(api, viewer, responder, declare):
    by_title = declare(title="Sign-up refuses phone numbers")
    by_summary = declare(title="x", summary="Restricted to one COUNTRY")
    by_timeline = declare(title="y")
    services.log_entry(by_timeline, responder, "Botnet traced to a hosting provider")
    client = api(viewer)
    assert ids(client.get(INCIDENTS, {"q": "phone"})) == {by_title.key}
    assert ids(client.get(INCIDENTS, {"q": "country"})) == {by_summary.key}
    assert ids(client.get(INCIDENTS, {"q": "botnet"})) == {by_timeline.key}
    assert ids(client.get(INCIDENTS, {"q": by_summary.reference})) == {by_summary.key}
    assert ids(client.get(INCIDENTS, {"q": by_summary.reference.lower()})) == {by_summary.key}
    assert ids(client.get(INCIDENTS, {"q": "nothing matches this"})) == set()
    assert len(ids(client.get(INCIDENTS, {"q": "  "}))) == 3


def test_search_for_inc_5_finds_incident_5_and_mentions_of_it_but_not_inc_50(api, viewer, responder):
    # Explicit primary keys (rolled back with the test), so INC-5 and INC-50 both exist.
    def make(pk, title, summary=""):
        incident = Incident.objects.create(pk=pk, title=title, summary=summary, started_at=timezone.now())
        TimelineEntry.objects.create(incident=incident, kind="declared", body=f"Declared INC-{pk} as SEV3.")
        return incident

    five = make(5, "Chat down")
    fifty = make(50, "Payments down")
    make(51, "Login slow")
    related = make(7, "Follow-up", summary="Same botnet as INC-5, again.")
    logged = make(8, "Other")
    services.log_entry(logged, responder, "Looks like inc-5 (see there)")
    client = api(viewer)
    for query in ("INC-5", "inc-5", "  INC-5 ", "inc5", "INC 5", "INC-005"):
        assert ids(client.get(INCIDENTS, {"q": query})) == {five.key, related.key, logged.key}, query
    assert ids(client.get(INCIDENTS, {"q": "INC-50"})) == {fifty.key}
    assert five.key in ids(client.get(INCIDENTS, {"q": "5"}))


def test_search_does_not_crash_on_huge_reference_numbers(api, viewer, incident):
    assert ids(api(viewer).get(INCIDENTS, {"q": "INC-99999999999999999999999"})) == set()


def test_list_is_paginated_with_results_count_and_next(api, viewer, declare):
    for n in range(55):
        declare(title=f"Incident {n}")
    client = api(viewer)
    first = client.get(INCIDENTS).json()
    assert first["count"] == 55
    assert len(first["results"]) == 50
    assert first["previous"] is None
    assert first["next"]
    second = client.get(first["next"]).json()
    assert len(second["results"]) == 5
    assert second["next"] is None
    seen = {r["id"] for r in first["results"]} | {r["id"] for r in second["results"]}
    assert len(seen) == 55
    assert client.get(INCIDENTS, {"page": 99}).status_code == 404
    assert client.get(INCIDENTS, {"page": "x"}).status_code == 404


def test_timeline_is_paginated(api, viewer, responder, incident):
    for n in range(60):
        services.log_entry(incident, responder, f"entry {n}")
    first = api(viewer).get(timeline(incident)).json()
    assert first["count"] == 61
    assert first["next"]
    assert first["results"][0]["kind"] == "declared"


def test_service_list_can_be_searched_and_filtered(api, viewer, web_chat, api_service):
    client = api(viewer)
    assert [r["slug"] for r in client.get(SERVICES, {"group": "Product"}).json()["results"]] == ["web-chat"]
    assert [r["slug"] for r in client.get(SERVICES, {"q": "api"}).json()["results"]] == ["public-api"]


# Authentication ------------------------------------------------------------------------------


def test_token_auth_works(commander, incident):
    _, key = issue_token(commander)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get(INCIDENTS).status_code == 200
    response = client.post(INCIDENTS, {"title": "By token", "severity": 2}, format="json")
    assert response.status_code == 201
    assert response.json()["commander"] == "cmdr"


def test_a_wrong_token_is_a_401(incident):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-key")
    assert client.get(INCIDENTS).status_code == 401


def test_a_token_of_an_inactive_user_is_refused(commander):
    _, key = issue_token(commander)
    commander.is_active = False
    commander.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get(INCIDENTS).status_code == 401


def test_session_auth_works(commander, incident):
    client = APIClient()
    assert client.login(username="cmdr", password="pw-cmdr")
    assert client.get(detail(incident)).status_code == 200
    response = client.post(timeline(incident), {"body": "From the browser"}, format="json")
    assert response.status_code == 201


def test_session_auth_requires_csrf_for_writes(commander, incident):
    client = APIClient(enforce_csrf_checks=True)
    assert client.login(username="cmdr", password="pw-cmdr")
    response = client.post(timeline(incident), {"body": "No token"}, format="json")
    assert response.status_code == 403
    assert incident.timeline.count() == 1


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", INCIDENTS),
        ("post", INCIDENTS),
        ("get", SERVICES),
        ("post", SERVICES),
        ("get", "{incident}"),
        ("patch", "{incident}"),
        ("get", "{incident}timeline/"),
        ("post", "{incident}timeline/"),
        ("get", "{incident}impacts/"),
        ("get", "{incident}roles/"),
    ],
)
def test_anonymous_callers_are_refused(incident, method, path):
    url = path.format(incident=detail(incident))
    response = getattr(APIClient(), method)(url, {}, format="json")
    assert response.status_code in (401, 403)
    assert response.json()["detail"]


def test_anonymous_callers_get_401_with_a_token_challenge(incident):
    response = APIClient().get(INCIDENTS)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


# Confidential incidents -----------------------------------------------------------------------


def child_urls(incident, commander, web_chat):
    entry = incident.timeline.first()
    impact = services.add_impact(incident, commander, service=web_chat, level="major_outage")
    membership = incident.memberships.get(role="commander")
    return {
        "detail": detail(incident),
        "timeline": timeline(incident),
        "entry": f"{timeline(incident)}{entry.pk}/",
        "impacts": impacts(incident),
        "impact": f"{impacts(incident)}{impact.pk}/",
        "roles": roles(incident),
        "role": f"{roles(incident)}{membership.pk}/",
    }


@pytest.mark.parametrize("who", ["viewer", "outsider", "responder"])
def test_non_members_get_404_for_everything_about_a_confidential_incident(
    api, request, commander, confidential, web_chat, who
):
    urls = child_urls(confidential, commander, web_chat)
    before = stored(confidential)
    client = api(request.getfixturevalue(who))
    for name in ("detail", "timeline", "entry", "impacts", "impact", "roles"):
        response = client.get(urls[name])
        assert response.status_code == 404, (name, response.status_code)
        assert "Database exposed" not in response.content.decode()
    writes = [
        ("patch", urls["detail"], {"status": "identified"}),
        ("patch", urls["detail"], {"severity": 99}),
        ("put", urls["detail"], {"title": "x", "severity": 1}),
        ("post", urls["timeline"], {"body": "peek"}),
        ("post", urls["timeline"], {}),
        ("patch", urls["entry"], {"body": "peek"}),
        ("post", urls["impacts"], {"service": "web-chat", "level": "major_outage"}),
        ("post", urls["impacts"], {"level": "nonsense"}),
        ("patch", urls["impact"], {"ended_at": timezone.now().isoformat()}),
        ("post", urls["roles"], {"user": "view", "role": "observer"}),
        ("delete", urls["role"], {}),
    ]
    for method, url, payload in writes:
        response = getattr(client, method)(url, payload, format="json")
        assert response.status_code == 404, (method, url, response.status_code, response.content)
    assert stored(confidential) == before


def test_options_on_a_hidden_incident_reveal_nothing(api, outsider, confidential):
    missing = confidential.pk + 1000
    for suffix in ("", "timeline/", "impacts/", "roles/"):
        hidden = api(outsider).options(f"{INCIDENTS}{confidential.pk}/{suffix}")
        absent = api(outsider).options(f"{INCIDENTS}{missing}/{suffix}")
        assert hidden.status_code == absent.status_code, suffix
        assert hidden.content == absent.content, suffix


def test_a_hidden_incident_and_a_missing_one_look_the_same(api, outsider, confidential):
    hidden = api(outsider).get(detail(confidential))
    missing = api(outsider).get(f"{INCIDENTS}{confidential.pk + 1000}/")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json() == missing.json()
    hidden = api(outsider).get(timeline(confidential))
    missing = api(outsider).get(f"{INCIDENTS}{confidential.pk + 1000}/timeline/")
    assert hidden.json() == missing.json()


@pytest.mark.parametrize("who", ["viewer", "outsider"])
def test_confidential_incident_is_absent_from_list_search_filters_and_counts(api, request, confidential, declare, who):
    public = declare(title="Database slow")
    client = api(request.getfixturevalue(who))
    listed = client.get(INCIDENTS).json()
    assert listed["count"] == 1
    assert {r["id"] for r in listed["results"]} == {public.key}
    for params in (
        {"q": "Database exposed"},
        {"q": confidential.reference},
        {"q": "exposed"},
        {"kind": "data_exposure"},
        {"severity": 1},
        {"confidential": "true"},
    ):
        response = client.get(INCIDENTS, params)
        assert response.json()["count"] == 0, params
        assert confidential.pk not in ids(response)
    assert ids(client.get(INCIDENTS, {"q": "Database"})) == {public.key}


def test_confidential_incident_is_not_found_by_its_timeline_text(api, outsider, commander, confidential):
    services.log_entry(confidential, commander, "Chat logs and API keys on an open port")
    assert ids(api(outsider).get(INCIDENTS, {"q": "open port"})) == set()


def test_confidential_impacts_do_not_change_service_status_seen_by_outsiders(
    api, outsider, viewer, security, commander, confidential, web_chat
):
    services.add_impact(confidential, commander, service=web_chat, level="major_outage")
    for user in (outsider, viewer):
        response = api(user).get(SERVICES)
        assert service_row(response, "web-chat")["status"] == "operational"
        assert api(user).get(f"{SERVICES}{web_chat.pk}/").json()["status"] == "operational"
    assert service_row(api(security).get(SERVICES), "web-chat")["status"] == "major_outage"
    assert service_row(api(commander).get(SERVICES), "web-chat")["status"] == "major_outage"


def test_confidential_incident_is_not_found_by_service_filter(api, outsider, commander, confidential, web_chat):
    services.add_impact(confidential, commander, service=web_chat, level="major_outage")
    assert ids(api(outsider).get(INCIDENTS, {"service": "web-chat"})) == set()


def test_members_and_security_see_a_confidential_incident(api, commander, viewer, security, confidential):
    services.assign_role(confidential, viewer, "observer", commander)
    for user in (commander, viewer, security):
        client = api(user)
        assert client.get(detail(confidential)).status_code == 200
        assert client.get(timeline(confidential)).status_code == 200
        assert client.get(impacts(confidential)).status_code == 200
        assert client.get(roles(confidential)).status_code == 200
        assert confidential.key in ids(client.get(INCIDENTS, {"q": "Database exposed"}))


def test_an_observer_of_a_confidential_incident_still_cannot_change_it(api, commander, viewer, confidential):
    services.assign_role(confidential, viewer, "observer", commander)
    before = stored(confidential)
    assert api(viewer).patch(detail(confidential), {"status": "identified"}, format="json").status_code == 403
    assert api(viewer).post(timeline(confidential), {"body": "hi"}, format="json").status_code == 403
    assert stored(confidential) == before


def test_a_responder_on_a_confidential_incident_may_log(api, commander, outsider, confidential):
    services.assign_role(confidential, outsider, "responder", commander)
    response = api(outsider).post(timeline(confidential), {"body": "Rotating keys"}, format="json")
    assert response.status_code == 201


def test_removing_someone_from_a_confidential_incident_hides_it_from_them(api, commander, outsider, confidential):
    services.assign_role(confidential, outsider, "observer", commander)
    assert api(outsider).get(detail(confidential)).status_code == 200
    membership = confidential.memberships.get(user=outsider)
    assert api(commander).delete(f"{roles(confidential)}{membership.pk}/").status_code == 204
    assert api(outsider).get(detail(confidential)).status_code == 404


def test_making_an_incident_confidential_hides_it_from_outsiders(api, commander, outsider, incident):
    assert api(outsider).get(detail(incident)).status_code == 200
    assert api(commander).patch(detail(incident), {"confidential": True}, format="json").status_code == 200
    assert api(outsider).get(detail(incident)).status_code == 404


# Query counts --------------------------------------------------------------------------------


def token_client(user):
    """A client that authenticates each request afresh, as a real caller does (a forced
    user object would carry its cached groups from one request to the next)."""
    token, key = issue_token(user)
    # A token in use: the first call's `last_used` write is not what these tests count.
    token.last_used = timezone.now()
    token.save(update_fields=["last_used"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def count_queries(client, url, params=None):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params or {})
    assert response.status_code == 200, response.content
    return len(ctx.captured_queries), response


def make_busy_incidents(commander, responder, web_chat, api_service, n, start=0):
    made = []
    for i in range(start, start + n):
        incident = services.declare(
            commander, title=f"Incident {i}", severity=1 + i % 4, services=[web_chat, api_service]
        )
        services.assign_role(incident, responder, "responder", commander)
        made.append(incident)
    return made


# The outsider goes through the membership check, the security group sees everything.
@pytest.mark.parametrize("who", ["outsider", "security"])
def test_incident_list_runs_the_same_number_of_queries_for_10_and_200_incidents(
    api, request, commander, responder, web_chat, api_service, who
):
    client = token_client(request.getfixturevalue(who))
    make_busy_incidents(commander, responder, web_chat, api_service, 10)
    small, response = count_queries(client, INCIDENTS)
    assert response.json()["count"] == 10
    make_busy_incidents(commander, responder, web_chat, api_service, 190, start=10)
    big, response = count_queries(client, INCIDENTS)
    assert response.json()["count"] == 200
    assert big == small
    filtered, _ = count_queries(client, INCIDENTS, {"q": "Incident", "service": "web-chat", "status": "investigating"})
    assert filtered == small


def test_incident_list_query_count_is_small(
    api, commander, responder, web_chat, api_service, django_assert_max_num_queries
):
    client = token_client(commander)
    make_busy_incidents(commander, responder, web_chat, api_service, 30)
    with django_assert_max_num_queries(8):
        assert client.get(INCIDENTS).status_code == 200
    with django_assert_max_num_queries(8):
        assert client.get(detail(Incident.objects.first())).status_code == 200


def test_timeline_runs_the_same_number_of_queries_for_10_and_1000_entries(api, viewer, responder, commander, incident):
    client = token_client(viewer)

    def log(n):
        entries = TimelineEntry.objects.bulk_create(
            TimelineEntry(incident=incident, author=responder, body=f"entry {i}") for i in range(n)
        )
        TimelineRevision.objects.bulk_create(
            TimelineRevision(entry=e, body="earlier", replaced_by=commander) for e in entries[::3]
        )

    log(9)
    small, response = count_queries(client, timeline(incident))
    assert response.json()["count"] == 10
    log(990)
    big, response = count_queries(client, timeline(incident))
    assert response.json()["count"] == 1000
    assert big == small
    with CaptureQueriesContext(connection) as ctx:
        client.get(timeline(incident), {"page": 20})
    assert len(ctx.captured_queries) == small


def test_services_list_runs_the_same_number_of_queries_for_few_and_many_impacts(
    api, outsider, commander, web_chat, api_service
):
    client = token_client(outsider)
    for i in range(3):
        incident = services.declare(commander, title=f"i{i}", confidential=bool(i % 2))
        services.add_impact(incident, commander, service=web_chat, level="major_outage")
    small, _ = count_queries(client, SERVICES)
    for i in range(40):
        Service.objects.create(name=f"Service {i}", slug=f"service-{i}", owner=commander)
        incident = services.declare(commander, title=f"j{i}", confidential=bool(i % 2))
        services.add_impact(incident, commander, service=api_service, level="partial_outage")
    big, _ = count_queries(client, SERVICES)
    assert big == small


def test_impacts_and_roles_run_a_bounded_number_of_queries(api, viewer, commander, responder, incident, web_chat):
    client = token_client(viewer)
    services.add_impact(incident, commander, service=web_chat, level="major_outage")
    small_impacts, _ = count_queries(client, impacts(incident))
    small_roles, _ = count_queries(client, roles(incident))
    for i in range(20):
        services.add_impact(incident, commander, service=web_chat, level="partial_outage")
        user = type(commander).objects.create_user(username=f"r{i}")
        services.assign_role(incident, user, "observer", commander)
    assert count_queries(client, impacts(incident))[0] == small_impacts
    assert count_queries(client, roles(incident))[0] == small_roles


# Schema and docs -----------------------------------------------------------------------------


def test_schema_is_openapi_3_and_describes_the_endpoints(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    for path in (
        "/api/v1/incidents/",
        "/api/v1/incidents/{id}/",
        "/api/v1/incidents/{incident_pk}/timeline/",
        "/api/v1/incidents/{incident_pk}/timeline/{id}/",
        "/api/v1/incidents/{incident_pk}/impacts/",
        "/api/v1/incidents/{incident_pk}/impacts/{id}/",
        "/api/v1/incidents/{incident_pk}/roles/",
        "/api/v1/incidents/{incident_pk}/roles/{id}/",
        "/api/v1/services/",
        "/api/v1/services/{id}/",
    ):
        assert path in paths, sorted(paths)
    assert {"get", "post"} <= set(paths["/api/v1/incidents/"])
    params = {p["name"] for p in paths["/api/v1/incidents/"]["get"]["parameters"]}
    assert {"status", "severity", "kind", "service", "q", "page"} <= params
    schemes = schema["components"]["securitySchemes"]
    assert {"tokenAuth", "cookieAuth"} <= set(schemes)


def test_schema_declares_the_idempotency_key_on_the_creating_posts(client):
    """A generated client (or schemathesis) learns from the schema that these POSTs can be
    retried safely; reads and edits do not take the header, and only the operations that take it
    document the 422 of a key sent again with another request."""
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    def header(operation):
        return [p for p in operation.get("parameters", []) if p["in"] == "header" and p["name"] == "Idempotency-Key"]

    for path in (
        "/api/v1/incidents/",
        "/api/v1/incidents/{incident_pk}/timeline/",
        "/api/v1/incidents/{incident_pk}/impacts/",
        "/api/v1/incidents/{incident_pk}/communications/",
    ):
        (parameter,) = header(schema["paths"][path]["post"])
        assert parameter.get("required", False) is False
        assert parameter["schema"]["type"] == "string"
        assert "retry" in parameter["description"]
        assert "422" in schema["paths"][path]["post"]["responses"]
    for path, method in (("/api/v1/incidents/", "get"), ("/api/v1/incidents/{id}/", "patch")):
        operation = schema["paths"][path][method]
        assert header(operation) == []
        assert "422" not in operation["responses"]
    for item in schema["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict) and "422" in operation.get("responses", {}):
                assert header(operation), operation["operationId"]


def test_schema_passes_drf_spectacular_validation():
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.validation import validate_schema

    schema = SchemaGenerator().get_schema(request=None, public=True)
    validate_schema(schema)


def test_schema_generation_reports_no_problem_with_these_endpoints():
    """Errors anywhere, and warnings raised while reading this API's views, mean a client
    generated from the schema would be wrong. (Enum naming collisions between apps are a
    settings matter, ENUM_NAME_OVERRIDES, and are not counted here.)"""
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator

    GENERATOR_STATS.reset()
    with GENERATOR_STATS.silence():
        schema = SchemaGenerator().get_schema(request=None, public=True)
    assert dict(GENERATOR_STATS._error_cache) == {}
    ours = [msg for msg in GENERATOR_STATS._warn_cache if "incidents/api.py" in msg]
    assert ours == []
    names = set(schema["components"]["schemas"])
    assert {"IncidentStatusEnum", "IncidentKindEnum", "ImpactLevelEnum", "MembershipRoleEnum"} <= names


def test_api_docs_page_loads(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


def test_api_root_lists_the_collections(api, viewer):
    response = api(viewer).get("/api/v1/")
    assert response.status_code == 200
    assert {"incidents", "services"} <= set(response.json())


# Never a 500 --------------------------------------------------------------------------------

ODD_VALUES = [
    None,
    True,
    2**63,
    "",
    "a\x00b",
    "x" * 5000,
    ["a", "b"],
    {"a": 1},
    "2024-02-30T00:00:00Z",
    "0001-01-01T00:00:00+14:00",
]


def write_targets(incident, entry, impact, web_chat):
    base = detail(incident)
    incident_fields = ["title", "summary", "severity", "kind", "confidential", "services", "commander", "status"]
    times = ["started_at", "detected_at", "resolved_at", "reason"]
    service_fields = ["name", "slug", "group", "owner", "description", "public", "position"]
    return [
        ("post", INCIDENTS, [*incident_fields, *times], {"title": "t", "severity": 2}),
        ("patch", base, [*incident_fields, *times, "id", "reference"], {}),
        ("post", f"{base}timeline/", ["body", "occurred_at", "kind", "data"], {"body": "b"}),
        ("patch", f"{base}timeline/{entry.pk}/", ["body", "occurred_at"], {}),
        (
            "post",
            f"{base}impacts/",
            ["service", "level", "regions", "started_at", "ended_at"],
            {"level": "major_outage"},
        ),
        ("patch", f"{base}impacts/{impact.pk}/", ["service", "level", "regions", "started_at", "ended_at"], {}),
        ("post", f"{base}roles/", ["user", "role"], {"user": "resp", "role": "observer"}),
        ("post", SERVICES, service_fields, {"name": "N"}),
        ("patch", f"{SERVICES}{web_chat.pk}/", service_fields, {}),
    ]


def test_no_odd_input_makes_a_500(api, commander, responder, incident, web_chat):
    entry = services.log_entry(incident, responder, "x")
    impact = services.add_impact(incident, commander, service=web_chat, level="partial_outage")
    client = api(commander)
    client.raise_request_exception = False
    failures = []
    for method, url, fields, base_payload in write_targets(incident, entry, impact, web_chat):
        for field in fields:
            for value in ODD_VALUES:
                response = getattr(client, method)(url, {**base_payload, field: value}, format="json")
                if response.status_code >= 500:
                    failures.append((method, url, field, repr(value)[:30]))
    for param in ("q", "status", "severity", "kind", "service", "open", "page", "confidential"):
        for value in ODD_VALUES:
            if client.get(INCIDENTS, {param: str(value)}).status_code >= 500:
                failures.append(("get", INCIDENTS, param, repr(value)[:30]))
    assert failures == []


def test_commander_names_a_service_in_other_languages(api, commander, web_chat):
    response = api(commander).patch(f"{SERVICES}{web_chat.pk}/", {"names": {"ZH-Hans": " 网页聊天 "}}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["names"] == {"zh-hans": "网页聊天"}
    web_chat.refresh_from_db()
    assert web_chat.name_in("zh-hans") == "网页聊天" and web_chat.name_in("zh") == "网页聊天"
    assert web_chat.name_in("de") == "Web chat"


@pytest.mark.parametrize("names", [["网页聊天"], {"not a language": "x"}, {"zh-hans": ""}, {"zh-hans": 5}])
def test_bad_service_names_are_a_400(api, commander, web_chat, names):
    response = api(commander).patch(f"{SERVICES}{web_chat.pk}/", {"names": names}, format="json")
    assert response.status_code == 400, response.content
    assert "names" in response.json()
