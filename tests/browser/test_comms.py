"""Comms in Chromium: an author drafts a status-page update from a template, a second person
approves and publishes it, and it shows as published (and on the public status page)."""

import re

import pytest
from django.urls import NoReverseMatch, reverse
from playwright.sync_api import expect

from incidents import services
from incidents.comms import services as communications
from incidents.models import Communication, CommunicationTemplate, Service
from tests.conftest import make_user

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def cast(django_user_model):
    return {
        "commander": make_user(django_user_model, "maya", "commander"),
        "author": make_user(django_user_model, "sam", "comms"),
        "approver": make_user(django_user_model, "kim", "comms"),
    }


@pytest.fixture
def incident(cast):
    api = Service.objects.create(name="Public API", slug="public-api", group="Platform")
    Service.objects.create(name="Web chat", slug="web-chat", group="Product")
    incident = services.declare(cast["commander"], title="Chat and API time-outs worldwide", severity=1)
    services.add_impact(incident, cast["commander"], service=api, level="major_outage")
    return incident


@pytest.fixture
def template(db):
    # Transactional tests flush the rows the data migration seeded: make the one we use.
    template, _ = CommunicationTemplate.objects.get_or_create(
        name="Status page: investigating",
        defaults={
            "audience": "status_page",
            "public_status": "investigating",
            "body": "We are investigating reports of problems with {services}.\n\nNext update by {next_update}.",
        },
    )
    return template


def _statuspage_url():
    try:
        return reverse("statuspage:index")
    except NoReverseMatch:
        return None


def test_author_drafts_from_template_second_person_approves_and_publishes(new_page, cast, incident, template):
    author = new_page("sam", "pw-sam")
    author.goto(f"/incidents/{incident.key}/comms/")
    expect(author.locator("h1")).to_have_text("Communications")
    author.click("text=New communication")

    # Start from the template: the body fills with the incident's facts, the preview follows.
    author.get_by_label("Template").select_option(label=template.name)
    author.click("button:has-text('Fill from template')")
    body = author.get_by_label("Message")
    expect(body).to_have_value(re.compile(r"problems with Public API \(major outage\)"))
    expect(author.locator("#preview")).to_contain_text("We are investigating reports of problems with Public API")
    # The service levels default to the incident's open impacts.
    expect(author.get_by_label("Public API")).to_have_value("major_outage")
    expect(author.get_by_label("Web chat")).to_have_value("")

    body.fill(
        body.input_value() + "\n\nNew sign-ups are **temporarily limited** while we block automated registrations."
    )
    expect(author.locator("#preview strong")).to_have_text("temporarily limited")
    author.get_by_label("Web chat").select_option("degraded_performance")
    author.click("button.primary:has-text('Save draft')")

    comm = Communication.objects.get()
    author.wait_for_url(f"**/incidents/{incident.key}/comms/{comm.pk}/")
    expect(author.get_by_test_id("comm-state")).to_have_text("Draft")
    author.click("button:has-text('Submit for review')")
    expect(author.get_by_test_id("comm-state")).to_have_text("In review")

    # The author may not approve their own status-page update: no Approve button, and the page
    # says who can.
    expect(author.get_by_role("note")).to_contain_text("someone else must approve")
    expect(author.get_by_test_id("needs-approval-by")).to_contain_text("Needs approval by another comms member: kim.")
    expect(author.locator("button[data-action=approve]")).to_have_count(0)
    expect(author.locator("button[data-action=submit]")).to_have_count(0)  # already submitted
    expect(author.get_by_test_id("comm-state")).to_have_text("In review")

    approver = new_page("kim", "pw-kim")
    approver.goto(f"/incidents/{incident.key}/comms/{comm.pk}/")
    expect(approver.get_by_test_id("comm-body")).to_contain_text("temporarily limited")
    approver.click("button:has-text('Approve')")
    expect(approver.get_by_test_id("comm-state")).to_have_text("Approved")
    expect(approver.get_by_test_id("approved-by")).to_contain_text("kim")
    approver.click("button:has-text('Publish now')")
    expect(approver.locator(".messages")).to_contain_text("Publishing")

    # The worker's part: the browser test has no worker, so run what the task runs.
    comm.refresh_from_db()
    assert comm.status == Communication.Status.SCHEDULED  # recorded as due now
    assert communications.publish_now(comm.pk, cast["approver"].pk) is True

    approver.goto(f"/incidents/{incident.key}/comms/")
    row = approver.get_by_test_id(f"comm-{comm.pk}")
    expect(row.get_by_test_id("comm-state")).to_have_text("Published")
    expect(row.get_by_test_id("published-at")).to_be_visible()
    comm.refresh_from_db()
    assert comm.status == "published" and comm.author == cast["author"] and comm.approved_by == cast["approver"]
    assert comm.affected == [
        {"service": "public-api", "level": "major_outage"},
        {"service": "web-chat", "level": "degraded_performance"},
    ]

    status_url = _statuspage_url()
    if status_url:
        public = approver.context.browser.new_page(base_url=approver.url.split("/incidents/")[0])
        public.goto(status_url)
        expect(public.locator("body")).to_contain_text("New sign-ups are temporarily limited")
        summary = public.request.get(status_url + "api/v2/summary.json")
        assert summary.ok
        assert "New sign-ups are" in summary.text()
        public.close()

    assert author.js_errors == [] and approver.js_errors == []


def test_a_filled_update_promises_a_real_time_and_a_hole_is_refused_on_submission(new_page, cast, incident, template):
    author = new_page("sam", "pw-sam")
    author.goto(f"/incidents/{incident.key}/comms/new/")
    author.get_by_label("Template").select_option(label=template.name)
    author.click("button:has-text('Fill from template')")
    body = author.get_by_label("Message")
    # SEV1: an update every 30 minutes, in the template's language and the site's zone (UTC).
    expect(body).to_have_value(
        re.compile(r"update by \w+\.? \d{1,2}, \d{4}, (\d{1,2}(:\d{2})? [ap]\.m\.|noon|midnight) UTC\.")
    )
    assert "within the hour" not in body.input_value()

    # A placeholder typed by hand (or left from a pasted template) cannot go for review.
    body.fill("We are on it.\n\nWe will post an update by {next_update}.")
    author.click("button.primary:has-text('Save draft')")
    comm = Communication.objects.get()
    author.wait_for_url(f"**/incidents/{incident.key}/comms/{comm.pk}/")
    author.click("button:has-text('Submit for review')")
    expect(author.locator(".messages")).to_contain_text("The text still has the placeholder {next_update}")
    expect(author.get_by_test_id("comm-state")).to_have_text("Draft")
    expect(author.get_by_test_id("comm-body")).to_contain_text("We will post an update by {next_update}.")
    comm.refresh_from_db()
    assert comm.status == Communication.Status.DRAFT
    assert author.js_errors == []
