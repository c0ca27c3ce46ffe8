"""Staff pages for scheduled maintenance (/status/manage/maintenance/, statuspage.views_manage
and statuspage.services): comms staff, commanders and superusers schedule, change and cancel
windows; everyone else signed in reads them; anonymous visitors are sent to sign in. What they
schedule shows on the public page and its JSON at once, although the page is cached; what
they cancel disappears from both.
"""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from statuspage.models import Maintenance
from tests.conftest import make_user
from tests.statuspage.page_factories import *  # noqa: F403 - fixtures
from tests.statuspage.page_factories import internal_service  # noqa: F401 - named for readers

LIST = "/status/manage/maintenance/"
NEW = "/status/manage/maintenance/new/"


def edit_url(m):
    return reverse("statuspage:manage_maintenance_edit", args=[m.pk])


def cancel_url(m):
    return reverse("statuspage:manage_maintenance_cancel", args=[m.pk])


def local(value):
    """A time as a datetime-local field sends it (the viewer's zone; no tz cookie here: UTC)."""
    return timezone.localtime(value).strftime("%Y-%m-%dT%H:%M")


def form_data(title="Database upgrade", starts_in=timedelta(days=1), hours=2, services=(), **extra):
    starts = timezone.now() + starts_in
    return {
        "title": title,
        "body": "Sign-ups pause for **ten minutes**.",
        "services": [s.pk for s in services],
        "scheduled_for": local(starts),
        "scheduled_until": local(starts + timedelta(hours=hours)),
        "verify_minutes": "15",
        **extra,
    }


def text(response):
    return response.content.decode()


def upcoming_names(client):
    data = client.get("/status/api/v2/scheduled-maintenances/upcoming.json").json()
    return [m["name"] for m in data["scheduled_maintenances"]]


def all_names(client):
    data = client.get("/status/api/v2/scheduled-maintenances.json").json()
    return [m["name"] for m in data["scheduled_maintenances"]]


@pytest.fixture
def root(django_user_model):
    return make_user(django_user_model, "root", is_superuser=True)


@pytest.fixture
def trusted_version(settings):
    # The page trusts its cached content version for an hour: only this process's own
    # invalidation (signals) can make a change show.
    settings.STATUSPAGE_VERSION_SECONDS = 3600


def window(title="Network change", starts_in=timedelta(days=1), hours=2, services=(), **fields):
    now = timezone.now()
    m = Maintenance.objects.create(
        title=title, scheduled_for=now + starts_in, scheduled_until=now + starts_in + timedelta(hours=hours), **fields
    )
    m.services.set(services)
    return m


# Scheduling shows on the public page -------------------------------------------------------------


def test_comms_staff_schedules_maintenance_that_shows_as_upcoming_at_once(
    client, as_user, comms, api_service, trusted_version
):
    assert "Database upgrade" not in text(client.get("/status/"))  # the page and JSON are cached now
    assert upcoming_names(client) == []

    response = as_user(comms).post(NEW, form_data(services=[api_service]))

    assert response.status_code == 302 and response["Location"] == LIST
    m = Maintenance.objects.get()
    assert (m.title, m.created_by, m.status, m.cancelled) == ("Database upgrade", comms, "scheduled", False)
    assert list(m.services.all()) == [api_service]
    page = text(client.get("/status/"))
    assert "Scheduled maintenance" in page and "Database upgrade" in page
    assert upcoming_names(client) == ["Database upgrade"]
    detail = client.get(f"/status/maintenance/{m.public_id}/")
    assert detail.status_code == 200 and "<strong>ten minutes</strong>" in text(detail)


def test_times_are_read_in_the_viewers_zone(as_user, comms, api_service):
    client = as_user(comms)
    client.cookies["tz"] = "Asia/Shanghai"
    times = {"scheduled_for": "2099-01-01T09:00", "scheduled_until": "2099-01-01T10:30"}
    client.post(NEW, {**form_data(services=[api_service]), **times})
    m = Maintenance.objects.get()
    assert m.scheduled_for.isoformat() == "2099-01-01T01:00:00+00:00"
    assert m.scheduled_until.isoformat() == "2099-01-01T02:30:00+00:00"


