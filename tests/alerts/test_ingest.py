"""Taking alerts in: secrets (bearer or path), rotation, pausing, signatures, bad payloads,
rate limits and Idempotency-Key. What the monitoring system sees, and what is stored."""

import hashlib
import hmac
import json

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from incidents.alerts import services as alerts
from incidents.alerts.models import Alert, AlertDelivery, AlertSource, hash_secret
from incidents.models import AuditEvent, Incident
from tests.alerts.conftest import alertmanager_payload, am_alert
from tests.conftest import cache_keys

pytestmark = pytest.mark.django_db


def test_commander_connects_a_source_and_sees_its_secret_once(api, commander):
    response = api(commander).post("/api/v1/alert-sources/", {"name": "Prom", "kind": "alertmanager"}, format="json")
    assert response.status_code == 201, response.content
    secret = response.data["secret"]
    assert len(secret) > 30 and response.data["ingest_url"].endswith(f"/api/v1/alerts/{response.data['id']}/")
    source = AlertSource.objects.get()
    assert secret not in (source.secret_hash, source.secret_prefix)  # only a hash is kept
    again = api(commander).get(f"/api/v1/alert-sources/{source.pk}/")
    assert again.data["secret"] is None


def test_a_service_with_a_nul_character_is_a_400_naming_the_field(api, commander, source, api_service):
    """PostgreSQL refuses NUL in any text parameter: checked before the query (was a 500)."""
    made = api(commander).post(
        "/api/v1/alert-sources/", {"name": "Prom", "kind": "grafana", "services": ["a\x00pi"]}, format="json"
    )
    assert made.status_code == 400 and "services" in made.data, made.content
    rule = api(commander).post(
        f"/api/v1/alert-sources/{source.pk}/rules/",
        {"matchers": ["service=api"], "service": "a\x00pi", "action": "open"},
        format="json",
    )
    assert rule.status_code == 400 and "service" in rule.data, rule.content
    by_id = api(commander).post(
        "/api/v1/alert-sources/", {"name": "Grafana", "kind": "grafana", "services": [api_service.pk]}, format="json"
    )
    assert by_id.status_code == 201 and by_id.data["services"] == [api_service.slug]  # a slug or an id, as elsewhere
    assert AlertSource.objects.count() == 2


@pytest.mark.parametrize("who", ["responder", "viewer", "outsider"])
def test_only_commanders_connect_sources(api, who, request):
    response = api(request.getfixturevalue(who)).post(
        "/api/v1/alert-sources/", {"name": "Prom", "kind": "alertmanager"}, format="json"
    )
    assert response.status_code == 403
    assert not AlertSource.objects.exists()


def test_an_alertmanager_delivery_opens_an_incident_on_the_routed_service(source, deliver, api_service):
    response = deliver(source, alertmanager_payload())
    assert response.data == {"delivery": response.data["delivery"], "alerts": 1}
    incident = Incident.objects.get()
    assert incident.title == "HighErrorRate on the API"
    assert incident.severity == 1  # severity=critical
    assert list(incident.services.all()) == [api_service]
    entry = incident.timeline.filter(kind="alert").get()
    assert entry.body.startswith("Alert firing: HighErrorRate on the API")
    assert entry.data["labels"]["alertname"] == "HighErrorRate"
    assert entry.data["url"] == "http://prometheus.example/graph?g0.expr=rate"
    # Its labels and the link back to the source are part of the line.
    assert "Labels: alertname=HighErrorRate, service=api, severity=critical" in entry.body.replace("\\", "")
    assert "[source](http://prometheus.example/graph?g0.expr=rate)" in entry.body


def test_the_secret_in_the_path_works_too(source, ingest):
    assert ingest(source, alertmanager_payload(), path_secret=True).status_code == 202


def test_a_wrong_secret_and_an_unknown_source_answer_alike_and_record_nothing(source, ingest):
    wrong = ingest(source, alertmanager_payload(), secret="not-the-secret")
    missing_source = AlertSource(pk=source.pk + 1000)
    missing_source.secret = source.secret
    missing = ingest(missing_source, alertmanager_payload())
    bare = APIClient().post(f"/api/v1/alerts/{source.pk}/", data="{}", content_type="application/json")
    assert wrong.status_code == missing.status_code == bare.status_code == 401
    assert wrong.content == missing.content == bare.content
    assert not AlertDelivery.objects.exists()


