"""The alert pages and the read/manage API: sources and rules (with the Try button), the
alert list and its filters, triage, the war room's alerts panel; who sees what, and bounded
query counts."""

import pytest

from incidents.alerts import services as alerts
from incidents.alerts.models import Alert, AlertRule, AlertSource
from incidents.models import Incident
from tests.alerts.conftest import alertmanager_payload, am_alert

pytestmark = pytest.mark.django_db


@pytest.fixture
def unrouted(source, deliver):
    deliver(source, alertmanager_payload(am_alert("BillingDown", fingerprint="bill", service="billing")))
    return Alert.objects.get(fingerprint="bill")


@pytest.fixture
def leak(source, commander, deliver):
    alerts.create_rule(source, commander, matchers=["alertname=LeakDetected"], kind="data_exposure", position=0)
    deliver(source, alertmanager_payload(am_alert("LeakDetected", fingerprint="leak")))
    return Alert.objects.get(fingerprint="leak")


def test_commander_connects_a_source_on_the_page_and_sees_the_secret_once(as_user, commander, api_service):
    client = as_user(commander)
    response = client.post(
        "/alerts/sources/new/",
        {"name": "Prometheus", "kind": "alertmanager", "services": [api_service.pk], "grouping_minutes": 10},
        follow=True,
    )
    source = AlertSource.objects.get()
    page = response.content.decode()
    assert 'data-testid="secret-once"' in page
    assert f"/api/v1/alerts/{source.pk}/" in page
    assert 'data-testid="secret-once"' not in client.get(f"/alerts/sources/{source.pk}/").content.decode()


def test_a_source_form_with_a_taken_name_shows_the_error(as_user, commander, source):
    response = as_user(commander).post(
        "/alerts/sources/new/", {"name": "prometheus", "kind": "alertmanager", "grouping_minutes": 10}
    )
    assert response.status_code == 200
    assert "already exists" in response.content.decode()


@pytest.mark.parametrize("who", ["responder", "viewer"])
def test_only_commanders_change_sources(as_user, who, request, source):
    client = as_user(request.getfixturevalue(who))
    assert client.get(f"/alerts/sources/{source.pk}/").status_code == 200
    assert client.post(f"/alerts/sources/{source.pk}/rotate/").status_code == 403
    assert client.post(f"/alerts/sources/{source.pk}/pause/").status_code == 403
    assert client.get("/alerts/sources/new/").status_code == 403


def test_a_rule_is_tried_on_a_pasted_sample_before_it_is_saved(as_user, commander, source, api_service):
    import json

    sample = json.dumps(alertmanager_payload(am_alert(severity="warning", team="edge")))
    form = {
        "name": "Edge",
        "matchers": "team=edge",
        "service": api_service.pk,
        "severity": "2",
        "kind": "availability",
        "action": "open",
        "position": "0",
        "sample": sample,
    }
    tried = as_user(commander).post(f"/alerts/sources/{source.pk}/rules/", form | {"try": "1"})
    assert tried.status_code == 200
    assert "would open a SEV2 on Public API" in tried.content.decode()
    assert source.rules.count() == 1  # nothing saved
    saved = as_user(commander).post(f"/alerts/sources/{source.pk}/rules/", form)
    assert saved.status_code == 302
    assert list(source.rules.values_list("name", flat=True)) == ["Edge", "API"]


def test_a_bad_rule_or_sample_is_a_form_error_not_a_500(as_user, commander, source):
    base = {"matchers": "service=~(", "kind": "availability", "action": "open"}
    response = as_user(commander).post(f"/alerts/sources/{source.pk}/rules/", base)
    assert response.status_code == 400 and "regular expression is invalid" in response.content.decode()
    tried = as_user(commander).post(
        f"/alerts/sources/{source.pk}/rules/",
        {"matchers": "a=b", "kind": "availability", "action": "open", "sample": "{nope", "try": "1"},
    )
    assert tried.status_code == 200 and "Not valid JSON" in tried.content.decode()


def test_the_alert_list_filters_by_source_service_state_and_unrouted(as_user, commander, source, deliver, unrouted):
    deliver(source, alertmanager_payload(am_alert("Routed", fingerprint="r")))
    client = as_user(commander)
    assert "BillingDown" in client.get("/alerts/").content.decode()
    only_unrouted = client.get("/alerts/?unrouted=true").content.decode()
    assert "BillingDown" in only_unrouted and "Routed on the API" not in only_unrouted
    by_service = client.get("/alerts/?service=public-api").content.decode()
    assert "Routed on the API" in by_service and "BillingDown" not in by_service
    assert "BillingDown" not in client.get("/alerts/?status=resolved").content.decode()
    assert "BillingDown" in client.get(f"/alerts/?source={source.pk}").content.decode()
    assert client.get("/alerts/?source=notanumber").status_code == 200


def test_alerts_of_a_confidential_incident_are_hidden_from_non_members(as_user, api, leak, viewer, security):
    assert Incident.objects.get(pk=leak.incident_id).confidential
    assert "LeakDetected" not in as_user(viewer).get("/alerts/").content.decode()
    assert [a["title"] for a in api(viewer).get("/api/v1/alerts/").data["results"]] == []
    assert "LeakDetected" in as_user(security).get("/alerts/").content.decode()
    assert as_user(viewer).get(f"/incidents/{leak.incident_id}/alerts/").status_code == 404


def test_people_without_a_role_see_no_alerts(as_user, api, outsider, unrouted):
    assert as_user(outsider).get("/alerts/").status_code == 403
    assert as_user(outsider).get("/alerts/triage/").status_code == 403
    assert api(outsider).get("/api/v1/alerts/").status_code == 403


