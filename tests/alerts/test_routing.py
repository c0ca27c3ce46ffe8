"""Routing rules, deduplication, grouping, flapping, resolution, triage and confidentiality."""

from datetime import timedelta

import pytest
from django.utils import timezone

from incidents import services
from incidents.alerts import services as alerts
from incidents.alerts.models import Alert
from incidents.models import Incident, Service
from tests.alerts.conftest import alertmanager_payload, am_alert

pytestmark = pytest.mark.django_db


def test_rules_are_tried_in_order_and_the_first_match_decides(source, commander, deliver, api_service):
    alerts.create_rule(
        source, commander, name="Warnings only", matchers=["severity=warning"], action="record", position=0
    )
    deliver(source, alertmanager_payload(am_alert(fingerprint="w", severity="warning")))
    assert not Incident.objects.exists()
    alert = Alert.objects.get()
    assert alert.routed and alert.rule.name == "Warnings only" and alert.incident is None


def test_matchers_take_inequality_and_regular_expressions():
    matchers = alerts.parse_matchers(["env=~prod|staging", "team!=db", 'region!~"eu-.*"'])
    assert all(m.matches({"env": "prod", "team": "api", "region": "us-east"}) for m in matchers)
    assert not matchers[0].matches({"env": "production"})  # the whole value must match
    assert not matchers[2].matches({"region": "eu-west"})


@pytest.mark.parametrize("bad", [["service"], ["service=~("], ["1abc=x"]])
def test_a_bad_matcher_is_refused_with_a_message(source, commander, bad):
    with pytest.raises(alerts.ValidationError) as err:
        alerts.create_rule(source, commander, matchers=bad)
    assert "matchers" in err.value.message_dict


def test_a_rule_maps_severity_over_the_label(source, commander, deliver):
    rule = source.rules.get()
    alerts.update_rule(rule, commander, severity=2)
    deliver(source, alertmanager_payload())
    assert Incident.objects.get().severity == 2


def test_the_same_alert_never_opens_a_second_incident_while_the_first_is_open(source, deliver):
    deliver(source, alertmanager_payload())
    deliver(source, alertmanager_payload())
    deliver(source, alertmanager_payload(am_alert(status="resolved")))
    deliver(source, alertmanager_payload())
    assert Incident.objects.count() == 1
    assert Alert.objects.get().incident == Incident.objects.get()


def test_alerts_of_one_service_within_the_window_join_one_incident(source, deliver):
    deliver(source, alertmanager_payload(am_alert("HighErrorRate", fingerprint="a")))
    deliver(source, alertmanager_payload(am_alert("HighLatency", fingerprint="b")))
    incident = Incident.objects.get()
    assert set(incident.alerts.values_list("fingerprint", flat=True)) == {"a", "b"}
    assert incident.timeline.filter(kind="alert").count() == 2