def test_wrong_secrets_are_counted_per_client_address_without_keeping_it_in_the_cache(source, ingest, clear_cache):
    wrong = ingest(source, alertmanager_payload(), secret="not-the-secret", REMOTE_ADDR="198.51.100.7")

    assert wrong.status_code == 401
    keys = cache_keys()
    assert any("alerts:refused:" in key for key in keys)
    assert not [key for key in keys if "198.51.100.7" in key]


def test_a_rotated_secret_stops_working_at_once(source, ingest, commander):
    old = source.secret
    new, _key = alerts.rotate_secret(source, commander)
    assert ingest(source, alertmanager_payload(), secret=old).status_code == 401
    assert ingest(source, alertmanager_payload(), secret=new).status_code == 202


def test_rotating_through_the_api_returns_the_new_secret_once(source, ingest, api, commander):
    response = api(commander).post(f"/api/v1/alert-sources/{source.pk}/rotate/")
    assert response.status_code == 200
    assert ingest(source, alertmanager_payload()).status_code == 401
    assert ingest(source, alertmanager_payload(), secret=response.data["secret"]).status_code == 202


def test_rotating_a_secret_is_in_the_audit_log(source, api, commander):
    api(commander).post(f"/api/v1/alert-sources/{source.pk}/rotate/")

    event = AuditEvent.objects.get(action="secret_rotated")
    source.refresh_from_db()
    assert event.actor_name == "cmdr" and event.subject == f"alert source {source.pk} ({source.name})"
    assert event.detail == {"secret_prefix": source.secret_prefix}


def test_a_paused_source_answers_423_and_records_nothing(source, ingest, commander):
    alerts.set_paused(source, commander, True)
    response = ingest(source, alertmanager_payload())
    assert response.status_code == 423
    assert not AlertDelivery.objects.exists()
    alerts.set_paused(source, commander, False)
    assert ingest(source, alertmanager_payload()).status_code == 202


def test_a_source_requiring_a_signature_refuses_an_unsigned_or_badly_signed_body(source, ingest, commander):
    alerts.update_source(source, commander, require_signature=True)
    source.refresh_from_db()
    body = json.dumps(alertmanager_payload()).encode()
    good = "sha256=" + hmac.new(source.signing_key.encode(), body, hashlib.sha256).hexdigest()
    assert ingest(source, body).status_code == 401
    assert ingest(source, body, HTTP_X_WARROOM_SIGNATURE="sha256=" + "0" * 64).status_code == 401
    assert ingest(source, body, HTTP_X_WARROOM_SIGNATURE=good).status_code == 202
    assert AlertDelivery.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("{not json", "body"),
        ("[1, 2]", "body"),
        ({"version": "3", "alerts": []}, "version"),
        ({"version": "4", "alerts": []}, "alerts"),
        ({"version": "4", "alerts": [{"status": "burning", "labels": {}}]}, "alerts[0].status"),
        ({"version": "4", "alerts": [{"status": "firing", "labels": {"a": 1}}]}, "alerts[0].labels.a"),
        ({"version": "4", "alerts": [{"status": "firing", "startsAt": "yesterday"}]}, "alerts[0].startsAt"),
        (
            {"version": "4", "alerts": [{"status": "firing", "startsAt": "9999-12-31T23:00:00-05:00"}]},
            "alerts[0].startsAt",
        ),
        ({"version": "4", "alerts": [{"status": "firing", "labels": {"a": "x\u0000"}}]}, "alerts[0].labels.a"),
    ],
)
def test_a_malformed_payload_is_a_400_naming_the_field_and_stores_nothing(source, ingest, body, field):
    response = ingest(source, body)
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert not AlertDelivery.objects.exists()


@override_settings(WARROOM_ALERT_MAX_BYTES=2000)
def test_an_oversized_body_is_refused(source, ingest):
    response = ingest(source, alertmanager_payload(*[am_alert(fingerprint=f"f{i}") for i in range(20)]))
    assert response.status_code == 413
    assert "body" in response.json()
    assert not AlertDelivery.objects.exists()


