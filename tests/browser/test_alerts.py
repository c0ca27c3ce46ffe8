"""A triaged alert, as people take it in Chromium: a commander connects a source on its page
and copies the secret shown once; monitoring posts an alert no rule takes; the commander finds
it in triage, opens an incident from it in one click, and sees it firing in the war room's
alerts panel and on the timeline; a responder attaches a second unrouted alert to it."""

import json

import pytest
from playwright.sync_api import expect
from rest_framework.test import APIClient

from incidents.alerts import services as alerts
from incidents.alerts.models import Alert, AlertSource
from incidents.models import Incident

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def post_alert(source_pk, secret, **alert):
    body = {"dedup_key": alert.pop("key"), "status": "firing", **alert}
    response = APIClient().post(
        f"/api/v1/alerts/{source_pk}/",
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    assert response.status_code == 202, response.content
    alerts.process_delivery(response.data["delivery"])  # what the task does once the delivery commits


def test_commander_triages_an_unrouted_alert_into_an_incident(new_page, commander, responder, api_service):
    page = new_page("cmdr", "pw-cmdr")
    page.goto("/alerts/")
    page.get_by_role("link", name="Sources").click()
    page.get_by_role("link", name="Connect a source").click()
    page.get_by_label("Name").fill("Cron jobs")
    page.get_by_label("Kind").select_option("generic")
    page.get_by_label("Public API").check()
    page.get_by_role("button", name="Save").click()
    secret = page.get_by_test_id("secret").inner_text()
    source = AlertSource.objects.get(name="Cron jobs")
    page.reload()
    expect(page.get_by_test_id("secret-once")).to_have_count(0)  # shown once

    post_alert(source.pk, secret, key="backup", title="Nightly <b>backup</b> failed", labels={"severity": "error"})
    page.get_by_role("link", name="Alerts", exact=True).first.click()
    page.get_by_role("link", name="Triage").click()
    row = page.get_by_test_id(f"triage-{Alert.objects.get().pk}")
    expect(row).to_contain_text("Nightly <b>backup</b> failed")  # shown as text
    row.get_by_role("button", name="Open incident").click()

    incident = Incident.objects.get()
    page.wait_for_url(f"**/incidents/{incident.key}/")
    panel = page.locator("#alerts-panel")
    expect(panel.get_by_test_id("alerts-firing")).to_contain_text("Nightly <b>backup</b> failed")
    expect(page.locator(".entry.kind-alert").first).to_contain_text("Alert firing: Nightly <b>backup</b> failed")
    assert incident.severity == 2  # severity=error

    post_alert(source.pk, secret, key="disk", title="Disk almost full")
    responder_page = new_page("resp", "pw-resp")
    responder_page.goto("/alerts/triage/")
    row = responder_page.get_by_test_id(f"triage-{Alert.objects.get(fingerprint='disk').pk}")
    expect(row.get_by_role("button", name="Open incident")).to_have_count(0)  # opening is for commanders
    row.get_by_label("Incident to attach to").select_option(str(incident.pk))
    row.get_by_role("button", name="Attach").click()
    expect(responder_page.get_by_text(f"Alert attached to {incident.reference}.")).to_be_visible()
    page.goto(f"/incidents/{incident.key}/")
    expect(page.locator("#alerts-panel").get_by_test_id("alerts-firing")).to_contain_text("Disk almost full")
    assert not page.js_errors, page.js_errors
