"""The Statuspage v2 JSON under /status/api/v2/, validated field by field against the shapes
existing Statuspage clients read (written down below, from /work/shared/STATUSPAGE.md)."""

import json
import re
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from incidents.models import Impact
from statuspage.models import Maintenance, PublicComponent
from tests.statuspage.page_factories import *  # noqa: F403 - fixtures
from tests.statuspage.page_factories import make_service

# The shapes ---------------------------------------------------------------------------------------

ENDPOINTS = {
    "summary.json": {"page", "status", "components", "incidents", "scheduled_maintenances"},
    "status.json": {"page", "status"},
    "components.json": {"page", "components"},
    "incidents.json": {"page", "incidents"},
    "incidents/unresolved.json": {"page", "incidents"},
    "scheduled-maintenances.json": {"page", "scheduled_maintenances"},
    "scheduled-maintenances/upcoming.json": {"page", "scheduled_maintenances"},
    "scheduled-maintenances/active.json": {"page", "scheduled_maintenances"},
}
PAGE_KEYS = {"id", "name", "url", "time_zone", "updated_at"}
STATUS_KEYS = {"indicator", "description"}
COMPONENT_KEYS = {
    "id",
    "name",
    "status",
    "created_at",
    "updated_at",
    "position",
    "description",
    "showcase",
    "start_date",
    "group_id",
    "page_id",
    "group",
    "only_show_if_degraded",
}
GROUP_KEYS = COMPONENT_KEYS | {"components"}
# Warroom's one addition to Statuspage's shape, on components that are not groups: their uptime
# over the last 30 and 90 days (statuspage/uptime.py). Clients of Statuspage ignore unknown keys.
LEAF_KEYS = COMPONENT_KEYS | {"uptime"}
INCIDENT_KEYS = {
    "id",
    "name",
    "status",
    "created_at",
    "updated_at",
    "monitoring_at",
    "resolved_at",
    "impact",
    "shortlink",
    "started_at",
    "page_id",
    "incident_updates",
    "components",
}
UPDATE_KEYS = {
    "id",
    "status",
    "body",
    "incident_id",
    "created_at",
    "updated_at",
    "display_at",
    "affected_components",
    "deliver_notifications",
    "custom_tweet",
    "tweet_id",
}
AFFECTED_KEYS = {"code", "name", "old_status", "new_status"}
MAINTENANCE_KEYS = INCIDENT_KEYS | {"scheduled_for", "scheduled_until"}

COMPONENT_STATUSES = {"operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"}
INCIDENT_STATUSES = {"investigating", "identified", "monitoring", "resolved", "postmortem"}
UNRESOLVED_STATUSES = {"investigating", "identified", "monitoring"}
MAINTENANCE_STATUSES = {"scheduled", "in_progress", "verifying", "completed"}
IMPACTS = {"none", "minor", "major", "critical"}
INDICATORS = {"none", "minor", "major", "critical"}
DESCRIPTIONS = {
    "All Systems Operational",
    "Partially Degraded Service",
    "Degraded System Service",
    "Minor Service Outage",
    "Partial System Outage",
    "Major System Outage",
    "Major Service Outage",
    "Service Under Maintenance",
}
ID = re.compile(r"^[a-z0-9]{12}$")
ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


# Validators -------------------------------------------------------------------------------------


def check_time(value, nullable=False):
    if value is None:
        assert nullable, "a time that must be set is null"
        return
    assert isinstance(value, str) and ISO_WITH_OFFSET.match(value), value
    assert datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None


def check_id(value):
    assert isinstance(value, str) and ID.match(value), value


def check_page(page):
    assert set(page) == PAGE_KEYS
    check_id(page["id"])
    assert isinstance(page["name"], str) and page["name"]
    assert page["url"].startswith("http") and page["url"].endswith("/status/")
    assert isinstance(page["time_zone"], str) and page["time_zone"]
    check_time(page["updated_at"])


def check_status(status):
    assert set(status) == STATUS_KEYS
    assert status["indicator"] in INDICATORS
    assert status["description"] in DESCRIPTIONS


