"""The main incident flow, as a commander and a responder would drive it in Chromium."""

import re
import zoneinfo
from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone, translation
from playwright.sync_api import expect

from incidents import services
from incidents.comms import reminders as comms_reminders
from incidents.models import Incident, Service, Snooze, UserNotification
from incidents.views import TIMELINE_PAGE
from tests.conftest import make_user

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
    page.wait_for_url(f"**/incidents/{incident.key}/")
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
    commander_page.goto(f"/incidents/{incident.key}/")
    commander_page.evaluate("window.__notReloaded = true")

    responder_page = new_page("resp", "pw-resp")
    responder_page.goto(f"/incidents/{incident.key}/")
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
    commander_page.goto(f"/incidents/{incident.key}/")
    timeline = commander_page.locator("#timeline-list")
    expect(timeline).to_contain_text("edge nodes at 80%")
    expect(timeline).not_to_contain_text("check 0 done")
    commander_page.get_by_role("link", name="Show earlier entries").click()
    expect(timeline).to_contain_text("check 0 done")
    expect(commander_page.get_by_role("link", name="Show earlier entries")).to_have_count(0)
    commander_page.evaluate("window.__notReloaded = true")

    # The responder corrects their note on the edit page.
    responder_page = new_page("resp", "pw-resp")
    responder_page.goto(f"/incidents/{incident.key}/")
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


def test_the_box_sent_again_the_moment_an_error_is_drawn_stays_in_place(new_page, commander):
    """Someone who presses Enter again the instant a refusal appears (typing ahead under stress)
    gets the answer under the box, not a full page load: the redrawn box takes htmx at once."""
    incident = services.declare(commander, title="Sign-up flood", severity=2)
    page = new_page("cmdr", "pw-cmdr")
    page.goto(f"/incidents/{incident.key}/")
    # As soon as the browser may run anything after the redrawn box is in the page (a mutation
    # observer's callback), send it again, as a person's Enter typed ahead would.
    page.evaluate("""() => {
        window.__sameDocument = true;
        new MutationObserver(() => {
            const box = document.getElementById("box");
            if (box && box.querySelector("#box-error") && !window.__resent) {
                window.__resent = true;
                box.querySelector("#box-input").value = "/at 25:62 Again at once";
                box.requestSubmit();
            }
        }).observe(document.body, {childList: true, subtree: true});
    }""")
    box = page.get_by_label("Log an event or type a command")
    box.fill("/at 25:61 Something")
    box.press("Enter")
    expect(page.locator("#box-error")).to_contain_text("25:62")
    assert page.evaluate("window.__sameDocument") is True  # no navigation happened
    expect(page.get_by_label("Log an event or type a command")).to_have_value("/at 25:62 Again at once")


def test_commander_backdates_a_line_with_at(new_page, commander):
    """`/at 02:55 ...` logs what happened earlier, read in the viewer's zone (the browser's,
    Europe/Berlin here); the line takes its place in time and says when it was written."""
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    incident = services.declare(commander, title="Sign-up flood", severity=2)
    page = new_page("cmdr", "pw-cmdr")
    page.goto(f"/incidents/{incident.key}/")
    box = page.get_by_label("Log an event or type a command")
    box.fill("Blocked the worst ASN at the edge")
    box.press("Enter")
    expect(page.locator("#timeline-list")).to_contain_text("Blocked the worst ASN")

    now = timezone.localtime(timezone=berlin)
    earlier = now - timedelta(minutes=10)
    # Today's date is implied; ten minutes before midnight's end of a day it is spelled out.
    when = f"{earlier:%H:%M}" if earlier.date() == now.date() else f"{earlier:%Y-%m-%d %H:%M}"
    box = page.get_by_label("Log an event or type a command")
    box.fill(f"/at {when} Error rate passed 30% at the edge")
    box.press("Enter")
    entries = page.locator("#timeline-list > li")
    expect(entries.last).not_to_contain_text("Error rate passed 30%")
    expect(page.locator("#timeline-list")).to_contain_text("Error rate passed 30%")
    backdated = page.locator("#timeline-list > li", has_text="Error rate passed 30%")
    expect(backdated.locator("time")).to_have_text(f"{earlier:%H:%M}:00")
    expect(backdated.get_by_test_id("backdated")).to_have_text(f"logged {now:%H:%M}")
    # Before the declaration (written after it, it happened before it) and the line logged first.
    texts = entries.all_inner_texts()
    assert [i for i, t in enumerate(texts) if "Error rate passed" in t or "worst ASN" in t] == [0, 2], texts

    # With a date, a day earlier; a time that is not on the clock or not yet come is refused.
    yesterday = now.date() - timedelta(days=1)
    box = page.get_by_label("Log an event or type a command")
    box.fill(f"/at {yesterday:%Y-%m-%d} 02:55 First bot wave in the logs")
    box.press("Enter")
    expect(entries.first).to_contain_text("First bot wave in the logs")

    box = page.get_by_label("Log an event or type a command")
    box.fill("/at 25:61 Something")
    box.press("Enter")
    expect(page.locator("#box-error")).to_contain_text("is not a time on the calendar")
    expect(page.get_by_label("Log an event or type a command")).to_have_value("/at 25:61 Something")

    tomorrow = now.date() + timedelta(days=1)
    box = page.get_by_label("Log an event or type a command")
    box.fill(f"/at {tomorrow:%Y-%m-%d} 02:55 Something")
    box.press("Enter")
    expect(page.locator("#box-error")).to_contain_text("is in the future")

    notes = {e.body: e.occurred_at for e in incident.timeline.filter(kind="note")}
    assert notes["First bot wave in the logs"] == datetime.combine(yesterday, time(2, 55), tzinfo=berlin)
    assert notes["Error rate passed 30% at the edge"] == earlier.replace(second=0, microsecond=0)
    assert "Something" not in notes

    # Reloaded, the server draws the same order.
    page.reload()
    texts = page.locator("#timeline-list > li").all_inner_texts()
    assert "First bot wave" in texts[0] and "Error rate passed" in texts[1] and "worst ASN" in texts[3], texts
    assert page.js_errors == []