def test_the_list_shows_every_window_with_its_status(as_user, viewer, api_service, internal_service):  # noqa: F811
    window("Upcoming", services=[api_service])
    window("Running now", starts_in=-timedelta(minutes=5), services=[api_service])
    window("Long done", starts_in=-timedelta(days=3))
    window("Called off", cancelled=True)
    window("Back office", services=[internal_service])
    html = text(as_user(viewer).get(LIST))
    for title in ("Upcoming", "Running now", "Long done", "Called off", "Back office"):
        assert title in html
    statuses = html.count('data-testid="maintenance-status"')
    assert statuses == 5
    for label in ("Scheduled", "In progress", "Completed", "Cancelled"):
        assert f'data-testid="maintenance-status">{label}<' in html
    assert "not shown" in html  # the cancelled and the internal-only window


def test_staff_navigation_links_the_maintenance_pages(as_user, viewer):
    html = text(as_user(viewer).get(reverse("incidents:list")))
    assert f'<a href="{LIST}">Maintenance</a>' in html


def test_list_query_count_does_not_grow_with_windows(
    as_user, comms, api_service, web_chat, django_assert_max_num_queries
):
    client = as_user(comms)
    for i in range(3):
        window(f"Window {i}", services=[api_service, web_chat])
    client.get(LIST)
    for i in range(3, 30):
        window(f"Window {i}", services=[api_service, web_chat])
    with django_assert_max_num_queries(8):
        response = client.get(LIST)
    assert text(response).count('data-testid="maintenance-status"') == 30


# Who may do what --------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["comms", "commander", "root"])
def test_comms_commanders_and_superusers_manage_maintenance(request, as_user, who, api_service):
    client = as_user(request.getfixturevalue(who))
    assert 'data-testid="schedule-maintenance"' in text(client.get(LIST))
    assert client.get(NEW).status_code == 200
    assert client.post(NEW, form_data(services=[api_service])).status_code == 302
    m = Maintenance.objects.get()
    assert client.post(edit_url(m), form_data(title="Renamed", services=[api_service])).status_code == 302
    assert client.post(cancel_url(m)).status_code == 302
    m.refresh_from_db()
    assert (m.title, m.cancelled) == ("Renamed", True)


@pytest.mark.parametrize("who", ["viewer", "responder", "outsider"])
def test_others_read_but_cannot_schedule_change_or_cancel(request, as_user, who, api_service):
    m = window("Network change", services=[api_service])
    client = as_user(request.getfixturevalue(who))
    listing = client.get(LIST)
    assert listing.status_code == 200 and "Network change" in text(listing)
    assert 'data-testid="schedule-maintenance"' not in text(listing) and cancel_url(m) not in text(listing)
    detail = client.get(edit_url(m))
    assert detail.status_code == 200 and "<form" not in text(detail).split("<main>")[1].split("</main>")[0]
    for response in (
        client.get(NEW),
        client.post(NEW, form_data(title="Sneaky")),
        client.post(edit_url(m), form_data(title="Sneaky")),
        client.post(cancel_url(m)),
    ):
        assert response.status_code == 403
        assert "Only comms staff and commanders may schedule or change maintenance." in text(response)
    m.refresh_from_db()
    assert (m.title, m.cancelled, Maintenance.objects.count()) == ("Network change", False, 1)


def test_anonymous_visitors_are_sent_to_sign_in(client, db):
    m = window()
    for url in (LIST, NEW, edit_url(m)):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert client.post(cancel_url(m)).status_code == 302
    assert not Maintenance.objects.get().cancelled


