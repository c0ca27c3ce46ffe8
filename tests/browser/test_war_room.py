"""The main incident flow, as a commander and a responder would drive it in Chromium."""

import re

import pytest
from playwright.sync_api import expect

from incidents import services
from incidents.models import Incident, Service
from incidents.views import TIMELINE_PAGE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def catalog(db):
    Service.objects.create(name="Public API", slug="public-api", group="Platform")
    Service.objects.create(name="Login and sign-up", slug="login-signup", group="Platform")


def test_commander_declares_logs_entries_and_runs_slash_commands(new_page, commander, catalog):
    page = new_page("cmdr", "pw-cmdr")
    page.click("text=Declare incident")
    page.fill("input[name=title]", "Chat and API time-outs worldwide")
    page.fill("textarea[name=summary]", "Error rate **38%** at the edge.")
    page.select_option("select[name=severity]", "2")
    page.select_option("select[name=kind]", "availability")
    page.get_by_label("Public API").check()
    page.click("button:has-text('Declare')")

    incident = Incident.objects.get()
    page.wait_for_url(f"**/incidents/{incident.pk}/")
    expect(page.locator("h1")).to_have_text("Chat and API time-outs worldwide")
    expect(page.get_by_test_id("status")).to_have_text("Investigating")
    expect(page.get_by_test_id("commander")).to_have_text("cmdr")

    box = page.get_by_label("Log an event or type a command")
    box.fill("Edge error rate 38%, p99 14 s")
    box.press("Enter")
    expect(page.locator("#timeline-list")).to_contain_text("Edge error rate 38%, p99 14 s")

    box = page.get_by_label("Log an event or type a command")
    box.fill("Traffic from residential proxies, 40x normal")
    box.press("Enter")
    expect(page.locator("#timeline-list")).to_contain_text("40x normal")

    box = page.get_by_label("Log an event or type a command")
    box.fill("/status identified")
    box.press("Enter")
    expect(page.get_by_test_id("status")).to_have_text("Identified")
    expect(page.locator("#timeline-list")).to_contain_text("investigating → identified")

    box = page.get_by_label("Log an event or type a command")
    box.fill("/sev 1")
    box.press("Enter")
    expect(page.get_by_test_id("severity")).to_have_text("SEV1")

    box = page.get_by_label("Log an event or type a command")
    box.fill("/impact public-api major")
    box.press("Enter")
    expect(page.locator(".impacts")).to_contain_text("Major outage")

    # An unknown command keeps the text typed and explains what went wrong.
    box = page.get_by_label("Log an event or type a command")
    box.fill("/staus monitoring")
    box.press("Enter")
    expect(page.locator("#box-error")).to_contain_text("Unknown command /staus")
    expect(page.get_by_label("Log an event or type a command")).to_have_value("/staus monitoring")

    incident.refresh_from_db()
    assert incident.status == "identified" and incident.severity == 1
    notes = list(incident.timeline.filter(kind="note").values_list("body", flat=True))
    assert notes == ["Edge error rate 38%, p99 14 s", "Traffic from residential proxies, 40x normal"]
    assert page.js_errors == []


def test_entry_logged_by_another_session_appears_without_reload(new_page, commander, responder):
    incident = services.declare(commander, title="Sign-up flood", severity=2)
    commander_page = new_page("cmdr", "pw-cmdr")
    commander_page.goto(f"/incidents/{incident.pk}/")
    commander_page.evaluate("window.__notReloaded = true")

    responder_page = new_page("resp", "pw-resp")
    responder_page.goto(f"/incidents/{incident.pk}/")
    box = responder_page.get_by_label("Log an event or type a command")
    box.fill("92% of new sign-ups fail phone verification")
    box.press("Enter")
    expect(responder_page.locator("#timeline-list")).to_contain_text("92% of new sign-ups")

    # Within 5 seconds on the commander's page, with no reload.
    expect(commander_page.locator("#timeline-list")).to_contain_text("92% of new sign-ups", timeout=5_000)
    assert commander_page.evaluate("window.__notReloaded") is True

    # A state change made elsewhere (here through the service layer, as the API would) shows too.
    services.change_status(incident, "monitoring", commander)
    expect(commander_page.get_by_test_id("status")).to_have_text("Monitoring", timeout=5_000)
    expect(commander_page.locator("#timeline-list")).to_contain_text(re.compile("→ monitoring"))
    assert commander_page.js_errors == []


def test_earlier_entries_load_and_an_edit_reaches_every_open_page(new_page, commander, responder):
    incident = services.declare(commander, title="Bot wave", severity=2)
    for n in range(TIMELINE_PAGE + 5):
        services.log_entry(incident, commander, f"check {n} done")
    note = services.log_entry(incident, responder, "edge nodes at 80%")

    commander_page = new_page("cmdr", "pw-cmdr")
    commander_page.goto(f"/incidents/{incident.pk}/")
    timeline = commander_page.locator("#timeline-list")
    expect(timeline).to_contain_text("edge nodes at 80%")
    expect(timeline).not_to_contain_text("check 0 done")
    commander_page.get_by_role("link", name="Show earlier entries").click()
    expect(timeline).to_contain_text("check 0 done")
    expect(commander_page.get_by_role("link", name="Show earlier entries")).to_have_count(0)
    commander_page.evaluate("window.__notReloaded = true")

    # The responder corrects their note on the edit page.
    responder_page = new_page("resp", "pw-resp")
    responder_page.goto(f"/incidents/{incident.pk}/")
    responder_page.locator(f"#entry-{note.pk} a.edit").click()
    responder_page.get_by_label("Body").fill("edge nodes at 95%")
    responder_page.get_by_role("button", name="Save").click()
    expect(responder_page.locator(f"#entry-{note.pk}")).to_contain_text("edge nodes at 95%")
    expect(responder_page.locator(f"#entry-{note.pk}")).to_contain_text("1 earlier version")

    # The commander's open page shows the correction without a reload, and so does a reload.
    entry = commander_page.locator(f"#entry-{note.pk}")
    expect(entry).to_contain_text("edge nodes at 95%", timeout=5_000)
    assert commander_page.evaluate("window.__notReloaded") is True
    commander_page.reload()
    expect(entry).to_contain_text("edge nodes at 95%")
    expect(entry).to_contain_text("1 earlier version")
    assert commander_page.js_errors == [] and responder_page.js_errors == []