def test_long_running_incident_gets_its_own_update_cadence_and_a_long_snooze(new_page, commander):
    """A SEV2 that will run for days: the commander sets a daily public update instead of the
    hourly default, and snoozes the reminder for 8 hours; both are on the timeline."""
    incident = services.declare(commander, title="Sign-up restricted to +86 numbers", severity=2)
    page = new_page("cmdr", "pw-cmdr")
    page.goto(f"/incidents/{incident.key}/")
    header = page.get_by_test_id("next-update")
    expect(header.get_by_test_id("cadence")).to_have_text("every 1 h")

    header.get_by_text("Change cadence").click()
    header.get_by_label("Public update every").select_option(label="every 24 h")
    header.get_by_label("Why the cadence changes").fill("Stable for days; daily updates agreed with legal")
    header.get_by_role("button", name="Set cadence").click()
    expect(page.get_by_test_id("next-update").get_by_test_id("cadence")).to_have_text("every 24 h")
    expect(page.locator("#timeline-list")).to_contain_text(
        "Public update cadence: every 24 h. Reason: Stable for days; daily updates agreed with legal"
    )
    incident.refresh_from_db()
    assert incident.update_cadence_minutes == 24 * 60
    assert comms_reminders.next_update_due(incident) == incident.declared_at + timedelta(hours=24)

    header = page.get_by_test_id("next-update")
    header.get_by_text("Snooze reminder").click()
    header.get_by_label("Snooze for").select_option(label="8 h")
    header.get_by_label("Reason").fill("Overnight: the next update is at 09:00")
    header.get_by_role("button", name="Snooze").click()
    expect(page.locator("#timeline-list")).to_contain_text("Reminder snoozed: next public update, 8 h until")
    snooze = Snooze.objects.get(incident=incident)
    assert timedelta(hours=7, minutes=59) < snooze.until - snooze.created_at <= timedelta(hours=8)
    assert page.js_errors == []


def test_navigation_fits_one_line_at_1280_pixels(new_page, django_user_model):
    """Every link of the top bar, the inbox with an unread count and the signed-in name with
    "Sign out" on one line at 1280 px, for a staff account (which also has Admin)."""
    user = make_user(django_user_model, "commander-on-duty", "commander", is_staff=True)
    for n in range(12):
        UserNotification.objects.create(user=user, key=f"test:{n}", title=f"Reminder {n}")
    page = new_page("commander-on-duty", "pw-commander-on-duty")
    page.set_viewport_size({"width": 1280, "height": 800})
    for language in ("en", "zh-hans"):
        page.get_by_test_id("language").select_option(language)
        page.click(".language button")
        page.wait_for_load_state()
        items = page.locator(".topbar nav > a, .topbar .brand, .topbar .signout button, .topbar .who")
        expect(page.get_by_test_id("unread-count")).to_have_text("12")
        boxes = [items.nth(i).bounding_box() for i in range(items.count())]
        assert len(boxes) >= 12, boxes
        centres = {round(b["y"] + b["height"] / 2) for b in boxes}
        assert max(centres) - min(centres) <= 2, (language, boxes)
        assert all(b["x"] + b["width"] <= 1280 for b in boxes), (language, boxes)
        heights = page.evaluate("[...document.querySelectorAll('.topbar nav > a')].map(a => a.getClientRects().length)")
        assert set(heights) == {1}, (language, heights)  # no label breaks inside itself either
    assert page.js_errors == []


def test_a_chinese_reading_responder_sees_no_english_system_lines(new_page, commander, responder):
    """The lines the changes wrote (by people whose pages are in English) are drawn in the
    reader's language when they open the war room, and when a new one arrives live."""
    web_chat = Service.objects.create(name="Web chat", slug="web-chat", group="Product")
    with translation.override("en"):
        incident = services.declare(commander, title="Sign-up flood", severity=2, services=[web_chat])
        services.change_status(incident, "identified", commander)
        services.change_severity(incident, 1, commander)
        services.assign_role(incident, responder, "responder", commander)
        services.add_impact(incident, commander, service=web_chat, level="partial_outage", regions=["eu"])
    page = new_page("resp", "pw-resp")
    page.get_by_test_id("language").select_option("zh-hans")
    page.click(".language button")
    page.wait_for_load_state()
    page.goto(f"/incidents/{incident.key}/")
    timeline = page.locator("#timeline-list")
    expect(timeline).to_contain_text("状态已变更：调查中 → 已确定原因")
    expect(timeline).to_contain_text("严重级别已变更：SEV2 → SEV1")
    expect(timeline).to_contain_text("resp 以响应人员身份加入")
    text = timeline.inner_text()
    for english in ("Declared", "Status changed", "Severity changed", "joined as", "Impact:", "outage", "commander"):
        assert english not in text, (english, text)

    # A change made now by an English reader arrives live, in Chinese.
    with translation.override("en"):
        services.change_status(incident, "monitoring", commander)
    expect(timeline).to_contain_text("状态已变更：已确定原因 → 监控中", timeout=5_000)
    assert "Status changed" not in timeline.inner_text()
    assert page.js_errors == []