def check_component(c, page_id):
    assert set(c) == (GROUP_KEYS if c["group"] else LEAF_KEYS), set(c) ^ LEAF_KEYS
    if not c["group"]:
        assert set(c["uptime"]) == {"30d", "90d"}
        assert all(isinstance(v, float) and 0 <= v <= 100 for v in c["uptime"].values()), c["uptime"]
    check_id(c["id"])
    assert isinstance(c["name"], str) and c["name"]
    assert c["status"] in COMPONENT_STATUSES
    check_time(c["created_at"])
    check_time(c["updated_at"])
    assert isinstance(c["position"], int)
    assert c["description"] is None or isinstance(c["description"], str)
    assert isinstance(c["showcase"], bool)
    assert c["start_date"] is None or re.match(r"^\d{4}-\d{2}-\d{2}$", c["start_date"])
    assert c["group_id"] is None or ID.match(c["group_id"])
    assert c["page_id"] == page_id
    assert isinstance(c["group"], bool)
    assert c["only_show_if_degraded"] is False
    if c["group"]:
        assert c["group_id"] is None, "two levels only: a group is never inside a group"
        assert isinstance(c["components"], list) and c["components"]
        for child in c["components"]:
            check_id(child)


def check_components(components, page_id):
    by_id = {c["id"]: c for c in components}
    assert len(by_id) == len(components), "ids are unique"
    for c in components:
        check_component(c, page_id)
        if c["group"]:
            for child in c["components"]:
                assert by_id[child]["group_id"] == c["id"]
                assert not by_id[child]["group"]
        elif c["group_id"]:
            assert c["id"] in by_id[c["group_id"]]["components"]


def check_update(u, incident_id, statuses):
    assert set(u) == UPDATE_KEYS
    check_id(u["id"])
    assert u["status"] in statuses
    assert isinstance(u["body"], str) and u["body"]
    assert u["incident_id"] == incident_id
    for key in ("created_at", "updated_at", "display_at"):
        check_time(u[key])
    assert u["affected_components"] is None or isinstance(u["affected_components"], list)
    for a in u["affected_components"] or []:
        assert set(a) == AFFECTED_KEYS
        check_id(a["code"])
        assert isinstance(a["name"], str)
        assert a["old_status"] in COMPONENT_STATUSES
        assert a["new_status"] in COMPONENT_STATUSES
    assert isinstance(u["deliver_notifications"], bool)
    assert u["custom_tweet"] is None
    assert u["tweet_id"] is None


def check_incident(i, page_id, maintenance=False):
    assert set(i) == (MAINTENANCE_KEYS if maintenance else INCIDENT_KEYS)
    check_id(i["id"])
    assert isinstance(i["name"], str) and i["name"]
    assert i["status"] in (MAINTENANCE_STATUSES if maintenance else INCIDENT_STATUSES)
    for key in ("created_at", "updated_at", "started_at"):
        check_time(i[key])
    check_time(i["monitoring_at"], nullable=True)
    check_time(i["resolved_at"], nullable=True)
    assert i["impact"] == "maintenance" if maintenance else i["impact"] in IMPACTS
    assert i["shortlink"].startswith("http")
    assert i["page_id"] == page_id
    assert isinstance(i["incident_updates"], list) and i["incident_updates"]
    times = [u["display_at"] for u in i["incident_updates"]]
    assert times == sorted(times, reverse=True), "updates newest first"
    for u in i["incident_updates"]:
        check_update(u, i["id"], MAINTENANCE_STATUSES if maintenance else INCIDENT_STATUSES)
    for c in i["components"]:
        check_component(c, page_id)
    if maintenance:
        check_time(i["scheduled_for"])
        check_time(i["scheduled_until"])
        assert i["scheduled_for"] < i["scheduled_until"]


def check_endpoint(name, data):
    assert set(data) == ENDPOINTS[name], name
    check_page(data["page"])
    page_id = data["page"]["id"]
    if "status" in data:
        check_status(data["status"])
    if "components" in data:
        check_components(data["components"], page_id)
    for i in data.get("incidents", []):
        check_incident(i, page_id)
    for m in data.get("scheduled_maintenances", []):
        check_incident(m, page_id, maintenance=True)


def get_json(client, name, **headers):
    response = client.get(f"/status/api/v2/{name}", headers=headers)
    assert response.status_code == 200, name
    assert response["Content-Type"].startswith("application/json")
    return json.loads(response.content)


# Data -------------------------------------------------------------------------------------------------


