"""The comms lead sees when the next public update is due on the comms page too."""

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