def test_staff_pages_are_never_cached(as_user, comms):
    response = as_user(comms).get(LIST)
    assert "no-cache" in response["Cache-Control"] and "private" in response["Cache-Control"]


# Bad input -------------------------------------------------------------------------------------------


def test_a_window_that_ends_before_it_starts_keeps_the_typed_values_and_says_why(as_user, comms, api_service):
    data = form_data(title="Backwards window", services=[api_service], hours=-1)
    response = as_user(comms).post(NEW, data)
    html = text(response)
    assert response.status_code == 400
    assert "The window must end after it starts." in html
    assert 'value="Backwards window"' in html
    assert f'value="{data["scheduled_for"]}"' in html and f'value="{data["scheduled_until"]}"' in html
    assert "Sign-ups pause for **ten minutes**." in html
    assert f'value="{api_service.pk}" id="id_services_0" checked' in html
    assert not Maintenance.objects.exists()


def test_missing_and_malformed_fields_are_errors_not_crashes(as_user, comms):
    client = as_user(comms)
    response = client.post(NEW, {"title": "", "scheduled_for": "2024-02-30T10:00", "verify_minutes": "-5"})
    html = text(response)
    assert response.status_code == 400
    assert html.count('class="error" role="alert"') >= 4  # title, both times, verification minutes
    for odd in ("9" * 40, "²", "a\x00", "-1"):
        response = client.post(NEW, form_data(services=[]) | {"services": [odd]})
        assert response.status_code == 400, odd
    assert not Maintenance.objects.exists()


def test_a_window_that_already_ended_cannot_be_scheduled(as_user, comms):
    response = as_user(comms).post(NEW, form_data(starts_in=-timedelta(hours=5), hours=1))
    assert response.status_code == 400
    assert "This window has already ended: choose an end in the future." in text(response)
    assert not Maintenance.objects.exists()


def test_internal_services_are_allowed_with_a_warning(client, as_user, comms, api_service, internal_service):  # noqa: F811
    staff = as_user(comms)
    response = staff.post(NEW, form_data(title="Mixed", services=[api_service, internal_service]), follow=True)
    html = text(response)
    assert "Internal services are not shown on the status page: Billing ledger." in html
    response = staff.post(NEW, form_data(title="Back office only", services=[internal_service]), follow=True)
    assert "Every chosen service is internal: this maintenance does not appear on the status page." in text(response)
    assert Maintenance.objects.count() == 2
    assert upcoming_names(client) == ["Mixed"]
    public = text(client.get("/status/"))
    assert "Back office only" not in public and "Billing ledger" not in public


def test_the_form_marks_internal_services(as_user, comms, api_service, internal_service):  # noqa: F811
    html = text(as_user(comms).get(NEW))
    assert "Public API" in html
    assert "Billing ledger (internal: not shown on the status page)" in html


# Changing and cancelling --------------------------------------------------------------------------


def test_an_edit_shows_on_the_status_page_at_once(client, as_user, comms, api_service, web_chat, trusted_version):
    m = window("Network change", services=[api_service])
    assert upcoming_names(client) == ["Network change"]
    form = text(as_user(comms).get(edit_url(m)))
    assert 'value="Network change"' in form and f'value="{local(m.scheduled_for)}"' in form
    response = as_user(comms).post(edit_url(m), form_data(title="Network and DNS change", services=[web_chat]))
    assert response.status_code == 302
    m.refresh_from_db()
    assert list(m.services.all()) == [web_chat]
    assert upcoming_names(client) == ["Network and DNS change"]
    summary = client.get("/status/api/v2/summary.json").json()
    assert [c["name"] for c in summary["scheduled_maintenances"][0]["components"]] == ["Web chat"]


