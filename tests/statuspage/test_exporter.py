"""A real Statuspage client against a running Warroom: the PyPI `statuspage-prometheus-exporter`
(made for statuspage.io pages) polls /api/v2/summary.json at the host root, and the metrics it
serves say what Warroom says: which components are down, which incidents are open, which
maintenance is coming, and that the page answered.

The exporter is a dev requirement (requirements-dev.txt); without it this test skips locally and
fails in CI.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from statuspage import services as maintenance
from tests.statuspage.page_factories import *  # noqa: F403 - fixtures
from tests.statuspage.page_factories import make_service

pytestmark = pytest.mark.django_db(transaction=True)

EXPORTER = Path(sys.executable).parent / "statuspage-prometheus-exporter"
SERVICE = "Warroom status"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def exporter(tmp_path, live_server):
    """exporter() starts the exporter as its README says (a services.json naming the summary
    URL, metrics on METRICS_PORT) and returns its metrics of this page once its first poll,
    made at start, is in."""
    if not EXPORTER.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{EXPORTER} is missing: make test installs requirements-dev.txt.")
        pytest.skip("statuspage-prometheus-exporter is not installed (pip install -r requirements-dev.txt)")
    config = tmp_path / "services.json"
    config.write_text(json.dumps({"warroom": {"url": f"{live_server.url}/api/v2/summary.json", "name": SERVICE}}))
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "SERVICES_JSON_PATH": str(config),
        "METRICS_PORT": str(port),
        "CHECK_INTERVAL_MINUTES": "59",  # the first poll at start is the one read here
    }
    log = (tmp_path / "exporter.log").open("wb")
    started = []

    def scrape():
        from prometheus_client.parser import text_string_to_metric_families

        process = subprocess.Popen([str(EXPORTER)], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT)
        started.append(process)

        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "exporter.log").read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
                    text = response.read().decode()
            except OSError:
                text = ""
            if f'statuspage_probe_check{{service_name="{SERVICE}"}}' in text:
                return [
                    sample
                    for family in text_string_to_metric_families(text)
                    for sample in family.samples
                    if sample.labels.get("service_name") == SERVICE
                ]
            time.sleep(0.2)
        pytest.fail("the exporter did not poll in time:\n" + (tmp_path / "exporter.log").read_text())

    yield scrape
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    log.close()


def values(samples, name, label):
    return {s.labels[label]: s.value for s in samples if s.name == name}


def test_statuspage_exporter_reports_warroom_components_incidents_and_maintenance(
    exporter, declare, publish, commander, web_chat, api_service
):
    make_service("Website")
    open_incident = declare(title="Chat replies time out", severity=2)
    publish(open_incident, "Replies are slow or fail.", affected={"web-chat": "partial_outage"})
    resolved = declare(title="Sign-up SMS delayed", severity=3)
    publish(resolved, "Codes arrive late.", affected={"public-api": "degraded_performance"})
    publish(resolved, "All codes delivered.", status="resolved", affected={"public-api": "operational"})
    confidential = declare(title="Keys exposed SECRET", severity=1, confidential=True)
    publish(confidential, "SECRET: the bucket was public.", affected={"public-api": "major_outage"})
    starts = timezone.now() + timedelta(days=1)
    maintenance.schedule(
        commander,
        title="Database upgrade",
        scheduled_for=starts,
        scheduled_until=starts + timedelta(hours=2),
        services=[api_service],
    )

    samples = exporter()

    assert values(samples, "statuspage_probe_check", "service_name") == {SERVICE: 1.0}
    assert values(samples, "statuspage_service_status", "service_name") == {SERVICE: 0.0}  # not all operational
    assert values(samples, "statuspage_component_status", "component_name") == {
        "Platform": 1.0,
        "Public API": 1.0,
        "Product": 0.0,
        "Web chat": 0.0,
        "Website": 1.0,
    }
    incidents = [s.labels for s in samples if s.name == "statuspage_incident_info"]
    assert [(i["incident_name"], i["impact"], i["affected_components"]) for i in incidents] == [
        ("Chat replies time out", "major", "Web chat")
    ]
    assert incidents[0]["shortlink"].endswith("/status/incidents/" + incidents[0]["incident_id"] + "/")
    maintenances = [s.labels for s in samples if s.name == "statuspage_maintenance_info"]
    assert [(m["maintenance_name"], m["affected_components"]) for m in maintenances] == [
        ("Database upgrade", "Public API")
    ]
    assert not any("SECRET" in str(s.labels) for s in samples)
