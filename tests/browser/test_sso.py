"""Signing in through a real OpenID provider (tests/oidc/provider.mjs, the certified npm
`oidc-provider`) in Chromium: its own login and consent pages, back in Warroom with the groups
the provider gives, and without them once the provider takes the group away."""

import pytest
from playwright.sync_api import expect

from incidents.models import Incident
from tests.oidc_provider import Provider, configure

MAYA = {"preferred_username": "maya", "email": "maya@example.com", "groups": ["incident-commanders"]}


@pytest.fixture
def provider(live_server, settings):
    running = Provider([f"{live_server.url}/login/sso/callback/"], {"maya": MAYA})
    configure(settings, running, live_server.url, OIDC_GROUP_MAP=["incident-commanders=commander"])
    yield running
    running.stop()


def sign_in_through_provider(page):
    page.goto("/login/")
    page.get_by_role("link", name="Sign in with Example ID").click()
    # The provider's pages, not Warroom's.
    page.fill("input[name=login]", "maya")
    page.fill("input[name=password]", "correct horse battery staple")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/incidents/")


def test_commander_group_from_the_provider_declares_until_the_provider_removes_it(browser, live_server, provider):
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(10_000)
    page = context.new_page()

    sign_in_through_provider(page)
    expect(page.locator(".signout .who")).to_have_text("maya")
    page.click("text=Declare incident")
    page.fill("input[name=title]", "Sign-up flood from one country")
    page.select_option("select[name=severity]", "2")
    page.select_option("select[name=kind]", "availability")
    page.click("button:has-text('Declare')")
    incident = Incident.objects.get()
    page.wait_for_url(f"**/incidents/{incident.key}/")
    expect(page.get_by_test_id("commander")).to_have_text("maya")

    # The provider takes maya out of the commanders; she signs out and in again.
    provider.set_accounts({"maya": {key: value for key, value in MAYA.items() if key != "groups"}})
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login/")
    page.get_by_role("link", name="Sign in with Example ID").click()
    page.wait_for_url("**/incidents/")  # still signed in at the provider, consent remembered
    expect(page.locator(".signout .who")).to_have_text("maya")
    expect(page.get_by_text("Declare incident")).to_have_count(0)
    response = page.goto("/incidents/declare/")
    assert response.status == 403
    context.close()
