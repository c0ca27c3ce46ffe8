"""The real thing: Debian's `prometheus-alertmanager` with a webhook receiver pointing at a
running Warroom (pytest-django's live server, a real Celery worker routing deliveries). Alerts
are pushed into Alertmanager's API as Prometheus would push them; Warroom must open one
incident for them, put both on its timeline, and see the resolution.

The receiver's configuration is the one docs/alerts.md shows. Without the binary the test
skips locally and fails in CI (CI=true), like the other service-dependent tests; .ci/run
installs it."""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from incidents.alerts import services as alerts
from incidents.alerts.models import Alert
from incidents.models import Incident
from tests.worker import celery_worker, wait_until  # noqa: F401

pytestmark = [pytest.mark.alertmanager, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

BINARY = "prometheus-alertmanager"
CONFIG = """\
route:
  receiver: warroom
  group_by: [alertname, service]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: warroom
    webhook_configs:
      - url: "{url}"
        send_resolved: true
        http_config:
          authorization:
            type: Bearer
            credentials: "{secret}"
"""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def alertmanager(live_server, commander, api_service):
    """A running Alertmanager whose receiver posts to a Warroom source covering the Public API
    (rule `service=api` -> open): (post_alerts, source)."""
    binary = shutil.which(BINARY)
    if binary is None:
        message = f"{BINARY} is not installed (apt-get install prometheus-alertmanager)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    source, secret, _key = alerts.create_source(
        commander, name="Alertmanager", kind="alertmanager", services=[api_service], grouping_minutes=10
    )
    alerts.create_rule(source, commander, name="API", matchers=["service=api"], service=api_service, action="open")
    work = Path(tempfile.mkdtemp(prefix="alertmanager-"))
    (work / "alertmanager.yml").write_text(
        CONFIG.format(url=f"{live_server.url}/api/v1/alerts/{source.pk}/", secret=secret)
    )
    port = _free_port()
    log = (work / "log").open("w")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={work / 'alertmanager.yml'}",
            f"--storage.path={work / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    api = f"http://127.0.0.1:{port}/api/v2"

    def ready():
        try:
            with urllib.request.urlopen(f"{api}/status", timeout=2) as response:  # noqa: S310 - local test URL
                return response.status == 200
        except OSError:
            return False

    try:
        wait_until(ready, timeout=30, message="Alertmanager to start")

        def post_alerts(*alerts_):
            request = urllib.request.Request(  # noqa: S310 - local test URL
                f"{api}/alerts", data=json.dumps(list(alerts_)).encode(), headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                assert response.status == 200

        post_alerts.log = work / "log"
        yield post_alerts, source
    finally:
        process.terminate()
        process.wait(10)
        log.close()
        shutil.rmtree(work, ignore_errors=True)


def prometheus_alert(name, resolved=False, **labels):
    now = datetime.now(UTC)
    alert = {
        "labels": {"alertname": name, "service": "api", "severity": "critical", **labels},
        "annotations": {"summary": f"{name} on the API"},
        "startsAt": (now - timedelta(minutes=2)).isoformat(),
        "generatorURL": "http://prometheus.example/graph?g0.expr=up",
    }
    if resolved:
        alert["endsAt"] = (now - timedelta(seconds=1)).isoformat()
    return alert


def test_alertmanager_opens_an_incident_and_its_resolution_reaches_warroom(alertmanager, celery_worker):  # noqa: F811
    post_alerts, source = alertmanager
    post_alerts(prometheus_alert("HighErrorRate"))

    def opened():
        return Incident.objects.filter(title="HighErrorRate on the API").first()

    incident = wait_until(opened, timeout=60, worker=celery_worker, message="an incident from Alertmanager")
    assert incident.severity == 1 and incident.alerts.get().source == source

    # A second alert of the same service (another Alertmanager group) joins the same incident.
    post_alerts(prometheus_alert("HighLatency"))
    wait_until(lambda: incident.alerts.count() == 2, timeout=60, worker=celery_worker, message="the second alert")
    # Alertmanager re-sends its groups; the same alerts never open another incident.
    post_alerts(prometheus_alert("HighErrorRate"))

    post_alerts(prometheus_alert("HighErrorRate", resolved=True), prometheus_alert("HighLatency", resolved=True))
    wait_until(
        lambda: not Alert.objects.filter(status="firing").exists(),
        timeout=60,
        worker=celery_worker,
        message=f"the resolution (Alertmanager log: {post_alerts.log.read_text()[-2000:]})",
    )
    assert Incident.objects.count() == 1
    bodies = [body.split("\n")[0] for body in incident.timeline.filter(kind="alert").values_list("body", flat=True)]
    assert sorted(bodies) == sorted(
        [
            "Alert firing: HighErrorRate on the API (Alertmanager).",
            "Alert firing: HighLatency on the API (Alertmanager).",
            "Alert resolved: HighErrorRate on the API (Alertmanager).",
            "Alert resolved: HighLatency on the API (Alertmanager).",
        ]
    )
