"""Scheduled maintenance over the REST API (/api/v1/maintenances/, statuspage.api): the same
rules as the staff pages (statuspage.services), the same people (comms staff, commanders and
superusers write; everyone signed in reads), errors naming the field, and what is scheduled or
cancelled shows on (or leaves) the public page and its JSON at once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from statuspage import services
from statuspage.models import Maintenance
from tests.statuspage.page_factories import *  # noqa: F403 - fixtures
from tests.statuspage.page_factories import internal_service  # noqa: F401 - a fixture

URL = "/api/v1/maintenances/"


def iso(value):
    return value.isoformat()


def body(title="Database upgrade", starts_in=timedelta(days=1), hours=2, services=(), **extra):
    starts = timezone.now() + starts_in
    return {
        "title": title,
        "body": "Sign-ups pause for **ten minutes**.",
        "services": list(services),
        "scheduled_for": iso(starts),
        "scheduled_until": iso(starts + timedelta(hours=hours)),
        **extra,
    }


def upcoming_names(client):
    data = client.get("/status/api/v2/scheduled-maintenances/upcoming.json").json()
    return [m["name"] for m in data["scheduled_maintenances"]]


def test_comms_schedules_maintenance_and_it_shows_on_the_status_page(api, comms, web_chat, client):
    assert upcoming_names(client) == []  # the page is built (and cached) before the change
    response = api(comms).post(URL, body(services=["web-chat"]), format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["title"] == "Database upgrade"
    assert data["services"] == ["web-chat"]
    assert data["status"] == "scheduled"
    assert data["verify_minutes"] == 15
    assert data["created_by"] == "comms"
    assert data["public_url"].endswith(f"/status/maintenance/{data['public_id']}/")
    assert upcoming_names(client) == ["Database upgrade"]
    assert client.get(f"/status/maintenance/{data['public_id']}/").status_code == 200


def test_commander_changes_a_window(api, commander, web_chat, api_service, client):
    m = services.schedule(
        commander,
        title="Network change",
        scheduled_for=timezone.now() + timedelta(days=1),
        scheduled_until=timezone.now() + timedelta(days=1, hours=1),
        services=[web_chat],
    )
    upcoming_names(client)
    later = timezone.now() + timedelta(days=2)
    response = api(commander).patch(
        f"{URL}{m.pk}/",
        {
            "title": "Network change (moved)",
            "scheduled_for": iso(later),
            "scheduled_until": iso(later + timedelta(hours=3)),
            "services": ["public-api"],
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    m.refresh_from_db()
    assert m.title == "Network change (moved)"
    assert m.scheduled_until == later + timedelta(hours=3)
    assert [s.slug for s in m.services.all()] == ["public-api"]
    assert upcoming_names(client) == ["Network change (moved)"]


def test_cancelled_window_leaves_the_status_page_and_cancelling_again_changes_nothing(api, comms, web_chat, client):
    m = services.schedule(
        comms,
        title="Cache flush",
        scheduled_for=timezone.now() + timedelta(hours=1),
        scheduled_until=timezone.now() + timedelta(hours=2),
        services=[web_chat],
    )
    assert upcoming_names(client) == ["Cache flush"]
    response = api(comms).post(f"{URL}{m.pk}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["cancelled"] is True
    assert response.json()["public_url"] is None
    assert upcoming_names(client) == []
    again = api(comms).post(f"{URL}{m.pk}/cancel/")
    assert again.status_code == 200
    assert again.json()["status"] == "cancelled"


def test_cancelled_or_completed_window_no_longer_changes(api, comms, web_chat):
    now = timezone.now()
    cancelled = services.schedule(
        comms, title="Called off", scheduled_for=now + timedelta(hours=1), scheduled_until=now + timedelta(hours=2)
    )
    services.cancel(cancelled, comms)
    response = api(comms).patch(f"{URL}{cancelled.pk}/", {"title": "Revived"}, format="json")
    assert response.status_code == 409
    assert "cancelled" in response.json()["detail"]
    done = Maintenance.objects.create(
        title="Last week's work", scheduled_for=now - timedelta(days=7), scheduled_until=now - timedelta(days=6)
    )
    response = api(comms).patch(f"{URL}{done.pk}/", {"title": "Rewritten history"}, format="json")
    assert response.status_code == 409
    assert api(comms).post(f"{URL}{done.pk}/cancel/").status_code == 409
    done.refresh_from_db()
    assert done.title == "Last week's work" and not done.cancelled


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": ""}, "title"),
        ({"title": "x" * 201}, "title"),
        ({"scheduled_for": "tomorrow"}, "scheduled_for"),
        ({"scheduled_until": "3000-01-01T00:00:00Z"}, "scheduled_until"),
        ({"verify_minutes": -1}, "verify_minutes"),
        ({"verify_minutes": 100000}, "verify_minutes"),
        ({"services": ["no-such-service"]}, "services"),
        ({"services": "web-chat"}, "services"),
        ({"body": "a\x00b"}, "body"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, comms, web_chat, change, field):
    response = api(comms).post(URL, {**body(), **change}, format="json")
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert not Maintenance.objects.exists()


def test_window_must_end_after_it_starts_and_in_the_future(api, comms):
    response = api(comms).post(URL, body(hours=-1), format="json")
    assert response.status_code == 400
    assert "scheduled_until" in response.json()
    response = api(comms).post(URL, body(starts_in=-timedelta(days=2), hours=1), format="json")
    assert response.status_code == 400
    assert "already ended" in response.json()["scheduled_until"][0]
    assert not Maintenance.objects.exists()


def test_responders_and_viewers_read_but_may_not_write(api, responder, viewer, comms):
    m = services.schedule(
        comms,
        title="Read me",
        scheduled_for=timezone.now() + timedelta(hours=1),
        scheduled_until=timezone.now() + timedelta(hours=2),
    )
    for user in (responder, viewer):
        assert api(user).get(URL).json()["results"][0]["title"] == "Read me"
        assert api(user).get(f"{URL}{m.pk}/").status_code == 200
        refused = api(user).post(URL, body(), format="json")
        assert refused.status_code == 403
        assert "comms staff and commanders" in refused.json()["detail"]
        assert api(user).patch(f"{URL}{m.pk}/", {"title": "Mine now"}, format="json").status_code == 403
        assert api(user).post(f"{URL}{m.pk}/cancel/").status_code == 403
    m.refresh_from_db()
    assert m.title == "Read me" and not m.cancelled
    assert Maintenance.objects.count() == 1


def test_anonymous_callers_get_nothing(api, comms):
    services.schedule(
        comms,
        title="Hidden from strangers",
        scheduled_for=timezone.now() + timedelta(hours=1),
        scheduled_until=timezone.now() + timedelta(hours=2),
    )
    assert api(None).get(URL).status_code in (401, 403)
    assert api(None).post(URL, body(), format="json").status_code in (401, 403)


def test_internal_only_window_has_no_public_page(api, comms, internal_service):  # noqa: F811
    response = api(comms).post(URL, body(services=[internal_service.slug]), format="json")
    assert response.status_code == 201
    assert response.json()["public_url"] is None


def test_list_is_bounded_in_queries(api, comms, web_chat, api_service, django_assert_max_num_queries):
    now = timezone.now()
    for n in range(12):
        services.schedule(
            comms,
            title=f"Window {n}",
            scheduled_for=now + timedelta(days=n + 1),
            scheduled_until=now + timedelta(days=n + 1, hours=1),
            services=[web_chat, api_service],
        )
    client = api(comms)
    with django_assert_max_num_queries(6):
        response = client.get(URL)
    assert response.json()["count"] == 12
    assert [m["title"] for m in response.json()["results"]][:2] == ["Window 11", "Window 10"]


def test_maintenance_operations_are_in_the_openapi_schema(api, comms):
    paths = api(comms).get("/api/schema/?format=json").json()["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/maintenances/"])
    assert {"get", "put", "patch"} <= set(paths["/api/v1/maintenances/{id}/"])
    assert "post" in paths["/api/v1/maintenances/{id}/cancel/"]


def test_a_retried_schedule_with_the_same_idempotency_key_stores_one_window(api, comms):
    client = api(comms)
    data = body(title="Retried")
    first = client.post(URL, data, format="json", HTTP_IDEMPOTENCY_KEY="maint-1")
    again = client.post(URL, data, format="json", HTTP_IDEMPOTENCY_KEY="maint-1")
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert Maintenance.objects.filter(title="Retried").count() == 1


def test_put_replaces_every_field_and_the_api_root_lists_maintenances(api, comms, web_chat):
    m = services.schedule(
        comms,
        title="Old title",
        body="Old body",
        scheduled_for=timezone.now() + timedelta(hours=1),
        scheduled_until=timezone.now() + timedelta(hours=2),
        services=[web_chat],
        verify_minutes=30,
    )
    response = api(comms).put(f"{URL}{m.pk}/", body(title="New title", body="", services=[]), format="json")
    assert response.status_code == 200, response.json()
    m.refresh_from_db()
    assert (m.title, m.body, m.verify_minutes, list(m.services.all())) == ("New title", "", 15, [])
    assert api(comms).get("/api/v1/").json()["maintenances"].endswith("/api/v1/maintenances/")
