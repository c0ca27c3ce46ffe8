"""The comms lead sees when the next public update is due on the comms page too."""

from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_comms_page_shows_when_the_next_update_is_due(client, declare, commander):
    with time_machine.travel("2026-11-28 10:00:00+00:00", tick=False):
        incident = declare(title="API down", severity=1)  # SEV1: an update every 30 min
    client.force_login(commander)
    with time_machine.travel("2026-11-28 10:10:00+00:00", tick=False):
        page = client.get(reverse("incidents:comms:index", args=[incident.key])).content.decode()
        assert 'data-testid="next-update"' in page and "in 20 min" in page
    with time_machine.travel("2026-11-28 10:45:00+00:00", tick=False):
        page = client.get(reverse("incidents:comms:index", args=[incident.key])).content.decode()
        assert "overdue by 15 min" in page


def test_sev4_incident_has_no_update_cadence_on_the_comms_page(client, declare, commander):
    incident = declare(title="Typo on the pricing page", severity=4)
    client.force_login(commander)
    page = client.get(reverse("incidents:comms:index", args=[incident.key])).content.decode()
    assert 'data-testid="next-update"' not in page


def test_an_incident_gets_its_own_cadence_logged_and_back_to_the_default(client, declare, commander, viewer):
    from django.core.exceptions import PermissionDenied, ValidationError

    from incidents.comms import reminders
    from incidents.comms import services as communications

    with time_machine.travel("2026-11-28 10:00:00+00:00", tick=False):
        incident = declare(title="Sign-ups restricted", severity=2)  # SEV2: hourly by default
    with pytest.raises(PermissionDenied):
        communications.set_update_cadence(incident, 1440, viewer)
    with pytest.raises(ValidationError):
        communications.set_update_cadence(incident, 7, commander)
    client.force_login(commander)
    client.post(reverse("incidents:comms:cadence", args=[incident.key]), {"minutes": "1440", "reason": "Stable"})
    incident.refresh_from_db()
    assert reminders.next_update_due(incident) == incident.declared_at + timedelta(days=1)
    assert incident.timeline.last().body == "Public update cadence: every 24 h. Reason: Stable"
    client.post(reverse("incidents:comms:cadence", args=[incident.key]), {"minutes": ""})
    incident.refresh_from_db()
    assert incident.update_cadence_minutes is None
    assert incident.timeline.last().body == "Public update cadence: the SEV2 default (every 1 h)."
    response = client.post(reverse("incidents:comms:cadence", args=[incident.key]), {"minutes": "soon"})
    assert response.status_code == 302  # back to the war room, with the refusal as a message
