"""Status drift and "every alert has resolved": shown in the war room's alerts panel and sent
by the reminder sweep (once per stretch), to the comms lead and the commander."""

import pytest

from incidents import services
from incidents.alerts import services as alerts
from incidents.models import Incident, UserNotification
from incidents.reminders import sweep as reminders
from tests.alerts.conftest import alertmanager_payload, am_alert
from tests.incidents.conftest import T0, clock, people, staffed  # noqa: F401

pytestmark = pytest.mark.django_db


def notes(user, text):
    return list(UserNotification.objects.filter(user=user, title__contains=text))


@pytest.fixture
def firing(source, deliver, clock, people):  # noqa: F811
    """A critical alert on the Public API, started at T0, on an incident with a comms lead."""
    alert = am_alert(fingerprint="crit")
    alert["startsAt"] = T0.isoformat()
    deliver(source, alertmanager_payload(alert))
    incident = Incident.objects.get()
    services.assign_role(incident, people.comms, "comms_lead", people.commander)
    return incident


def test_status_drift_reminds_the_comms_lead_after_ten_minutes(firing, clock, people, as_user):  # noqa: F811
    clock.at(9, seconds=59)
    reminders.sweep()
    assert notes(people.comms, "Status page says operational") == []
    clock.at(10)
    reminders.sweep()
    [note] = notes(people.comms, "Status page says operational while alerts fire on Public API")
    assert "for 10 min" in note.body and note.incident_id == firing.pk
    clock.at(15)
    reminders.sweep()
    assert len(notes(people.comms, "Status page says operational")) == 1  # once per stretch
    panel = as_user(people.commander).get(f"/incidents/{firing.key}/alerts/").content.decode()
    assert 'data-testid="status-drift"' in panel and "for 15 min" in panel


def test_no_drift_once_an_impact_shows_on_the_status_page(firing, clock, people, api_service):  # noqa: F811
    services.add_impact(firing, people.commander, service=api_service, level="major_outage")
    clock.at(20)
    reminders.sweep()
    assert notes(people.comms, "Status page says operational") == []
    assert alerts.status_drift() == []


def test_no_drift_for_warnings_or_internal_services(source, deliver, clock, api_service):  # noqa: F811
    alert = am_alert(fingerprint="warn", severity="warning")
    alert["startsAt"] = T0.isoformat()
    deliver(source, alertmanager_payload(alert))
    clock.at(30)
    assert alerts.status_drift() == []


def test_the_commander_hears_when_every_alert_has_resolved(firing, source, deliver, clock, people, as_user):  # noqa: F811
    clock.at(2)
    deliver(source, alertmanager_payload(am_alert(fingerprint="crit", status="resolved")))
    reminders.sweep()
    [note] = notes(people.commander, f"Every alert of {firing.reference} has resolved")
    assert "may be ready for monitoring" in note.body
    panel = as_user(people.commander).get(f"/incidents/{firing.key}/alerts/").content.decode()
    assert 'data-testid="all-resolved"' in panel
    reminders.sweep()
    assert len(notes(people.commander, "Every alert of")) == 1
    services.change_status(firing, "monitoring", people.commander)
    clock.at(5)
    deliver(source, alertmanager_payload(am_alert(fingerprint="crit")))
    deliver(source, alertmanager_payload(am_alert(fingerprint="crit", status="resolved")))
    reminders.sweep()
    assert len(notes(people.commander, "Every alert of")) == 1  # in monitoring already: nothing to say