def test_an_alert_after_the_window_opens_its_own_incident(source, deliver, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    deliver(source, alertmanager_payload(am_alert("HighErrorRate", fingerprint="a")))
    time_machine.move_to(timezone.now() + timedelta(minutes=source.grouping_minutes + 1), tick=False)
    deliver(source, alertmanager_payload(am_alert("DiskFull", fingerprint="b")))
    assert Incident.objects.count() == 2


def test_after_the_incident_resolves_the_same_alert_opens_a_new_one(source, deliver, commander):
    deliver(source, alertmanager_payload())
    first = Incident.objects.get()
    services.change_status(first, "resolved", commander)
    deliver(source, alertmanager_payload(am_alert(status="resolved")))
    deliver(source, alertmanager_payload())
    assert Incident.objects.count() == 2


def test_attach_joins_the_open_incident_of_the_service_and_never_opens_one(
    source, commander, deliver, declare, api_service
):
    rule = source.rules.get()
    alerts.update_rule(rule, commander, action="attach")
    deliver(source, alertmanager_payload(am_alert(fingerprint="x")))
    alert = Alert.objects.get()
    assert alert.incident is None and "No open incident" in alert.note
    incident = declare(services=[api_service])
    deliver(source, alertmanager_payload(am_alert(fingerprint="y")))
    assert Alert.objects.get(fingerprint="y").incident == incident
    assert Incident.objects.count() == 1


def test_resolution_appears_on_the_timeline(source, deliver):
    deliver(source, alertmanager_payload())
    deliver(source, alertmanager_payload(am_alert(status="resolved")))
    incident = Incident.objects.get()
    bodies = [body.split("\n")[0] for body in incident.timeline.filter(kind="alert").values_list("body", flat=True)]
    assert bodies == [
        "Alert firing: HighErrorRate on the API (Prometheus).",
        "Alert resolved: HighErrorRate on the API (Prometheus).",
    ]
    assert Alert.objects.get().status == "resolved"


def test_a_flapping_alert_is_folded_into_one_line_with_a_count(source, deliver):
    for _ in range(5):
        deliver(source, alertmanager_payload())
        deliver(source, alertmanager_payload(am_alert(status="resolved")))
    deliver(source, alertmanager_payload())
    incident = Incident.objects.get()
    lines = list(incident.timeline.filter(kind="alert").order_by("id"))
    assert len(lines) == 3  # firing, resolved, then one flapping line
    assert "fired 6 times, resolved 5 times; firing now" in lines[-1].body
    assert lines[-1].data["state"] == "flapping" and lines[-1].data["fired"] == 6


def test_a_delivery_applied_twice_changes_nothing(source, ingest):
    response = ingest(source, alertmanager_payload())
    assert alerts.process_delivery(response.data["delivery"]) == 1
    Alert.objects.update(last_delivery=0)  # as if the first run had died before committing its mark
    from incidents.alerts.models import AlertDelivery

    AlertDelivery.objects.update(processed_at=None)
    alerts.process_delivery(response.data["delivery"])
    assert Incident.objects.count() == 1
    assert Incident.objects.get().timeline.filter(kind="alert").count() == 1


def test_a_late_retry_of_an_older_delivery_does_not_undo_a_newer_one(source, ingest):
    firing = ingest(source, alertmanager_payload()).data["delivery"]
    resolved = ingest(source, alertmanager_payload(am_alert(status="resolved"))).data["delivery"]
    alerts.process_delivery(resolved)
    alerts.process_delivery(firing)
    assert Alert.objects.get().status == "resolved"
    assert not Incident.objects.exists()


def test_an_alert_no_rule_matches_waits_in_triage(source, deliver):
    deliver(source, alertmanager_payload(am_alert(fingerprint="z", service="billing")))
    alert = Alert.objects.get()
    assert not alert.routed and alert.incident is None
    assert not Incident.objects.exists()


def test_a_commander_opens_an_incident_from_triage(source, deliver, commander):
    deliver(source, alertmanager_payload(am_alert(fingerprint="z", service="billing")))
    alert = Alert.objects.get()
    incident = alerts.open_incident_from(alert, commander)
    alert.refresh_from_db()
    assert alert.incident == incident and incident.severity == 1
    assert incident.timeline.filter(kind="alert").exists()


def test_a_responder_attaches_but_cannot_open_from_triage(source, deliver, responder, incident):
    deliver(source, alertmanager_payload(am_alert(fingerprint="z", service="billing")))
    alert = Alert.objects.get()
    with pytest.raises(alerts.PermissionDenied):
        alerts.open_incident_from(alert, responder)
    alerts.attach_to(alert, incident, responder)
    alert.refresh_from_db()
    assert alert.incident == incident


def test_an_alert_of_a_confidential_kind_opens_a_confidential_incident(source, commander, deliver):
    alerts.create_rule(source, commander, matchers=["alertname=LeakDetected"], kind="data_exposure", position=0)
    deliver(source, alertmanager_payload(am_alert("LeakDetected", fingerprint="leak")))
    assert Incident.objects.get().confidential


def test_alert_text_is_escaped_on_the_timeline(source, deliver, as_user, commander):
    nasty = am_alert("<script>alert(1)</script>", fingerprint="x")
    nasty["annotations"]["summary"] = "[click](javascript:alert(1)) <img src=x onerror=alert(1)>"
    nasty["labels"]["note"] = "<b>bold</b>"
    deliver(source, alertmanager_payload(nasty))
    incident = Incident.objects.get()
    html = as_user(commander).get(incident.get_absolute_url()).content.decode()
    assert "<img src=x" not in html and "<b>bold</b>" not in html and 'href="javascript' not in html
    assert "&lt;b&gt;bold&lt;/b&gt;" in html
    # The title reads as the text it is (not a link, not a lost tag).
    assert "[click](javascript:alert(1)) &lt;img src=x onerror=alert(1)&gt;" in html


def test_an_owner_who_may_no_longer_declare_leaves_the_alert_in_triage(source, deliver, commander):
    commander.groups.clear()
    deliver(source, alertmanager_payload())
    alert = Alert.objects.get()
    assert alert.incident is None and "Could not open an incident" in alert.note


def test_try_rules_tells_what_a_sample_would_do(source, commander, api_service):
    tried = alerts.try_rules(source, alertmanager_payload(am_alert(severity="error")))
    assert (
        tried[0][2] == "'HighErrorRate on the API' would open a SEV2 on Public API, "
        "or join the incident its service's alerts opened lately."
    )
    assert Service.objects.count() == 1