@pytest.fixture
def committed(ingest, django_capture_on_commit_callbacks):
    """ingest(...), its delivery committed as outside a test's transaction: with Redis, a stored
    delivery is counted against the source's rate after it commits (services.over_rate)."""

    def _ingest(*args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return ingest(*args, **kwargs)

    return _ingest


@override_settings(WARROOM_ALERT_RATE_LIMIT=3, WARROOM_ALERT_RATE_WINDOW=60)
def test_a_burst_is_limited_per_source_with_retry_after(source, committed, clear_cache, commander, time_machine):
    ingest = committed
    time_machine.move_to("2026-03-02T09:00:10Z", tick=False)
    answers = [ingest(source, alertmanager_payload()).status_code for _ in range(5)]
    assert answers == [202, 202, 202, 429, 429]
    limited = ingest(source, alertmanager_payload())
    assert limited["Retry-After"] == "60"
    other, secret, _key = alerts.create_source(commander, name="Grafana", kind="grafana")
    other.secret = secret
    assert ingest(other, alertmanager_payload()).status_code == 202  # each source has its own budget


@override_settings(WARROOM_ALERT_RATE_LIMIT=2, WARROOM_ALERT_RATE_WINDOW=60)
def test_a_limited_source_is_let_in_again_in_the_next_window(source, committed, clear_cache, time_machine):
    ingest = committed
    time_machine.move_to("2026-03-02T09:00:10Z", tick=False)
    assert [ingest(source, alertmanager_payload()).status_code for _ in range(3)] == [202, 202, 429]
    time_machine.move_to("2026-03-02T09:00:59Z", tick=False)
    assert ingest(source, alertmanager_payload()).status_code == 429
    time_machine.move_to("2026-03-02T09:01:00Z", tick=False)
    assert [ingest(source, alertmanager_payload()).status_code for _ in range(3)] == [202, 202, 429]


def test_an_idempotency_key_replays_the_first_answer(source, ingest):
    first = ingest(source, alertmanager_payload(), HTTP_IDEMPOTENCY_KEY="k-1")
    again = ingest(source, alertmanager_payload(), HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == again.status_code == 202
    assert again.data == first.data
    assert again["Idempotent-Replayed"] == "true"
    assert AlertDelivery.objects.count() == 1
    other = ingest(source, alertmanager_payload(am_alert(fingerprint="f2")), HTTP_IDEMPOTENCY_KEY="k-1")
    assert other.status_code == 422
    assert "idempotency_key" in other.json()


def test_ingestion_answers_in_a_bounded_number_of_queries(source, ingest, clear_cache, time_machine):
    """The same few queries for one alert as for fifty: the source, storing the delivery, and
    one increment of the source's rate counter (a handful of queries when the cache is the
    database, none with Redis)."""
    time_machine.move_to("2026-03-02T09:00:10Z", tick=False)
    ingest(source, alertmanager_payload())  # the source's rate window is open from here on
    counts = []
    for n in (1, 50):
        payload = alertmanager_payload(*[am_alert(fingerprint=f"f{n}-{i}") for i in range(n)])
        with CaptureQueriesContext(connection) as queries:
            assert ingest(source, payload).status_code == 202
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 10, counts


def test_the_generic_format_takes_one_alert_or_a_list(commander, ingest, api_service):
    source, secret, _ = alerts.create_source(commander, name="Cron", kind="generic", services=[api_service])
    source.secret = secret
    one = ingest(source, {"dedup_key": "backup", "title": "Nightly backup failed", "labels": {"severity": "error"}})
    assert one.status_code == 202 and one.data["alerts"] == 1
    many = ingest(
        source, {"alerts": [{"dedup_key": "a", "title": "A"}, {"dedup_key": "b", "title": "B", "status": "resolved"}]}
    )
    assert many.status_code == 202 and many.data["alerts"] == 2
    missing = ingest(source, {"alerts": [{"title": "no key"}]})
    assert missing.status_code == 400 and "alerts[0].dedup_key" in missing.json()


def test_the_grafana_format_is_understood(commander, deliver, api_service):
    source, secret, _ = alerts.create_source(commander, name="Grafana", kind="grafana", services=[api_service])
    source.secret = secret
    alerts.create_rule(source, commander, matchers=["grafana_folder=API"], action="open", severity=2)
    payload = {
        "receiver": "warroom",
        "status": "firing",
        "orgId": 1,
        "alerts": [
            {
                "status": "firing",
                "labels": {"alertname": "Latency", "grafana_folder": "API"},
                "annotations": {"summary": "p99 above 2 s"},
                "startsAt": "2026-03-02T08:58:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "https://grafana.example/alerting/grafana/abc/view",
                "fingerprint": "c6eadffa33fcdf37",
                "silenceURL": "https://grafana.example/alerting/silence/new",
                "dashboardURL": "",
                "panelURL": "",
                "values": {"B": 2.4},
                "valueString": "[ var='B' value=2.4 ]",
            }
        ],
        "groupLabels": {"alertname": "Latency"},
        "commonLabels": {"alertname": "Latency"},
        "commonAnnotations": {},
        "externalURL": "https://grafana.example/",
        "version": "1",
        "groupKey": '{}:{alertname="Latency"}',
        "truncatedAlerts": 0,
        "title": "[FIRING:1] Latency",
        "state": "alerting",
        "message": "p99 above 2 s",
    }
    deliver(source, payload)
    incident = Incident.objects.get()
    assert (incident.title, incident.severity) == ("p99 above 2 s", 2)
    assert Alert.objects.get().fingerprint == "c6eadffa33fcdf37"


def _source_queries(queries):
    return [q["sql"] for q in queries.captured_queries if "incidents_alertsource" in q["sql"]]


def test_a_delivery_from_a_source_this_process_knows_is_stored_without_reading_the_source(source, ingest):
    """One statement stores the delivery and checks the source in its WHERE clause."""
    ingest(source, alertmanager_payload())  # this process reads the source once
    with CaptureQueriesContext(connection) as queries:
        assert ingest(source, alertmanager_payload(am_alert(fingerprint="f2"))).status_code == 202
    touching = _source_queries(queries)
    assert len(touching) == 1 and touching[0].upper().startswith("INSERT"), touching
    assert AlertDelivery.objects.count() == 2


def _signed(source, body):
    return "sha256=" + hmac.new(source.signing_key.encode(), body, hashlib.sha256).hexdigest()


@pytest.mark.parametrize("change", ["rotated", "paused", "signature required", "re-keyed", "removed"])
def test_a_source_changed_by_another_process_is_refused_here_at_once(source, ingest, change):
    """Another web process, a worker or the database itself changes the source; nothing tells
    this process, which took a delivery from it a moment ago: the next one is refused all the
    same, and nothing is stored."""
    body = json.dumps(alertmanager_payload()).encode()
    headers = {}
    if change == "re-keyed":
        AlertSource.objects.filter(pk=source.pk).update(require_signature=True)
        source.refresh_from_db()
        headers["HTTP_X_WARROOM_SIGNATURE"] = _signed(source, body)  # with the key it had
    assert ingest(source, body, **headers).status_code == 202
    rows = AlertSource.objects.filter(pk=source.pk)
    if change == "rotated":
        rows.update(secret_hash=hash_secret("the-new-secret"), secret_prefix="thenew")
    elif change == "paused":
        rows.update(paused=True)
    elif change == "signature required":
        rows.update(require_signature=True)
    elif change == "re-keyed":
        rows.update(signing_key="a new signing key")
    else:
        rows.delete()
    stored = AlertDelivery.objects.count()
    response = ingest(source, body, **headers)
    assert response.status_code == (423 if change == "paused" else 401), response.content
    assert AlertDelivery.objects.count() == stored


def test_a_retry_with_its_idempotency_key_is_refused_once_the_secret_is_rotated_elsewhere(source, ingest):
    assert ingest(source, alertmanager_payload(), HTTP_IDEMPOTENCY_KEY="k-1").status_code == 202
    AlertSource.objects.filter(pk=source.pk).update(secret_hash=hash_secret("the-new-secret"))
    assert ingest(source, alertmanager_payload(), HTTP_IDEMPOTENCY_KEY="k-1").status_code == 401


def test_a_new_secret_works_at_once_in_a_process_that_knew_the_old_one(source, ingest):
    assert ingest(source, alertmanager_payload()).status_code == 202
    AlertSource.objects.filter(pk=source.pk).update(secret_hash=hash_secret("the-new-secret"))
    assert ingest(source, alertmanager_payload(), secret="the-new-secret").status_code == 202
    assert ingest(source, alertmanager_payload()).status_code == 401


def test_a_resumed_source_is_let_in_at_once_in_a_process_that_saw_it_paused(source, ingest):
    AlertSource.objects.filter(pk=source.pk).update(paused=True)
    assert ingest(source, alertmanager_payload()).status_code == 423
    AlertSource.objects.filter(pk=source.pk).update(paused=False)
    assert ingest(source, alertmanager_payload()).status_code == 202