def test_triage_lists_unrouted_alerts_and_opens_an_incident_in_one_click(as_user, commander, unrouted):
    client = as_user(commander)
    assert f'data-testid="triage-{unrouted.pk}"' in client.get("/alerts/triage/").content.decode()
    response = client.post(f"/alerts/triage/{unrouted.pk}/open/")
    incident = Incident.objects.get()
    assert response.status_code == 302 and response["Location"] == incident.get_absolute_url()
    assert f'data-testid="triage-{unrouted.pk}"' not in client.get("/alerts/triage/").content.decode()


def test_a_responder_attaches_from_triage(as_user, responder, unrouted, incident):
    response = as_user(responder).post(f"/alerts/triage/{unrouted.pk}/attach/", {"incident": incident.pk})
    assert response.status_code == 302
    unrouted.refresh_from_db()
    assert unrouted.incident == incident
    bad = as_user(responder).post(f"/alerts/triage/{unrouted.pk}/attach/", {"incident": "x"})
    assert bad.status_code == 404  # no longer in triage


def test_the_war_room_panel_shows_firing_and_resolved_alerts(as_user, commander, source, deliver):
    deliver(source, alertmanager_payload(am_alert("A", fingerprint="a"), am_alert("B", fingerprint="b")))
    deliver(source, alertmanager_payload(am_alert("B", fingerprint="b", status="resolved")))
    incident = Incident.objects.get()
    page = as_user(commander).get(f"/incidents/{incident.key}/alerts/").content.decode()
    firing, resolved = page.split('data-testid="alerts-resolved"')
    assert "A on the API" in firing and "B on the API" in resolved
    assert f"/incidents/{incident.key}/alerts/" in as_user(commander).get(incident.get_absolute_url()).content.decode()


@pytest.mark.parametrize(
    "url",
    ["/alerts/", "/alerts/?unrouted=true", "/alerts/triage/", "/alerts/sources/", "/alerts/sources/{source}/"],
)
def test_pages_answer_in_a_bounded_number_of_queries(
    url, as_user, commander, source, deliver, django_assert_max_num_queries
):
    for i in range(30):
        deliver(source, alertmanager_payload(am_alert(f"A{i}", fingerprint=f"a{i}", service=f"s{i % 3}")))
    client = as_user(commander)
    with django_assert_max_num_queries(14):
        assert client.get(url.format(source=source.pk)).status_code == 200


def test_the_panel_answers_in_a_bounded_number_of_queries(
    as_user, commander, source, deliver, django_assert_max_num_queries
):
    for i in range(30):
        deliver(source, alertmanager_payload(am_alert(f"A{i}", fingerprint=f"a{i}")))
    incident = Incident.objects.get()
    client = as_user(commander)
    with django_assert_max_num_queries(8):
        assert client.get(f"/incidents/{incident.key}/alerts/").status_code == 200


# API ------------------------------------------------------------------------------------------


def test_rules_are_managed_and_tried_through_the_api(api, commander, source, viewer):
    url = f"/api/v1/alert-sources/{source.pk}/rules/"
    created = api(commander).post(
        url,
        {"matchers": ["team=edge"], "service": "public-api", "severity": 2, "action": "open", "position": 0},
        format="json",
    )
    assert created.status_code == 201, created.content
    assert [r["matchers"] for r in api(viewer).get(url).data["results"]] == [["team=edge"], ["service=api"]]
    tried = api(commander).post(
        url + "try/",
        {
            "payload": alertmanager_payload(am_alert(team="edge", severity="info")),
            "rule": {"matchers": ["team=edge"], "severity": 1, "position": 0},
        },
        format="json",
    )
    assert tried.status_code == 200, tried.content
    assert tried.data[0]["severity"] == 1 and tried.data[0]["outcome"].startswith(
        "'HighErrorRate on the API' would open a SEV1"
    )
    assert AlertRule.objects.count() == 2
    bad = api(commander).post(url, {"matchers": ["nope"]}, format="json")
    assert bad.status_code == 400 and "matchers" in bad.json()
    bad_sample = api(commander).post(url + "try/", {"payload": {"version": "4", "alerts": "x"}}, format="json")
    assert bad_sample.status_code == 400 and "payload.alerts" in bad_sample.json()
    assert api(viewer).post(url, {"matchers": []}, format="json").status_code == 403


def test_a_rule_for_a_service_the_source_does_not_cover_is_refused(api, commander, source, web_chat):
    response = api(commander).post(
        f"/api/v1/alert-sources/{source.pk}/rules/", {"service": "web-chat", "action": "open"}, format="json"
    )
    assert response.status_code == 400 and "does not cover" in response.json()["service"][0]


def test_triage_through_the_api(api, commander, responder, unrouted, incident):
    attached = api(responder).post(
        f"/api/v1/alerts/triage/{unrouted.pk}/attach/", {"incident": incident.key}, format="json"
    )
    assert attached.status_code == 200 and attached.data["incident"] == incident.key
    refused = api(responder).post(f"/api/v1/alerts/triage/{unrouted.pk}/open/", {}, format="json")
    assert refused.status_code == 403


def test_api_lists_answer_in_a_bounded_number_of_queries(
    api, commander, source, deliver, django_assert_max_num_queries
):
    for i in range(30):
        deliver(source, alertmanager_payload(am_alert(f"A{i}", fingerprint=f"a{i}", service=f"s{i % 3}")))
    client = api(commander)
    for url in (
        "/api/v1/alerts/",
        "/api/v1/alerts/?unrouted=true",
        "/api/v1/alert-sources/",
        f"/api/v1/alert-sources/{source.pk}/rules/",
    ):
        with django_assert_max_num_queries(8):
            assert client.get(url).status_code == 200
