"""A live redraw never takes away what someone is typing (static/warroom/app.js): two people in
Chromium, one filling in a form on the war room, the other changing the incident meanwhile. The
typed values stay, the other person's change shows (at once, or once the form is submitted or
abandoned), and a button pressed during a redraw does not move under the pointer."""

import time

import pytest
from django.conf import settings
from playwright.sync_api import expect

from incidents import services
from incidents import views as incident_views
from incidents.models import Service
from runbooks import services as runbook_services
from runbooks.fileformat import RunbookData, StepData
from runbooks.models import Runbook
from tests.conftest import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def past_the_poll():
    """Long enough for every live panel to have asked the server at least twice."""
    time.sleep(2 * settings.WARROOM_TIMELINE_POLL_SECONDS + 1.5)


@pytest.fixture
def incident(commander, responder):
    incident = services.declare(commander, title="API flood", severity=1, kind="availability")
    services.assign_role(incident, responder, "responder", commander)
    return incident


@pytest.fixture
def run(incident, commander):
    data = RunbookData(
        slug="ddos-public-api",
        title="Traffic flood on the public API",
        kinds=["availability"],
        steps=[
            StepData(title="Confirm it is an attack", role="responder", expected_minutes=10),
            StepData(title="Turn on edge rate limits", role="responder", expected_minutes=15),
        ],
    )
    runbook_services.save_runbook(None, data)
    return runbook_services.attach(incident, Runbook.objects.get(slug="ddos-public-api"), commander)


def test_runbook_step_form_keeps_its_input_while_another_user_changes_the_run(
    new_page, incident, run, commander, responder
):
    responder_page = new_page("resp", "pw-resp")
    responder_page.goto(f"/incidents/{incident.key}/")
    panel = responder_page.locator("#runbooks-panel")
    first = panel.locator("li.step-run").nth(0)
    first.locator("details.more > summary").click()
    first.get_by_label("Assignee").select_option(label="cmdr")
    first.get_by_label("Note").fill("Handing over: 40x normal traffic, mostly residential proxies")
    responder_page.evaluate("window.__notReloaded = true")

    # The commander, in their own session, starts the second step.
    commander_page = new_page("cmdr", "pw-cmdr")
    commander_page.goto(f"/incidents/{incident.key}/")
    second_of_commander = commander_page.locator("#runbooks-panel li.step-run").nth(1)
    second_of_commander.get_by_role("button", name="Start").click()
    expect(commander_page.locator("#runbooks-panel li.step-run").nth(1)).to_contain_text("In progress")

    # The responder's panel shows the commander's change, and what they typed is all still there.
    expect(panel.locator("li.step-run").nth(1)).to_contain_text("In progress", timeout=6_000)
    past_the_poll()
    first = panel.locator("li.step-run").nth(0)
    expect(first.locator("details.more")).to_have_attribute("open", "")
    expect(first.get_by_label("Assignee")).to_have_value(str(commander.pk))
    expect(first.get_by_label("Note")).to_have_value("Handing over: 40x normal traffic, mostly residential proxies")
    expect(first.get_by_label("Note")).to_be_focused()

    first.get_by_role("button", name="Save").click()
    timeline = responder_page.locator("#timeline-list")
    expect(timeline).to_contain_text("→ cmdr")
    expect(timeline).to_contain_text("Handing over: 40x normal traffic")
    expect(panel.locator("li.step-run").nth(0)).to_contain_text("cmdr")
    expect(panel.locator("li.step-run").nth(1)).to_contain_text("In progress")
    assert responder_page.evaluate("window.__notReloaded") is True
    assert responder_page.js_errors == [] and commander_page.js_errors == []


def test_timeline_box_keeps_its_text_when_the_page_is_too_far_behind_to_patch(
    new_page, incident, commander, responder, monkeypatch
):
    # Far behind (here: any change at all) the poll answers "reload the page" instead of a patch.
    monkeypatch.setattr(incident_views, "LIVE_PATCH_LIMIT", 0)
    responder_page = new_page("resp", "pw-resp")
    responder_page.goto(f"/incidents/{incident.key}/")
    box = responder_page.get_by_label("Log an event or type a command")
    box.fill("Edge rate limits on for /v1/chat")
    responder_page.evaluate("window.__notReloaded = true")

    commander_page = new_page("cmdr", "pw-cmdr")
    commander_page.goto(f"/incidents/{incident.key}/")
    commander_box = commander_page.get_by_label("Log an event or type a command")
    commander_box.fill("/sev 2")
    commander_box.press("Enter")
    expect(commander_page.get_by_test_id("severity")).to_have_text("SEV2")

    past_the_poll()
    expect(box).to_have_value("Edge rate limits on for /v1/chat")
    assert responder_page.evaluate("window.__notReloaded") is True
    expect(responder_page.locator("#live-reload-note")).to_contain_text("will refresh when you finish")

    # Logging the line sends it, then the page catches up.
    box.press("Enter")
    expect(responder_page.get_by_test_id("severity")).to_have_text("SEV2", timeout=6_000)
    expect(responder_page.locator("#timeline-list")).to_contain_text("Edge rate limits on for /v1/chat")
    expect(responder_page.locator("#live-reload-note")).to_have_count(0)
    assert incident.timeline.filter(kind="note", body="Edge rate limits on for /v1/chat").count() == 1
    assert responder_page.js_errors == [] and commander_page.js_errors == []