def maintenance(title, starts_in, hours=2, services=(), verify_minutes=15):
    now = timezone.now()
    m = Maintenance.objects.create(
        title=title,
        body=f"{title}: a short break.",
        scheduled_for=now + starts_in,
        scheduled_until=now + starts_in + timedelta(hours=hours),
        verify_minutes=verify_minutes,
    )
    m.services.set(services)
    return m


@pytest.fixture
def busy_page(declare, publish, public_page, api_service, web_chat):
    """Open and resolved incidents, groups, and maintenance in every state."""
    resolved = declare(title="Sign-up SMS delayed", severity=3)
    publish(resolved, "Codes arrive late.", affected={"public-api": "degraded_performance"})
    publish(resolved, "Watching the queue.", status="monitoring")
    publish(resolved, "All codes delivered.", status="resolved", affected={"public-api": "operational"})
    loose = make_service("Website")  # a component in no group
    maintenance("Database upgrade", timedelta(days=1), services=[api_service])
    maintenance("Network change", -timedelta(hours=1), services=[web_chat])
    maintenance("Cache flush", -timedelta(hours=2, minutes=5), hours=2, services=[loose])  # verifying
    maintenance("Old work", -timedelta(days=3), services=[web_chat])
    return {"open": public_page, "resolved": resolved}


# Shapes -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ENDPOINTS)
def test_every_endpoint_has_statuspage_shape(client, busy_page, name):
    check_endpoint(name, get_json(client, name))


@pytest.mark.parametrize("name", ENDPOINTS)
def test_every_endpoint_has_statuspage_shape_on_an_empty_page(client, db, name):
    data = get_json(client, name)
    check_endpoint(name, data)
    if "status" in data:
        assert data["status"] == {"indicator": "none", "description": "All Systems Operational"}


@pytest.mark.parametrize("name", ENDPOINTS)
def test_json_may_be_read_from_any_origin(client, db, name):
    response = client.get(f"/status/api/v2/{name}")
    assert response["Access-Control-Allow-Origin"] == "*"


def test_page_object_names_the_page(client, db, settings):
    settings.STATUSPAGE_NAME = "Chat status"
    settings.STATUSPAGE_PAGE_ID = "abcdefghij12"
    settings.SITE_URL = "https://status.example.com"
    page = get_json(client, "status.json")["page"]
    assert page["name"] == "Chat status"
    assert page["id"] == "abcdefghij12"
    assert page["url"] == "https://status.example.com/status/"
    assert page["time_zone"] == "Etc/UTC"


def test_groups_list_their_components_and_components_name_their_group(client, busy_page):
    components = get_json(client, "components.json")["components"]
    groups = {c["name"]: c for c in components if c["group"]}
    leaves = {c["name"]: c for c in components if not c["group"]}
    assert set(groups) == {"Platform", "Product"}
    assert groups["Platform"]["components"] == [leaves["Public API"]["id"]]
    assert leaves["Web chat"]["group_id"] == groups["Product"]["id"]
    assert leaves["Website"]["group_id"] is None
    assert all(not g["showcase"] and g["start_date"] is None for g in groups.values())


def test_component_status_follows_open_impacts_of_announced_incidents(client, public_page, declare, api_service):
    unannounced = declare(title="Not yet told", severity=1)
    Impact.objects.create(incident=unannounced, service=api_service, level="major_outage")
    leaves = {c["name"]: c for c in get_json(client, "components.json")["components"] if not c["group"]}
    assert leaves["Web chat"]["status"] == "degraded_performance"  # the latest update's level
    assert leaves["Public API"]["status"] == "operational"  # an incident nobody announced does not count
    product = next(c for c in get_json(client, "components.json")["components"] if c["name"] == "Product")
    assert product["status"] == "degraded_performance", "a group shows its worst component"


def test_component_under_maintenance_while_a_window_is_open(client, db, web_chat):
    maintenance("Network change", -timedelta(minutes=10), services=[web_chat])
    data = get_json(client, "summary.json")
    chat = next(c for c in data["components"] if c["name"] == "Web chat")
    assert chat["status"] == "under_maintenance"
    assert data["status"] == {"indicator": "none", "description": "Service Under Maintenance"}


# Incidents ----------------------------------------------------------------------------------------------


