"""The public status page in Chromium, as a visitor reads it after an incident ended."""

from datetime import timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.utils import timezone
from playwright.sync_api import expect

from incidents import services
from incidents.models import Service
from statuspage import views
from tests.statuspage.page_factories import approver, author, fresh_cache, publish  # noqa: F401 - fixtures

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_resolved_incident_stays_on_the_front_page_for_a_day_and_history_lists_newest_first(
    browser,
    live_server,
    commander,
    publish,  # noqa: F811 - the fixture imported above
    settings,
):
    # Components in page order: Public API (Platform) before Web chat (Product).
    api = Service.objects.create(name="Public API", slug="public-api", group="Platform")
    chat = Service.objects.create(name="Web chat", slug="web-chat", group="Product")
    now = timezone.now()

    def at(hours_ago):
        return time_machine.travel(now - timedelta(hours=hours_ago), tick=False)

    with at(40):
        old = services.declare(commander, title="Old outage", severity=2, started_at=now - timedelta(hours=40))
        services.add_impact(old, commander, service=chat, level="major_outage")
        publish(old, "Chat is down.")
    with at(30):
        publish(old, "Chat works again.", status="resolved")
    with at(2):
        login = services.declare(commander, title="Login failures", severity=2)
        services.add_impact(login, commander, service=api, level="partial_outage")
        publish(login, "Some people cannot sign in.")
    with at(1):
        publish(login, "Sign-in works again for everyone.", status="resolved")
    with at(0.5):
        slow = services.declare(commander, title="API slow", severity=3)
        services.add_impact(slow, commander, service=chat, level="degraded_performance")
        publish(slow, "Replies are slow.")

    context = browser.new_context(base_url=live_server.url, timezone_id="Europe/Berlin")
    page = context.new_page()
    page.goto("/status/")
    expect(page.locator("#active-incidents + *")).to_contain_text("API slow")
    resolved = page.locator("section[aria-labelledby=recently-resolved]")
    expect(resolved).to_contain_text("Login failures")
    expect(resolved).to_contain_text("Sign-in works again for everyone.")
    expect(resolved).not_to_contain_text("Some people cannot sign in.")  # only its last update
    expect(resolved).not_to_contain_text("Old outage")  # resolved 30 hours ago: history only

    page.goto("/status/history/")
    names = page.locator(".sp-history > li > a").all_inner_texts()
    assert [n for n in names if n in ("API slow", "Login failures")][:2] == ["API slow", "Login failures"], names
    assert names.index("Login failures") < names.index("Old outage"), names

    # The time on the front page is the operator's to choose.
    settings.STATUSPAGE_RESOLVED_HOURS = 0.5
    views.clear_cache()  # built pages: in the per-process memo and in Django's cache
    cache.clear()
    context.close()
    context = browser.new_context(base_url=live_server.url, timezone_id="Europe/Berlin")  # a cold browser cache
    page = context.new_page()
    page.goto("/status/")
    expect(page.locator("#active-incidents")).to_be_visible()
    expect(page.locator("section[aria-labelledby=recently-resolved]")).to_have_count(0)
    context.close()
