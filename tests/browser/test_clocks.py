"""Legal clocks on a data-exposure incident, as the commander drives them in Chromium: record
the awareness time, start the GDPR and PIPL clocks from the suggestions, read the countdowns,
record the GDPR submission and find it on the incident's timeline."""

import importlib
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.apps import apps
from django.utils import timezone
from playwright.sync_api import expect

from incidents import services
from incidents.security import clocks as regulatory
from incidents.security import mitigations as security

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

BERLIN = ZoneInfo("Europe/Berlin")  # the browser's zone (tests/browser/conftest.py)


@pytest.fixture
def catalog(db):
    # Transactional tests flush what data migrations seeded: put the obligation catalog back.
    importlib.import_module("incidents.migrations.0006_obligation_catalog").seed(apps, None)


def test_commander_runs_gdpr_and_pipl_clocks_and_records_the_gdpr_submission(new_page, commander, catalog):
    incident = services.declare(commander, title="Chat logs database exposed", kind="data_exposure", severity=1)
    assert incident.confidential  # by default, for its kind
    security.assess_exposure(incident, commander, categories=["chat", "credentials"], jurisdictions=["DE", "CN"])

    page = new_page("cmdr", "pw-cmdr")
    page.goto(f"/incidents/{incident.key}/security/")
    panel = page.locator("#clocks-panel")
    expect(panel.get_by_test_id("disclaimer")).to_have_text(str(regulatory.DISCLAIMER))
    expect(panel.get_by_role("button", name="Start EU GDPR Art. 33", exact=True)).to_be_disabled()

    # Awareness: two hours ago, typed in the browser's own time zone.
    aware_local = (timezone.now() - timedelta(hours=2)).astimezone(BERLIN).replace(second=0, microsecond=0)
    panel.get_by_label("Aware at (your time zone)").fill(aware_local.strftime("%Y-%m-%dT%H:%M"))
    panel.get_by_label("Reason for the awareness time").fill("Researcher's e-mail received")
    panel.get_by_role("button", name="Save awareness time").click()
    expect(panel.get_by_test_id("aware-at")).to_have_attribute("datetime", aware_local.isoformat())
    incident.refresh_from_db()
    assert incident.aware_at == aware_local

    # One click each to start the suggested clocks.
    panel.get_by_role("button", name="Start EU GDPR Art. 33", exact=True).click()
    gdpr = page.get_by_test_id("clock-gdpr-33")
    expect(gdpr).to_be_visible()
    page.locator("#clocks-panel").get_by_role("button", name="Start China PIPL Art. 57", exact=True).click()
    pipl = page.get_by_test_id("clock-pipl-57")
    expect(pipl).to_be_visible()

    # The countdowns: GDPR due 72 h after awareness (shown in Berlin time), PIPL due now.
    due = aware_local + timedelta(hours=72)
    expect(gdpr.get_by_test_id("due-at")).to_have_attribute("datetime", due.isoformat())
    expect(gdpr.get_by_test_id("due-at")).to_contain_text(due.strftime("%Y-%m-%d %H:%M"))
    expect(gdpr.get_by_test_id("time-left")).to_have_text(re.compile(r"2 d (20|21) h left"))
    expect(pipl.get_by_test_id("due-now")).to_have_text("due now")
    expect(pipl.get_by_test_id("due-at")).to_have_count(0)

    # The GDPR submission, with the authority's reference.
    gdpr.get_by_text("Record a submission").click()
    gdpr.get_by_label("Reference").fill("DPA-2026-118")
    gdpr.get_by_role("button", name="Record submission").click()
    gdpr = page.get_by_test_id("clock-gdpr-33")
    expect(gdpr.get_by_test_id("reference")).to_have_text("DPA-2026-118")
    expect(gdpr).to_contain_text("All stages submitted")
    expect(page.get_by_test_id("clock-pipl-57").get_by_test_id("due-now")).to_have_text("due now")

    # ...and on the incident's timeline in the war room.
    page.goto(f"/incidents/{incident.key}/")
    timeline = page.locator("#timeline-list")
    expect(timeline).to_contain_text("Clock started: EU GDPR Art. 33")
    expect(timeline).to_contain_text("Clock started: China PIPL Art. 57")
    expect(timeline).to_contain_text("Submitted Notification for EU GDPR Art. 33")
    expect(timeline).to_contain_text("DPA-2026-118")
    assert incident.clocks.get(obligation__key="gdpr-33").submissions.get().reference == "DPA-2026-118"
    assert page.js_errors == []


def test_forms_that_do_not_apply_stay_closed_until_opened(new_page, commander, catalog):
    """An availability incident does not ask for an awareness time; no incident opens the
    exposure form by itself: it opens when someone chooses to assess."""
    outage = services.declare(commander, title="Chat and API time-outs", kind="availability", severity=2)
    leak = services.declare(commander, title="Chat logs database exposed", kind="data_exposure", severity=1)
    page = new_page("cmdr", "pw-cmdr")

    page.goto(f"/incidents/{outage.key}/security/")
    panel = page.locator("#clocks-panel")
    expect(panel.get_by_text("Record when you became aware")).to_be_visible()
    expect(panel.get_by_label("Reason for the awareness time")).to_be_hidden()
    exposure = page.locator("#exposure")
    expect(exposure.get_by_role("button", name="Save assessment")).to_be_hidden()
    exposure.get_by_text("Assess", exact=True).click()
    expect(exposure.get_by_role("button", name="Save assessment")).to_be_visible()

    # The war room of the outage has no open awareness form either.
    page.goto(f"/incidents/{outage.key}/")
    expect(page.locator("#clocks-panel").get_by_label("Reason for the awareness time")).to_be_hidden()

    # On a data-exposure incident the awareness time is the first thing asked for.
    page.goto(f"/incidents/{leak.key}/security/")
    expect(page.locator("#clocks-panel").get_by_label("Reason for the awareness time")).to_be_visible()
    expect(page.locator("#exposure").get_by_role("button", name="Save assessment")).to_be_hidden()
    assert page.js_errors == []