def test_moving_a_window_into_the_present_starts_it(client, as_user, comms, api_service, trusted_version):
    m = window("Network change", services=[api_service])
    as_user(comms).post(edit_url(m), form_data(starts_in=-timedelta(minutes=10), services=[api_service]))
    m.refresh_from_db()
    assert m.status == "in_progress"
    active = client.get("/status/api/v2/scheduled-maintenances/active.json").json()
    assert [x["name"] for x in active["scheduled_maintenances"]] == ["Database upgrade"]


def test_cancelled_maintenance_disappears_from_the_status_page(client, as_user, comms, api_service, trusted_version):
    m = window("Network change", services=[api_service])
    assert "Network change" in text(client.get("/status/"))
    assert upcoming_names(client) == all_names(client) == ["Network change"]
    assert client.get(f"/status/maintenance/{m.public_id}/").status_code == 200

    response = as_user(comms).post(cancel_url(m), follow=True)

    assert "Maintenance “Network change” cancelled: it no longer shows on the status page." in text(response)
    m.refresh_from_db()
    assert m.cancelled
    assert "Network change" not in text(client.get("/status/"))
    assert upcoming_names(client) == all_names(client) == []
    assert client.get(f"/status/maintenance/{m.public_id}/").status_code == 404
    assert "Network change" not in text(client.get("/status/feed.atom"))


def test_cancelling_twice_is_harmless(as_user, comms):
    m = window()
    client = as_user(comms)
    client.post(cancel_url(m))
    response = client.post(cancel_url(m), follow=True)
    assert "was already cancelled" in text(response)


def test_a_cancelled_window_cannot_be_changed(as_user, comms):
    m = window("Network change", cancelled=True)
    client = as_user(comms)
    assert "This maintenance was cancelled; schedule a new one instead." in text(client.get(edit_url(m)))
    assert client.post(edit_url(m), form_data(title="Revived")).status_code == 409
    m.refresh_from_db()
    assert (m.title, m.cancelled) == ("Network change", True)


def test_a_completed_window_cannot_be_changed_or_cancelled(as_user, comms, api_service):
    m = window("Long done", starts_in=-timedelta(days=2), services=[api_service])
    client = as_user(comms)
    page = text(client.get(edit_url(m)))
    assert "This maintenance has completed; it can no longer be changed." in page
    assert 'name="title"' not in page
    response = client.post(edit_url(m), form_data(title="Rewritten history", services=[api_service]))
    assert response.status_code == 409
    response = client.post(cancel_url(m), follow=True)
    assert "This maintenance has completed; it can no longer be cancelled." in text(response)
    m.refresh_from_db()
    assert (m.title, m.cancelled) == ("Long done", False)


def test_unknown_window_is_404(as_user, comms):
    client = as_user(comms)
    assert client.get("/status/manage/maintenance/999999/").status_code == 404
    assert client.post("/status/manage/maintenance/999999/cancel/").status_code == 404


def test_maintenance_pages_follow_the_staff_language(as_user, comms):
    window("Network change")
    html = text(as_user(comms).get(LIST, HTTP_ACCEPT_LANGUAGE="zh-hans"))
    assert "计划维护" in html and "安排维护" in html and "已计划" in html


def test_changes_re_export_the_static_page_when_one_is_configured(
    as_user, comms, api_service, settings, tmp_path, django_capture_on_commit_callbacks, monkeypatch
):
    from statuspage import tasks

    settings.STATUSPAGE_EXPORT_DIR = str(tmp_path / "status")
    queued = []
    # Stands in for the broker only; the task's body is export_static_page, run below.
    monkeypatch.setattr(tasks.export_page, "delay", lambda: queued.append("export"))
    client = as_user(comms)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(NEW, form_data(services=[api_service]))
    assert queued == ["export"], "one check for the whole change"
    assert tasks.export_page() is True
    assert "Database upgrade" in (tmp_path / "status" / "index.html").read_text()
    m = Maintenance.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(cancel_url(m))
    assert queued == ["export", "export"]
    assert tasks.export_page() is True
    assert "Database upgrade" not in (tmp_path / "status" / "index.html").read_text()
