"""Runbooks in the war room, as a commander and a responder use them in Chromium."""

import pytest
from playwright.sync_api import expect

from incidents import services
from runbooks import services as runbook_services
from runbooks.fileformat import RunbookData, StepData

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def ddos_runbook(db):
    data = RunbookData(
        slug="ddos-public-api",
        title="Traffic flood on the public API",
        kinds=["availability"],
        min_severity=2,
        steps=[
            StepData(title="Confirm it is an attack", role="responder", expected_minutes=10, critical=True),
            StepData(title="Turn on edge rate limits", role="responder", expected_minutes=15),
            StepData(title="Post a status update", role="comms", expected_minutes=20),
        ],
    )
    version, _ = runbook_services.save_runbook(None, data)
    # One that does not apply (security incidents only): never suggested here.
    runbook_services.save_runbook(
        None,
        RunbookData(slug="leaked-keys", title="Leaked API keys", kinds=["security"], steps=[StepData(title="Revoke")]),
    )
    return version


def test_commander_attaches_suggested_runbook_and_sees_responder_progress_live(
    new_page, commander, responder, ddos_runbook
):
    incident = services.declare(commander, title="API flood", severity=1, kind="availability")
    services.assign_role(incident, responder, "responder", commander)

    commander_page = new_page("cmdr", "pw-cmdr")
    commander_page.goto(f"/incidents/{incident.key}/")
    panel = commander_page.locator("#runbooks-panel")
    suggested = panel.locator(".suggestions")
    expect(suggested).to_contain_text("Traffic flood on the public API")
    expect(suggested).not_to_contain_text("Leaked API keys")
    commander_page.get_by_role("button", name="Attach Traffic flood on the public API").click()
    run = commander_page.get_by_test_id("run-ddos-public-api")
    expect(run.get_by_test_id("progress")).to_have_text("0 / 3")
    expect(commander_page.locator("#timeline-list")).to_contain_text("Runbook attached")

    # The commander gives the first step to the responder.
    first = run.locator("li.step-run").first
    first.locator("details.more > summary").click()
    first.get_by_label("Assignee").select_option(label="resp")
    first.get_by_role("button", name="Save").click()
    expect(commander_page.locator("#timeline-list")).to_contain_text("assigned: nobody → resp")
    commander_page.evaluate("window.__notReloaded = true")

    responder_page = new_page("resp", "pw-resp")
    responder_page.goto("/runbooks/my-steps/")
    step = responder_page.get_by_test_id("my-step")
    expect(step).to_have_count(1)
    expect(step).to_contain_text("Confirm it is an attack")
    step.get_by_label("Note for Confirm it is an attack").fill("40x normal traffic from residential proxies")
    step.get_by_role("button", name="Complete Confirm it is an attack").click()
    expect(responder_page.get_by_test_id("my-step")).to_have_count(0)

    # The commander's page shows the progress without a reload.
    expect(commander_page.get_by_test_id("run-ddos-public-api").get_by_test_id("progress")).to_have_text(
        "1 / 3", timeout=5_000
    )
    expect(commander_page.locator("#timeline-list")).to_contain_text("pending → done", timeout=5_000)
    assert commander_page.evaluate("window.__notReloaded") is True
    assert commander_page.js_errors == [] and responder_page.js_errors == []
