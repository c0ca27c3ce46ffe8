"""Two commanders change the status at the same moment (make stress, run e): the one whose
request read the incident before the other's change committed waits for the row lock, then
must hear 409 with the state that won, as a stale `from_status` does, not a 400 as if the
input were wrong."""

import time

import pytest
from django.db import connection, transaction

from incidents import services
from incidents.models import Incident
from tests.conftest import in_thread, needs_postgresql


def _wait_until_a_request_waits_for_a_lock(timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            # Statistics views keep one snapshot per transaction, and this runs inside one.
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
        time.sleep(0.05)
    raise AssertionError("the second request never reached the incident's row lock")


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_status_change_that_loses_the_race_is_a_409_with_the_winning_state(api, commander, incident):
    url = f"/api/v1/incidents/{incident.pk}/"
    results = {}

    def second_commander():
        return api(commander).patch(url, {"status": "monitoring", "from_status": "investigating"}, format="json")

    with transaction.atomic():
        first = Incident.objects.select_for_update().get(pk=incident.pk)
        second = in_thread(second_commander, results, "second")
        _wait_until_a_request_waits_for_a_lock()
        services.change_status(first, "identified", commander)
    second.join(30)

    response = results["second"]
    assert response.status_code == 409
    assert response.json()["incident"]["status"] == "identified"
    assert "status" in response.json()
    incident.refresh_from_db()
    assert incident.status == "identified"
    assert [entry.data["new"] for entry in incident.timeline.filter(kind="status")] == ["identified"]
