"""The public title in Chromium (#13): a comms person drafts the first status-page update of a
SEV1, is asked for the public title, gives it and the impact, and submits; a second person
approves and publishes; the status page names the incident by its public title with the chosen
impact, and the internal title appears nowhere on it."""

import pytest
from playwright.sync_api import expect

from incidents import services
from incidents.comms import services as communications
from incidents.models import Communication, Service
from tests.conftest import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

INTERNAL = "SEV1: [demo] db-7 primary melted"


@pytest.fixture
def incident(django_user_model):
    commander = make_user(django_user_model, "maya", "commander")
    make_user(django_user_model, "sam", "comms")
    make_user(django_user_model, "kim", "comms")
    Service.objects.create(name="Web chat", slug="web-chat", group="Product")
    return services.declare(commander, title=INTERNAL, severity=1)


def test_first_update_asks_for_the_public_title_and_the_page_shows_it_with_the_chosen_impact(new_page, incident):
    author = new_page("sam", "pw-sam")
    author.goto(f"/incidents/{incident.key}/comms/new/")
    title = author.get_by_label("Public title", exact=True)
    expect(title).to_be_visible()
    expect(title).to_have_value("")
    expect(author.locator("#comm-form")).to_contain_text("the incident has no public title yet")
    impact = author.get_by_label("Public impact")
    expect(impact).to_have_value("critical")  # suggested from SEV1

    # Saving without the public title is refused; what was typed stays.
    author.get_by_label("Message").fill("Replies in web chat are slow for some users.")
    impact.select_option("minor")
    author.click("button.primary:has-text('Save draft')")
    expect(author.locator("#comm-form")).to_contain_text("Give the incident a public title")
    expect(author.get_by_label("Message")).to_have_value("Replies in web chat are slow for some users.")
    expect(author.get_by_label("Public impact")).to_have_value("minor")
    assert not Communication.objects.exists()

    author.get_by_label("Public title", exact=True).fill("Slow replies in web chat")
    author.click("button.primary:has-text('Save draft')")
    comm = Communication.objects.get()
    author.wait_for_url(f"**/incidents/{incident.key}/comms/{comm.pk}/")
    expect(author.get_by_test_id("public-title")).to_have_text("Slow replies in web chat")
    expect(author.get_by_test_id("public-impact")).to_have_text("Minor")
    author.click("button:has-text('Submit for review')")
    expect(author.get_by_test_id("comm-state")).to_have_text("In review")

    approver = new_page("kim", "pw-kim")
    approver.goto(f"/incidents/{incident.key}/comms/{comm.pk}/")
    expect(approver.get_by_test_id("public-title")).to_have_text("Slow replies in web chat")
    approver.click("button:has-text('Approve')")
    expect(approver.get_by_test_id("comm-state")).to_have_text("Approved")
    approver.click("button:has-text('Publish now')")
    expect(approver.locator(".messages")).to_contain_text("Publishing")
    # The worker's part: the browser test has no worker, so run what the task runs.
    assert communications.publish_now(comm.pk, comm.approved_by_id) is True

    public = approver.context.browser.new_page(base_url=approver.url.split("/incidents/")[0])
    public.goto("/status/")
    shown = public.locator(".sp-incident").first
    expect(shown).to_contain_text("Slow replies in web chat")
    expect(shown.locator(".sp-chip.impact-minor")).to_be_visible()
    expect(public.locator("body")).not_to_contain_text("db-7")
    assert INTERNAL not in public.content()
    public.close()
    # The refused save was answered 400 (the form with its errors), which Chromium logs.
    assert [e for e in author.js_errors if "status of 400" not in e] == [] and approver.js_errors == []
