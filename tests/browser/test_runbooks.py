"""Runbooks in the war room, as a commander and a responder use them in Chromium."""

import pytest
from playwright.sync_api import expect

from incidents import services
from incidents.models import Incident, Service
from runbooks import services as runbook_services
from runbooks.fileformat import RunbookData, StepData
from runbooks.models import StepRun
from tests.conftest import make_user

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


def test_new_incident_shows_runbooks_roles_and_comms_above_the_fold_and_impacts_its_declared_services(
    new_page, commander, ddos_runbook
):
    Service.objects.create(name="Public API", slug="public-api", group="Platform")
    Service.objects.create(name="Web chat", slug="web-chat", group="Product")
    Service.objects.create(name="Payments", slug="payments", group="Platform")
    page = new_page("cmdr", "pw-cmdr")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.click("text=Declare incident")
    page.fill("input[name=title]", "Chat and API time-outs worldwide")
    page.select_option("select[name=severity]", "1")
    page.select_option("select[name=kind]", "availability")
    page.get_by_label("Public API").check()
    page.get_by_label("Web chat").check()
    page.click("button:has-text('Declare')")
    incident = Incident.objects.get()
    page.wait_for_url(f"**/incidents/{incident.key}/")

    # What a commander does next is on the first screen, without scrolling.
    attach = page.get_by_role("button", name="Attach Traffic flood on the public API")
    for thing in (attach, page.locator("#role-form"), page.get_by_test_id("draft-update")):
        expect(thing).to_be_visible()
        box = thing.bounding_box()
        assert box["y"] + box["height"] <= 800, (thing, box)

    # The impact form has the declared services ticked: one level for both in one go.
    form = page.locator("#impact-form")
    expect(form.get_by_label("Public API")).to_be_checked()
    expect(form.get_by_label("Web chat")).to_be_checked()
    form.get_by_label("Level").select_option("major_outage")
    form.get_by_role("button", name="Add impact").click()
    expect(page.locator(".impacts")).to_contain_text("Public API")
    expect(page.locator(".impacts")).to_contain_text("Web chat")
    assert sorted(incident.impacts.values_list("service__slug", "level")) == [
        ("public-api", "major_outage"),
        ("web-chat", "major_outage"),
    ]
    # Now both have an open impact: nothing is ticked for the next one.
    expect(page.locator("#impact-form").get_by_label("Public API")).not_to_be_checked()
    assert page.js_errors == []


def test_commander_assigns_open_steps_evenly_and_moves_them_on_handover(
    new_page, commander, responder, django_user_model, ddos_runbook
):
    make_user(django_user_model, "maya", "commander")  # the next commander
    incident = services.declare(commander, title="API flood", severity=1, kind="availability")
    services.assign_role(incident, responder, "responder", commander)
    runbook_services.attach(incident, ddos_runbook.runbook, commander)

    page = new_page("cmdr", "pw-cmdr")
    page.goto(f"/incidents/{incident.key}/")
    panel = page.locator("#runbooks-panel")
    expect(panel).to_contain_text("3 open steps have nobody.")
    panel.get_by_role("button", name="Assign the open steps evenly").click()
    expect(page.locator("#timeline-list")).to_contain_text("Open steps assigned evenly (3): cmdr 2, resp 1.")
    expect(page.locator("#runbooks-panel")).not_to_contain_text("have nobody")
    assignees = list(StepRun.objects.order_by("position").values_list("assignee__username", flat=True))
    assert assignees == ["cmdr", "resp", "cmdr"]

    # Handing over command offers to move the outgoing commander's steps along.
    box = page.get_by_label("Log an event or type a command")
    box.fill("/commander maya")
    box.press("Enter")
    offer = page.get_by_test_id("handover-offer")
    expect(offer).to_contain_text("cmdr handed command to maya and still has 2 open steps.")
    offer.get_by_role("button", name="Move them to maya").click()
    expect(page.locator("#timeline-list")).to_contain_text("2 open steps moved: cmdr → maya")
    expect(page.get_by_test_id("handover-offer")).to_have_count(0)
    assignees = list(StepRun.objects.order_by("position").values_list("assignee__username", flat=True))
    assert assignees == ["maya", "resp", "maya"]
    assert page.js_errors == []
