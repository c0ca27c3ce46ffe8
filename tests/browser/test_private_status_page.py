"""A private status page and its access link, end to end (issue #13): an operator (comms) makes
a private page on /status/manage/pages/ and an access link to it; a fresh browser that has never
signed in opens the link and sees the page; once the operator revokes the link, the same link
(in the same browser, which remembered it) shows the 404 page, like a page that does not
exist."""

import pytest
from playwright.sync_api import expect

from incidents.models import Service
from tests.conftest import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_access_link_opens_a_private_page_in_a_fresh_browser_until_it_is_revoked(
    new_page, browser, live_server, django_user_model, settings
):
    settings.SITE_URL = live_server.url  # the link shown is absolute
    make_user(django_user_model, "sam", "comms")
    Service.objects.create(name="Enterprise gateway", slug="enterprise-gateway", group="Enterprise", public=True)

    operator = new_page("sam", "pw-sam")
    operator.goto("/status/manage/pages/")
    operator.get_by_test_id("new-status-page").click()
    operator.fill("#id_name", "Enterprise customers")
    operator.fill("#id_slug", "enterprise")
    operator.get_by_label("Every public component, now and later").check()
    operator.get_by_label("Private", exact=True).check()
    operator.get_by_role("button", name="Save").click()
    expect(operator.locator("h1")).to_have_text("Enterprise customers")
    operator.fill("#id_label", "Acme Corp")
    operator.get_by_role("button", name="Make an access link").click()
    link = operator.get_by_test_id("new-access-link").locator("code").inner_text().strip()
    assert link.startswith(f"{live_server.url}/status/p/enterprise/?access=")

    customer_context = browser.new_context()  # never signed in
    try:
        customer = customer_context.new_page()
        answer = customer.goto(link)
        assert answer.status == 200
        expect(customer.locator("body")).to_contain_text("Enterprise customers")
        expect(customer.locator("body")).to_contain_text("Enterprise gateway")
        page_url = f"{live_server.url}/status/p/enterprise/"
        assert customer.goto(page_url).status == 200  # the browser keeps access while it browses

        operator.goto(operator.url.removesuffix("links/"))  # the page itself (the link was a POST answer)
        operator.get_by_role("button", name="Revoke the link for Acme Corp").click()
        expect(operator.locator(".access-links")).to_contain_text("revoked")

        answer = customer.goto(link)
        assert answer.status == 404
        expect(customer.locator("body")).not_to_contain_text("Enterprise gateway")
        expect(customer.locator("h1")).to_have_text("Page not found")  # the status page's own 404
        expect(customer.locator("body")).not_to_contain_text("Enterprise customers")
        expect(customer.locator('link[rel="stylesheet"]')).to_have_attribute("href", "/static/statuspage/status.css")
        assert customer.goto(page_url).status == 404
    finally:
        customer_context.close()