def test_incident_carries_every_published_update_newest_first(client, public_page):
    incident = get_json(client, "incidents.json")["incidents"][0]
    assert incident["name"] == "Chat replies time out"
    assert [u["body"] for u in incident["incident_updates"]] == [
        "A fix is rolling out.",
        "We are looking into slow replies.",
    ]
    assert [u["status"] for u in incident["incident_updates"]] == ["identified", "investigating"]
    assert incident["status"] == "identified", "the latest published update's status"
    assert incident["impact"] == "major", "SEV2"
    assert incident["shortlink"].endswith(f"/status/incidents/{incident['id']}/")
    assert [c["name"] for c in incident["components"]] == ["Web chat"]
    latest, first = incident["incident_updates"]
    assert first["affected_components"] == [
        {
            "code": incident["components"][0]["id"],
            "name": "Web chat",
            "old_status": "operational",
            "new_status": "partial_outage",
        }
    ]
    assert latest["affected_components"][0]["old_status"] == "partial_outage"
    assert latest["affected_components"][0]["new_status"] == "degraded_performance"
    assert incident["created_at"] == first["created_at"]
    assert incident["updated_at"] == latest["created_at"]


def test_drafts_and_other_audiences_are_not_updates(client, public_page, author):
    from incidents.comms import services as communications

    communications.draft(public_page, author, audience="status_page", body="DRAFT-ONLY text")
    communications.draft(public_page, author, audience="internal", body="INTERNAL-ONLY text")
    body = client.get("/status/api/v2/incidents.json").content.decode()
    assert "DRAFT-ONLY" not in body and "INTERNAL-ONLY" not in body


def test_incident_without_published_update_is_not_listed(client, declare, db):
    declare(title="Nobody told yet")
    assert get_json(client, "incidents.json")["incidents"] == []


def test_resolved_incident_has_resolved_at_and_monitoring_at_and_leaves_unresolved(client, busy_page):
    incidents = {i["name"]: i for i in get_json(client, "incidents.json")["incidents"]}
    resolved = incidents["Sign-up SMS delayed"]
    assert resolved["status"] == "resolved"
    assert resolved["resolved_at"] == resolved["incident_updates"][0]["created_at"]
    assert resolved["monitoring_at"] == resolved["incident_updates"][1]["created_at"]
    assert resolved["impact"] == "minor", "SEV3"
    unresolved = get_json(client, "incidents/unresolved.json")["incidents"]
    assert [i["name"] for i in unresolved] == ["Chat replies time out"]
    assert all(i["status"] in UNRESOLVED_STATUSES for i in unresolved)
    summary = get_json(client, "summary.json")
    assert [i["name"] for i in summary["incidents"]] == ["Chat replies time out"]


@pytest.mark.parametrize(("severity", "impact"), [(1, "critical"), (2, "major"), (3, "minor"), (4, "none")])
def test_impact_follows_severity(client, declare, publish, severity, impact):
    publish(declare(title="Something", severity=severity), "Looking into it.")
    assert get_json(client, "incidents.json")["incidents"][0]["impact"] == impact


# The one sentence ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("levels", "severity", "expected"),
    [
        ({}, 4, ("none", "All Systems Operational")),
        ({"web-chat": "degraded_performance"}, 4, ("minor", "Partially Degraded Service")),
        ({"web-chat": "partial_outage"}, 4, ("minor", "Minor Service Outage")),
        ({"web-chat": "major_outage"}, 4, ("major", "Partial System Outage")),
        ({"web-chat": "major_outage", "public-api": "major_outage"}, 4, ("critical", "Major System Outage")),
        ({}, 1, ("critical", "Major Service Outage")),
        ({}, 2, ("major", "Partial System Outage")),
        ({}, 3, ("minor", "Minor Service Outage")),
        # The worse of components and incidents: a degraded component never hides a SEV1.
        ({"web-chat": "degraded_performance"}, 1, ("critical", "Major Service Outage")),
        ({"web-chat": "partial_outage"}, 2, ("major", "Partial System Outage")),
        ({"web-chat": "major_outage"}, 3, ("major", "Partial System Outage")),
    ],
)
def test_indicator_and_description(client, declare, publish, api_service, web_chat, levels, severity, expected):
    publish(declare(title="Trouble", severity=severity), "We are on it.", affected=levels)
    status = get_json(client, "status.json")["status"]
    assert (status["indicator"], status["description"]) == expected


def test_resolved_incident_no_longer_moves_the_indicator(client, declare, publish, web_chat):
    incident = declare(title="Trouble", severity=1)
    publish(incident, "Down.", affected={"web-chat": "major_outage"})
    publish(incident, "Fixed.", status="resolved")
    assert get_json(client, "status.json")["status"] == {"indicator": "none", "description": "All Systems Operational"}