def test_impact_form_keeps_its_input_and_its_button_stays_under_the_pointer(
    new_page, incident, commander, django_user_model
):
    Service.objects.create(name="Public API", slug="public-api", group="Platform")
    Service.objects.create(name="Web chat", slug="web-chat", group="Product")
    make_user(django_user_model, "maya", "commander")

    page = new_page("cmdr", "pw-cmdr")
    page.goto(f"/incidents/{incident.key}/")
    expect(page.locator("#runbooks-panel")).to_be_attached()  # the page's panels are in place
    form = page.locator("#impact-form")
    form.locator("select[name=service]").select_option(label="Web chat")
    form.locator("select[name=level]").select_option("partial_outage")
    form.get_by_label("Regions").fill("EU, APAC")
    button = form.get_by_role("button", name="Add impact")
    box = button.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()

    # Another commander records an impact in their own session: the list above the form grows.
    other = new_page("maya", "pw-maya")
    other.goto(f"/incidents/{incident.key}/")
    other_form = other.locator("#impact-form")
    other_form.locator("select[name=service]").select_option(label="Public API")
    other_form.locator("select[name=level]").select_option("major_outage")
    other_form.get_by_role("button", name="Add impact").click()
    expect(other.locator(".impacts")).to_contain_text("Public API")

    past_the_poll()
    assert button.bounding_box() == box, "the button moved under the pointer"
    expect(form.locator("select[name=service]")).to_have_value(str(Service.objects.get(slug="web-chat").pk))
    expect(form.get_by_label("Regions")).to_have_value("EU, APAC")
    expect(page.locator("#state .live-note")).to_contain_text("will refresh when you finish")

    page.mouse.up()  # the click lands on "Add impact": the form is sent
    impacts = page.locator(".impacts")
    expect(impacts).to_contain_text("Web chat")
    expect(impacts).to_contain_text("EU, APAC")
    expect(impacts).to_contain_text("Public API")
    assert page.js_errors == [] and other.js_errors == []


def test_an_abandoned_step_form_takes_the_update_it_held_back(new_page, incident, run, commander, django_user_model):
    make_user(django_user_model, "kim", "responder")
    responder_page = new_page("resp", "pw-resp")
    responder_page.goto(f"/incidents/{incident.key}/")
    first = responder_page.locator("#runbooks-panel li.step-run").nth(0)
    first.locator("details.more > summary").click()
    note = first.get_by_label("Note")
    note.fill("Checking the edge logs")
    expect(first.get_by_label("Assignee").locator("option")).to_have_text(["(assignee unchanged)", "cmdr", "resp"])

    # The commander brings a second responder in: the step's assignee list changes.
    commander_page = new_page("cmdr", "pw-cmdr")
    commander_page.goto(f"/incidents/{incident.key}/")
    roles = commander_page.locator("#role-form")
    roles.get_by_label("Role").select_option("responder")
    roles.get_by_label("Person").select_option(label="kim")
    roles.get_by_role("button", name="Assign").click()
    expect(commander_page.locator(".roles")).to_contain_text("kim")

    # The form being typed in stays as it is, with a note that an update waits.
    expect(first.locator(".live-note")).to_contain_text("will refresh when you finish", timeout=6_000)
    expect(responder_page.locator(".roles")).to_contain_text("kim")  # the rest of the page is current
    expect(note).to_have_value("Checking the edge logs")
    expect(first.get_by_label("Assignee").locator("option")).to_have_text(["(assignee unchanged)", "cmdr", "resp"])

    # Given up: the text is cleared and the focus leaves the form. The update comes in, the
    # step's "more" stays open as the responder left it.
    note.fill("")
    responder_page.locator("#timeline-title").click()
    expect(first.locator(".live-note")).to_have_count(0)
    expect(first.get_by_label("Assignee").locator("option")).to_have_text(
        ["(assignee unchanged)", "cmdr", "kim", "resp"]
    )
    expect(first.locator("details.more")).to_have_attribute("open", "")
    assert responder_page.js_errors == [] and commander_page.js_errors == []


def test_a_redraw_held_back_under_a_pressed_pointer_comes_in_when_it_is_released(new_page, incident, commander):
    Service.objects.create(name="Public API", slug="public-api", group="Platform")
    page = new_page("cmdr", "pw-cmdr")
    page.goto(f"/incidents/{incident.key}/")
    heading = page.locator("#impacts-title")
    box = heading.bounding_box()
    page.mouse.move(box["x"] + 5, box["y"] + box["height"] / 2)
    page.mouse.down()  # say, starting to select text in the panel

    services.add_impact(incident, commander, service=Service.objects.get(slug="public-api"), level="major_outage")
    past_the_poll()
    expect(page.locator("#state .live-note")).to_contain_text("will refresh when you finish")
    expect(page.locator(".impacts")).not_to_contain_text("Public API")

    page.mouse.up()
    expect(page.locator(".impacts")).to_contain_text("Public API")
    expect(page.locator("#state .live-note")).to_have_count(0)
    expect(page.locator("#timeline-list")).to_contain_text("Public API")
    assert page.js_errors == []
