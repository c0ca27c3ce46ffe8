"""Fixtures of the alert tests: a connected Alertmanager source covering the Public API with a
rule `service=api` -> open, payloads in each format, and `deliver(...)` that posts a payload
as the monitoring system would and routes it as the task would."""

import json

import pytest
from rest_framework.test import APIClient

from incidents.alerts import services as alerts


def am_alert(name="HighErrorRate", status="firing", fingerprint="f1", severity="critical", **labels):
    return {
        "status": status,
        "labels": {"alertname": name, "severity": severity, "service": "api", **labels},
        "annotations": {"summary": f"{name} on the API", "description": "5xx above 5%"},
        "startsAt": "2026-03-02T08:58:00Z",
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else "2026-03-02T09:30:00Z",
        "generatorURL": "http://prometheus.example/graph?g0.expr=rate",
        "fingerprint": fingerprint,
    }


def alertmanager_payload(*alerts_):
    alerts_ = alerts_ or (am_alert(),)
    return {
        "version": "4",
        "groupKey": '{}:{alertname="HighErrorRate"}',
        "truncatedAlerts": 0,
        "status": "firing" if any(a["status"] == "firing" for a in alerts_) else "resolved",
        "receiver": "warroom",
        "groupLabels": {"alertname": "HighErrorRate"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.example:9093",
        "alerts": list(alerts_),
    }


@pytest.fixture
def source(commander, api_service):
    source, secret, signing_key = alerts.create_source(
        commander, name="Prometheus", kind="alertmanager", services=[api_service]
    )
    alerts.create_rule(source, commander, name="API", matchers=["service=api"], service=api_service, action="open")
    source.secret, source.key = secret, signing_key
    return source


@pytest.fixture
def ingest():
    """ingest(source, payload, secret=..., **headers) -> the response (nothing routed yet)."""

    def _ingest(source, payload, secret=None, path_secret=False, **headers):
        secret = source.secret if secret is None else secret
        body = payload if isinstance(payload, bytes | str) else json.dumps(payload)
        url = f"/api/v1/alerts/{source.pk}/" + (f"{secret}/" if path_secret else "")
        if not path_secret:
            headers.setdefault("HTTP_AUTHORIZATION", f"Bearer {secret}")
        return APIClient().post(url, data=body, content_type="application/json", **headers)

    return _ingest


@pytest.fixture
def deliver(ingest):
    """deliver(source, payload) -> the response, after routing the delivery as the task does."""

    def _deliver(source, payload, **kwargs):
        response = ingest(source, payload, **kwargs)
        assert response.status_code == 202, response.content
        alerts.process_delivery(response.data["delivery"])
        return response

    return _deliver


@pytest.fixture(autouse=True)
def forget_heard_rates():
    """What this process heard of the sources' rate counters starts empty in each test: ids and
    (with time_machine) windows repeat across tests."""
    alerts.forget_rates()
    yield
    alerts.forget_rates()