# Maintenance ----------------------------------------------------------------------------------------------


def test_scheduled_maintenance_lists_by_state(client, busy_page):
    every = {m["name"]: m for m in get_json(client, "scheduled-maintenances.json")["scheduled_maintenances"]}
    assert {n: m["status"] for n, m in every.items()} == {
        "Database upgrade": "scheduled",
        "Network change": "in_progress",
        "Cache flush": "verifying",
        "Old work": "completed",
    }
    upcoming = get_json(client, "scheduled-maintenances/upcoming.json")["scheduled_maintenances"]
    assert [m["name"] for m in upcoming] == ["Database upgrade"]
    active = get_json(client, "scheduled-maintenances/active.json")["scheduled_maintenances"]
    assert sorted(m["name"] for m in active) == ["Cache flush", "Network change"]
    summary = get_json(client, "summary.json")["scheduled_maintenances"]
    assert sorted(m["name"] for m in summary) == ["Cache flush", "Database upgrade", "Network change"]
    upgrade = every["Database upgrade"]
    assert upgrade["impact"] == "maintenance"
    assert [c["name"] for c in upgrade["components"]] == ["Public API"]
    assert upgrade["incident_updates"][0]["affected_components"][0]["new_status"] == "under_maintenance"
    assert every["Old work"]["resolved_at"] == every["Old work"]["scheduled_until"]


def test_maintenance_moves_on_by_the_clock(client, db, web_chat, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    maintenance("Network change", timedelta(minutes=30), hours=1, services=[web_chat])
    assert get_json(client, "scheduled-maintenances/upcoming.json")["scheduled_maintenances"]
    time_machine.shift(timedelta(minutes=31))
    active = get_json(client, "scheduled-maintenances/active.json")["scheduled_maintenances"]
    assert [m["status"] for m in active] == ["in_progress"], "the cached copy is not served past the window's start"
    time_machine.shift(timedelta(hours=2))
    assert get_json(client, "scheduled-maintenances/active.json")["scheduled_maintenances"] == []


def test_cancelled_maintenance_is_not_listed(client, db, web_chat):
    m = maintenance("Called off", timedelta(days=1), services=[web_chat])
    m.cancelled = True
    m.save()
    assert get_json(client, "scheduled-maintenances.json")["scheduled_maintenances"] == []


# Language --------------------------------------------------------------------------------------------------


def test_update_body_in_the_visitors_language_with_fallback(client, declare, publish):
    incident = declare(title="Slow replies")
    publish(incident, "Replies are slow.", translations={"zh-hans": "回复变慢。"})
    publish(incident, "Still slow, no translation.", status="identified")
    bodies = [u["body"] for u in get_json(client, "incidents.json")["incidents"][0]["incident_updates"]]
    assert bodies == ["Still slow, no translation.", "Replies are slow."]
    chinese = get_json(client, "incidents.json", accept_language="zh-CN,zh;q=0.9,en;q=0.5")
    bodies = [u["body"] for u in chinese["incidents"][0]["incident_updates"]]
    assert bodies == ["Still slow, no translation.", "回复变慢。"]
    response = client.get("/status/api/v2/incidents.json?lang=zh-hans")
    assert "回复变慢" in response.content.decode()
    assert "Accept-Language" in response["Vary"]


# What never appears -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ENDPOINTS)
def test_confidential_incidents_and_internal_services_never_appear_in_json(client, leak, internal_service, name):
    maintenance("Ledger migration", timedelta(days=1), services=[internal_service])  # internal only
    body = client.get(f"/status/api/v2/{name}").content.decode()
    for word in [*leak["words"], "Ledger migration"]:
        assert word not in body, (name, word)
    check_endpoint(name, json.loads(body))
    summary = get_json(client, "summary.json")
    names = [i["name"] for i in summary["incidents"]]
    assert names == ["Slow sign-in"], "the public incident that only touched an internal service is listed"
    assert summary["incidents"][0]["components"] == []
    assert summary["incidents"][0]["incident_updates"][0]["affected_components"] is None
    api = next(c for c in summary["components"] if c["name"] == "Public API")
    assert api["status"] == "operational", "a confidential incident's impact does not show"
    assert not PublicComponent.objects.filter(service=internal_service).exists()
