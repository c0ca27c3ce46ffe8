"""The awareness time (legal clocks count from it) is the security group's to record too, not
only the commanders': on the security page and through the API, where the incident's JSON
carries `aware_at` so a client can compute DORA's cap. Each recording is logged."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from incidents.models import Incident, TimelineEntry
from tests.conftest import HTMX

pytestmark = pytest.mark.django_db


@pytest.fixture
def breach(declare):
    # Not confidential, so the responder below can see it and be refused by the rule, not a 404.
    return declare(title="Chat logs database exposed", kind="data_exposure", confidential=False, severity=1)


def incident_url(incident):
    return reverse("incident-detail", args=[incident.key])


def awareness_entries(incident):
    return list(incident.timeline.filter(kind=TimelineEntry.Kind.TIME, data__field="aware_at").order_by("id"))


def test_security_member_records_awareness_on_the_security_page(as_user, breach, security):
    client = as_user(security)
    page = client.get(reverse("incidents:security:page", args=[breach.key])).content.decode()
    assert "Record when you became aware" in page  # the form is offered to them
    when = timezone.localtime(timezone.now() - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        reverse("incidents:security:awareness", args=[breach.key]),
        {"value": when, "reason": "Researcher's e-mail at 07:12"},
        headers=HTMX,
    )
    assert response.status_code == 200 and 'role="alert"' not in response.content.decode()
    breach.refresh_from_db()
    assert breach.aware_at is not None
    (entry,) = awareness_entries(breach)
    assert entry.author == security and "Researcher's e-mail" in entry.body


def test_responder_is_not_offered_and_cannot_record_awareness(as_user, breach, responder):
    client = as_user(responder)
    page = client.get(reverse("incidents:security:page", args=[breach.key])).content.decode()
    assert "Record when you became aware" not in page
    assert "A commander or the security group records it" in page
    when = timezone.localtime(timezone.now() - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        reverse("incidents:security:awareness", args=[breach.key]), {"value": when, "reason": "x"}, headers=HTMX
    )
    assert "security group may record the awareness time" in response.content.decode()
    breach.refresh_from_db()
    assert breach.aware_at is None and not awareness_entries(breach)


def test_incident_json_carries_the_awareness_time(api, breach, viewer, commander):
    assert api(viewer).get(incident_url(breach)).json()["aware_at"] is None
    response = api(commander).patch(
        incident_url(breach), {"aware_at": "2026-01-05T07:12:00Z", "reason": "SOC ticket"}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["aware_at"] == "2026-01-05T07:12:00Z"
    listed = api(viewer).get(reverse("incident-list")).json()["results"]
    assert listed[0]["aware_at"] == "2026-01-05T07:12:00Z"


def test_security_member_sets_aware_at_through_the_api_and_it_is_logged(api, breach, security):
    response = api(security).patch(
        incident_url(breach), {"aware_at": "2026-01-05T07:12:00Z", "reason": "Researcher's e-mail"}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["aware_at"] == "2026-01-05T07:12:00Z"
    (entry,) = awareness_entries(breach)
    assert entry.author == security and entry.data["reason"] == "Researcher's e-mail"


def test_security_member_may_not_change_anything_else_through_the_api(api, breach, security):
    response = api(security).patch(incident_url(breach), {"aware_at": "2026-01-05T07:12:00Z", "severity": 2})
    assert response.status_code == 403
    assert "commanders" in response.json()["detail"]
    breach.refresh_from_db()
    assert (breach.aware_at, breach.severity) == (None, 1)


@pytest.mark.parametrize("who", ["responder", "viewer"])
def test_others_may_not_set_aware_at_through_the_api(api, breach, who, request):
    response = api(request.getfixturevalue(who)).patch(incident_url(breach), {"aware_at": "2026-01-05T07:12:00Z"})
    assert response.status_code == 403
    assert Incident.objects.get(pk=breach.pk).aware_at is None


@pytest.mark.parametrize("value", ["yesterday", "3026-01-01T00:00:00Z", "1066-10-14T09:00:00Z"])
def test_bad_awareness_times_are_a_400_on_the_field(api, breach, security, value):
    response = api(security).patch(incident_url(breach), {"aware_at": value}, format="json")
    assert response.status_code == 400
    assert "aware_at" in response.json()


def test_dora_cap_follows_an_awareness_time_set_over_the_api(api, breach, security):
    """An API client sets the awareness time, starts DORA's clock at classification 22 h later
    and reads the initial notification due 24 h after awareness (capped), not 4 h later."""
    client = api(security)
    aware = (timezone.now() - timedelta(hours=23)).replace(microsecond=0)
    response = client.patch(incident_url(breach), {"aware_at": aware.isoformat(), "reason": "SOC"}, format="json")
    assert response.status_code == 200, response.json()
    classified = aware + timedelta(hours=22)
    response = client.post(
        reverse("clock-list", args=[breach.pk]),
        {"obligation": "dora-19", "started_at": classified.isoformat()},
        format="json",
    )
    assert response.status_code == 201, response.json()
    initial = response.json()["stages"][0]
    assert initial["capped"] is True
    incident = client.get(incident_url(breach)).json()
    due = timezone.datetime.fromisoformat(initial["due_at"].replace("Z", "+00:00"))
    assert due == timezone.datetime.fromisoformat(incident["aware_at"].replace("Z", "+00:00")) + timedelta(hours=24)
