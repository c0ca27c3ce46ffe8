"""Comms in Chromium: an author drafts a status-page update from a template, a second person
approves and publishes it, and it shows as published (and on the public status page)."""

import re

import pytest
from django.urls import NoReverseMatch, reverse
from playwright.sync_api import expect

from incidents import services
from incidents.comms import services as communications
from incidents.models import Communication, CommunicationTemplate, Service

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def incident(cast):
    api = Service.objects.create(name="Public API", slug="public-api", group="Platform")
    Service.objects.create(name="Web chat", slug="web-chat", group="Product")
    incident = services.declare(cast["commander"], title="Chat and API time-outs worldwide", severity=1)
    # Comms named it for the public already (tests/browser/test_public_title.py asks on the first update).
    services.set_public_title(incident, cast["commander"], title="Chat and API time-outs")
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


def test_update_starts_from_the_status_template_and_its_chinese_sibling_fills_the_translation(new_page, cast):
    """The picker opens on the template for the incident's status, already filled; the Chinese
    translation starts from the same template in Chinese, with the services' Chinese names, which
    the status page shows too."""
    api = Service.objects.create(name="Public API", slug="public-api", group="Platform", names={"zh-hans": "公共 API"})
    incident = services.declare(cast["commander"], title="Chat and API time-outs worldwide", severity=1)
    # Comms named it for the public already (tests/browser/test_public_title.py asks on the first update).
    services.set_public_title(incident, cast["commander"], title="Chat and API time-outs")
    services.add_impact(incident, cast["commander"], service=api, level="major_outage")
    services.change_status(incident, "identified", cast["commander"])
    CommunicationTemplate.objects.all().delete()  # the seeded library, if this test runs first
    CommunicationTemplate.objects.create(
        name="Status page: investigating", audience="status_page", public_status="investigating", body="Looking."
    )
    identified = CommunicationTemplate.objects.create(
        name="Status page: identified",
        audience="status_page",
        public_status="identified",
        body="We found the cause of the problems with {services}.",
    )
    CommunicationTemplate.objects.create(
        name="状态页：已确认原因",
        audience="status_page",
        public_status="identified",
        language="zh-hans",
        body="我们已查明{services}出现问题的原因。",
        translation_of=identified,
    )

    author = new_page("sam", "pw-sam")
    author.goto(f"/incidents/{incident.key}/comms/")
    author.click("text=New communication")
    expect(author.get_by_label("Template")).to_have_value(str(identified.pk))
    expect(author.get_by_label("Message")).to_have_value(
        "We found the cause of the problems with Public API (major outage)."
    )
    expect(author.get_by_label("Public status")).to_have_value("identified")
    author.click("button.primary:has-text('Save draft')")

    comm = Communication.objects.get()
    author.wait_for_url(f"**/incidents/{incident.key}/comms/{comm.pk}/")
    # The update lists its services by name.
    expect(author.locator(".affected-list")).to_contain_text("Public API")
    expect(author.locator(".affected-list")).not_to_contain_text("public-api")

    translation = author.locator("#translate")
    expect(translation.get_by_label("Language")).to_have_value("zh-hans")
    expect(translation.get_by_label("Translated message")).to_have_value(
        re.compile(r"^我们已查明公共 API \(.+\)出现问题的原因。$")
    )

    # Another language without a template says so, and keeps what was typed.
    translation.get_by_label("Language").fill("de")
    translation.locator("button:has-text('Fill from the template in this language')").click()
    expect(author.locator("#translate")).to_contain_text("No template in de for this update")
    expect(author.locator("#translate").get_by_label("Language")).to_have_value("de")
    # Back to Chinese with the button, then saved.
    author.locator("#translate").get_by_label("Language").fill("zh-hans")
    author.locator("#translate button:has-text('Fill from the template in this language')").click()
    expect(author.locator("#translate").get_by_label("Translated message")).to_have_value(
        re.compile("^我们已查明公共 API")
    )
    author.locator("#translate button:has-text('Save translation')").click()
    expect(author.get_by_test_id("translation-zh-hans")).to_contain_text("我们已查明公共 API")
    assert comm.translations.get().body.startswith("我们已查明公共 API")

    public = author.context.new_page()
    public.goto("/status/?lang=zh-hans")
    expect(public.locator(".sp-components")).to_contain_text("公共 API")
    public.goto("/status/?lang=en")
    expect(public.locator(".sp-components")).to_contain_text("Public API")
    public.close()
    # The one console error is the refused fill's 400 answer.
    assert [e for e in author.js_errors if "400" not in e] == []


def test_publish_now_turns_into_published_in_place(new_page, cast, incident):
    """After "Publish now" the page says it is publishing and offers no second Publish button;
    when the worker is done, the same page shows it published, without a reload."""
    comm = communications.draft(
        incident,
        cast["author"],
        audience="status_page",
        body="We are investigating errors on the public API.",
        public_status="investigating",
        affected=[{"service": "public-api", "level": "major_outage"}],
    )
    communications.submit(comm, cast["author"])
    comm.refresh_from_db()
    communications.approve(comm, cast["approver"], comm.content_version)

    approver = new_page("kim", "pw-kim")
    approver.goto(f"/incidents/{incident.key}/comms/{comm.pk}/")
    expect(approver.get_by_test_id("comm-state")).to_have_text("Approved")
    approver.click("button:has-text('Publish now')")
    expect(approver.get_by_test_id("comm-state")).to_have_text("Publishing…")
    expect(approver.locator("button[data-action]")).to_have_count(0)
    expect(approver.get_by_test_id("scheduled-for")).to_have_count(0)
    approver.evaluate("window.__notReloaded = true")

    # The worker's part: the browser test has no worker, so run what the task runs.
    assert communications.publish_now(comm.pk, cast["approver"].pk) is True
    expect(approver.get_by_test_id("comm-state")).to_have_text("Published", timeout=5_000)
    assert approver.evaluate("window.__notReloaded") is True
    assert approver.js_errors == []
