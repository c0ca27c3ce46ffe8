"""The maintenance admin goes through statuspage.services: a change or a cancellation is checked
as the staff pages check it and re-exports the static status page; scheduling is in the app, and
a window that completed or was cancelled is history (read-only, never deleted)."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from statuspage import tasks
from statuspage.models import Maintenance
from tests.conftest import make_user
from tests.incidents.test_admin import post_change_form

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(django_user_model):
    client = Client()
    client.force_login(make_user(django_user_model, "root", is_superuser=True, is_staff=True))
    return client


@pytest.fixture
def exports(settings, tmp_path, monkeypatch):
    """The re-exports enqueued (the broker's part only: the test runs the task's body itself)."""
    settings.STATUSPAGE_EXPORT_DIR = str(tmp_path / "status")
    queued = []
    monkeypatch.setattr(tasks.export_page, "delay", lambda: queued.append("export"))
    return queued


def window(title="Network change", starts_in=timedelta(days=1), hours=2):
    now = timezone.now()
    return Maintenance.objects.create(
        title=title, scheduled_for=now + starts_in, scheduled_until=now + starts_in + timedelta(hours=hours)
    )


def url(m, action="change"):
    return f"/admin/statuspage/maintenance/{m.pk}/{action}/"


def test_a_maintenance_changed_in_the_admin_re_exports_the_status_page(
    admin_client, exports, tmp_path, django_capture_on_commit_callbacks
):
    m = window()
    with django_capture_on_commit_callbacks(execute=True):
        response = post_change_form(admin_client, url(m), title="Network upgrade")
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Maintenance.objects.get(pk=m.pk).title == "Network upgrade"
    assert exports == ["export"]
    assert tasks.export_page() is True
    exported = (tmp_path / "status" / "api" / "v2" / "scheduled-maintenances.json").read_text()
    assert "Network upgrade" in exported


def test_the_admin_refuses_a_window_that_ends_before_it_starts(admin_client, exports):
    m = window()
    response = post_change_form(admin_client, url(m), scheduled_until_0="2000-01-01", scheduled_until_1="00:00:00")
    assert response.status_code == 200
    assert "The window must end after it starts." in response.content.decode()
    assert Maintenance.objects.get(pk=m.pk).scheduled_until == m.scheduled_until
    assert exports == []


def test_a_completed_or_cancelled_window_is_read_only_in_the_admin(admin_client, exports):
    completed = window("Old change", starts_in=timedelta(days=-2))
    cancelled = window("Called off")
    Maintenance.objects.filter(pk=cancelled.pk).update(cancelled=True)
    for m in (completed, cancelled):
        response = post_change_form(admin_client, url(m), title="Rewritten")
        assert response.status_code == 302
        assert Maintenance.objects.get(pk=m.pk).title == m.title
    assert exports == []


def test_the_admin_cancels_maintenance_through_the_service(admin_client, exports, django_capture_on_commit_callbacks):
    m = window()
    assert [
        w["name"] for w in Client().get("/status/api/v2/scheduled-maintenances.json").json()["scheduled_maintenances"]
    ] == ["Network change"]
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/statuspage/maintenance/", {"action": "cancel", "_selected_action": [str(m.pk)]}
        )
    assert response.status_code == 302
    assert Maintenance.objects.get(pk=m.pk).cancelled is True
    assert exports == ["export"]
    assert Client().get("/status/api/v2/scheduled-maintenances.json").json()["scheduled_maintenances"] == []


def test_maintenance_is_scheduled_in_the_app_and_cancelled_not_deleted(admin_client, exports):
    m = window()
    assert admin_client.get("/admin/statuspage/maintenance/add/").status_code == 403
    assert admin_client.post(url(m, "delete"), {"post": "yes"}).status_code == 403
    bulk = {"action": "delete_selected", "_selected_action": [str(m.pk)], "post": "yes"}
    admin_client.post("/admin/statuspage/maintenance/", bulk)
    assert Maintenance.objects.filter(pk=m.pk, cancelled=False).exists()
