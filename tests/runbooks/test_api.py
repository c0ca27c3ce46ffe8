"""REST API: /api/v1/runbooks/, their versions, runbook runs on incidents and step runs."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from incidents import services as incidents
from incidents.models import Membership, TimelineEntry
from runbooks import services
from runbooks.models import Runbook, RunbookRun, StepRun

from .test_files import GOOD

FIELDS = {
    "slug": "flood",
    "title": "Traffic flood",
    "summary": "When the API is flooded.",
    "kinds": ["availability"],
    "min_severity": 2,
    "tags": ["ddos"],
    "steps": [
        {
            "title": "Confirm it is an attack",
            "role": "responder",
            "expected_minutes": 10,
            "critical": True,
            "body": "Look at the edge graphs.",
        },
        {"title": "Tell the public", "role": "comms", "expected_minutes": 15, "body": "Post on the status page."},
    ],
}


# Runbooks and versions --------------------------------------------------------------------------


def test_list_and_detail_show_the_latest_version(api, viewer, starter_library):
    client = api(viewer)
    listing = client.get("/api/v1/runbooks/")
    assert listing.status_code == 200
    slugs = [r["slug"] for r in listing.json()["results"]]
    assert "ddos-public-api" in slugs and len(slugs) == 7

    detail = client.get("/api/v1/runbooks/ddos-public-api/").json()
    assert detail["number"] == 1 and detail["min_severity"] == 3
    assert detail["steps"][0]["title"] == "Confirm it is a flood, not a bug or a launch"
    assert detail["text"].startswith("---\nslug: ddos-public-api\n")
    assert client.get("/api/v1/runbooks/nope/").status_code == 404


def test_api_requires_authentication(api, starter_library):
    assert api(None).get("/api/v1/runbooks/").status_code in (401, 403)


def test_commander_creates_a_runbook_from_text(api, commander):
    response = api(commander).post("/api/v1/runbooks/", {"text": GOOD}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["created"] is True and body["number"] == 1 and body["text"] == GOOD
    again = api(commander).post("/api/v1/runbooks/", {"text": GOOD}, format="json")
    assert again.status_code == 200 and again.json()["created"] is False


def test_commander_creates_a_runbook_from_fields_and_it_matches_the_text(api, commander):
    response = api(commander).post("/api/v1/runbooks/", FIELDS, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["text"] == GOOD
    assert [s["role"] for s in response.json()["steps"]] == ["responder", "comms"]


def test_put_makes_a_new_version_and_versions_lists_them(api, commander):
    client = api(commander)
    client.post("/api/v1/runbooks/", FIELDS, format="json")
    changed = GOOD.replace("Post on the status page.", "Post within 15 minutes.")
    response = client.put("/api/v1/runbooks/flood/", {"text": changed}, format="json")
    assert response.status_code == 200 and response.json()["number"] == 2
    versions = client.get("/api/v1/runbooks/flood/versions/").json()
    assert [v["number"] for v in versions] == [2, 1]
    assert client.get("/api/v1/runbooks/flood/versions/", {"number": 1}).json()[0]["number"] == 1
    assert client.get("/api/v1/runbooks/flood/versions/", {"number": "x"}).json() == []
    renamed = client.put("/api/v1/runbooks/flood/", {"text": GOOD.replace("slug: flood", "slug: other")}, format="json")
    assert renamed.status_code == 400 and "slug" in renamed.json()


@pytest.mark.parametrize(
    "payload, field, message",
    [
        ({"text": GOOD.replace("role: comms", "role: intern")}, "text", "Line 19: unknown role 'intern'"),
        ({"text": "not a runbook"}, "text", "Line 1: a runbook file must start with '---'"),
        ({**FIELDS, "slug": ""}, "slug", ""),
        ({**FIELDS, "steps": []}, "steps", "required"),
        ({**FIELDS, "kinds": ["outage"]}, "kinds", ""),
        ({**FIELDS, "min_severity": 9}, "min_severity", ""),
        ({**FIELDS, "services": ["nope"]}, "services", "Unknown service 'nope'."),
        ({**FIELDS, "owner": "ghost"}, "owner", "Unknown user 'ghost'."),
        ({**FIELDS, "slug": "Has_Underscore"}, "slug", "lowercase"),
        ({**FIELDS, "steps": [{"title": "A", "role": "intern"}]}, "steps", ""),
        ({**FIELDS, "steps": [{"title": "A", "body": "x\n## B"}]}, "steps", "starts a new step"),
        ({**FIELDS, "steps": [{"title": "A", "expected_minutes": 10**10}]}, "steps", ""),
        ({**FIELDS, "steps": "lots"}, "steps", ""),
        ({**FIELDS, "review_by": "soon"}, "review_by", ""),
    ],
)
def test_bad_input_is_a_400_with_the_field_and_a_message(api, commander, payload, field, message):
    response = api(commander).post("/api/v1/runbooks/", payload, format="json")
    assert response.status_code == 400, response.content
    body = response.json()
    assert field in body, body
    assert message in str(body[field])
    assert not Runbook.objects.exists()


def test_only_commanders_write_runbooks(api, responder):
    response = api(responder).post("/api/v1/runbooks/", {"text": GOOD}, format="json")
    assert response.status_code == 403
    assert "Only commanders may edit runbooks." in response.json()["detail"]


def test_runbook_list_query_count_is_bounded(api, viewer, make_runbook):
    client = api(viewer)
    make_runbook("one", steps=3)
    with CaptureQueriesContext(connection) as few:
        client.get("/api/v1/runbooks/")
    for i in range(10):
        make_runbook(f"more-{i}", steps=5)
    with CaptureQueriesContext(connection) as many:
        assert len(client.get("/api/v1/runbooks/").json()["results"]) == 11
    assert len(many.captured_queries) == len(few.captured_queries)


# Runs and step runs -------------------------------------------------------------------------------


def test_commander_attaches_a_runbook_by_slug(api, commander, incident, make_runbook):
    make_runbook()
    response = api(commander).post(
        f"/api/v1/incidents/{incident.key}/runbook-runs/", {"runbook": "flood"}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["runbook"] == "flood" and body["version"] == 1
    assert body["progress"] == {"done": 0, "total": 2, "critical_open": 0, "overdue": 0, "blocked": 0}
    assert [s["status"] for s in body["step_runs"]] == ["pending", "pending"]

    listing = api(commander).get(f"/api/v1/incidents/{incident.key}/runbook-runs/")
    assert [r["id"] for r in listing.json()] == [body["id"]]

    again = api(commander).post(f"/api/v1/incidents/{incident.key}/runbook-runs/", {"runbook": "flood"}, format="json")
    assert again.status_code == 400 and "already attached" in str(again.json())
    unknown = api(commander).post(f"/api/v1/incidents/{incident.key}/runbook-runs/", {"runbook": "nope"}, format="json")
    assert unknown.status_code == 400 and "runbook" in unknown.json()


def test_responder_cannot_attach_through_the_api(api, responder, incident, make_runbook):
    make_runbook()
    response = api(responder).post(
        f"/api/v1/incidents/{incident.key}/runbook-runs/", {"runbook": "flood"}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["detail"] == "Only the incident's commanders may attach runbooks."
    assert not RunbookRun.objects.exists()


@pytest.fixture
def step(incident, make_runbook, commander):
    run = services.attach(incident, make_runbook().runbook, commander)
    return run.step_runs.get(position=1)


def test_patch_moves_a_step_and_writes_the_timeline(api, responder, step):
    client = api(responder)
    response = client.patch(f"/api/v1/step-runs/{step.pk}/", {"status": "in_progress"}, format="json")
    assert response.status_code == 200, response.json()
    response = client.patch(f"/api/v1/step-runs/{step.pk}/", {"status": "done", "note": "Filtered"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["note"], body["incident"]) == ("done", "Filtered", step.run.incident.key)
    assert body["completed_at"] and body["started_at"]
    entries = TimelineEntry.objects.filter(incident=step.run.incident, kind="runbook").count()
    assert entries == 4  # attached, started, done, note


def test_patch_assigns_and_unassigns_by_username(api, commander, responder, step):
    client = api(commander)
    assert (
        client.patch(f"/api/v1/step-runs/{step.pk}/", {"assignee": "resp"}, format="json").json()["assignee"] == "resp"
    )
    assert client.patch(f"/api/v1/step-runs/{step.pk}/", {"assignee": None}, format="json").json()["assignee"] is None
    unknown = client.patch(f"/api/v1/step-runs/{step.pk}/", {"assignee": "ghost"}, format="json")
    assert unknown.status_code == 400 and "assignee" in unknown.json()


@pytest.mark.parametrize(
    "payload, field, message",
    [
        ({"status": "skipped"}, "reason", "Say why the step is skipped."),
        ({"status": "finished"}, "status", ""),
        ({"status": "blocked", "reason": ""}, "reason", "Say why the step is blocked."),
    ],
)
def test_bad_step_changes_are_a_400_with_the_field(api, responder, step, payload, field, message):
    response = api(responder).patch(f"/api/v1/step-runs/{step.pk}/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json() and message in str(response.json()[field])


def test_illegal_transition_is_refused_in_the_api(api, responder, step):
    client = api(responder)
    client.patch(f"/api/v1/step-runs/{step.pk}/", {"status": "done"}, format="json")
    response = client.patch(f"/api/v1/step-runs/{step.pk}/", {"status": "skipped", "reason": "no"}, format="json")
    assert response.status_code == 400
    assert response.json() == {"status": ["A done step cannot become skipped."]}


def test_viewer_cannot_change_a_step_in_the_api(api, viewer, step):
    client = api(viewer)
    assert client.get(f"/api/v1/step-runs/{step.pk}/").status_code == 200
    for payload in ({"status": "done"}, {"status": "nonsense"}):
        response = client.patch(f"/api/v1/step-runs/{step.pk}/", payload, format="json")
        assert response.status_code == 403
        assert "Only responders and commanders" in response.json()["detail"]
    step.refresh_from_db()
    assert step.status == "pending"


def test_put_and_delete_on_step_runs_are_not_allowed(api, responder, step):
    assert api(responder).put(f"/api/v1/step-runs/{step.pk}/", {"status": "done"}, format="json").status_code == 405
    assert api(responder).delete(f"/api/v1/step-runs/{step.pk}/").status_code == 405


def test_outsider_gets_404_for_runs_and_step_runs_of_a_confidential_incident(
    api, outsider, responder, security, confidential, make_runbook, commander
):
    run = services.attach(confidential, make_runbook().runbook, commander)
    step = run.step_runs.first()
    for user in (outsider, responder):
        client = api(user)
        assert client.get(f"/api/v1/incidents/{confidential.key}/runbook-runs/").status_code == 404
        assert (
            client.post(
                f"/api/v1/incidents/{confidential.key}/runbook-runs/", {"runbook": "flood"}, format="json"
            ).status_code
            == 404
        )
        assert client.get(f"/api/v1/step-runs/{step.pk}/").status_code == 404
        assert client.patch(f"/api/v1/step-runs/{step.pk}/", {"status": "done"}, format="json").status_code == 404
    assert api(security).get(f"/api/v1/step-runs/{step.pk}/").status_code == 200
    incidents.assign_role(confidential, responder, Membership.Role.RESPONDER, commander)
    assert api(responder).patch(f"/api/v1/step-runs/{step.pk}/", {"status": "done"}, format="json").status_code == 200


def test_runs_list_query_count_is_bounded(api, commander, declare, make_runbook):
    small, big = declare(title="Small"), declare(title="Big")
    services.attach(small, make_runbook("a", steps=2).runbook, commander)
    for i in range(5):
        services.attach(big, make_runbook(f"b{i}", steps=20).runbook, commander)
    client = api(commander)
    counts = []
    for incident in (small, big):
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(f"/api/v1/incidents/{incident.key}/runbook-runs/").status_code == 200
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]
    assert StepRun.objects.filter(run__incident=big).count() == 100


def test_runbook_endpoints_are_in_the_openapi_schema(api, viewer):
    schema = api(viewer).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    paths = schema["paths"]
    for path in (
        "/api/v1/runbooks/",
        "/api/v1/runbooks/{slug}/",
        "/api/v1/runbooks/{slug}/versions/",
        "/api/v1/incidents/{incident_pk}/runbook-runs/",
        "/api/v1/step-runs/{id}/",
    ):
        assert path in paths, path
    assert "patch" in paths["/api/v1/step-runs/{id}/"]
