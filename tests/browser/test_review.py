"""The post-incident review in Chromium: the commander resolves the incident, follows the
war room's review link, starts the review, edits and saves it, adds an action item with an
owner and a due date, marks it done and publishes; then a viewer reads what was published."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from incidents import services
from incidents.models import ActionItem, Review

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_commander_reviews_a_resolved_incident_and_a_viewer_reads_it(new_page, commander, responder, viewer):
    incident = services.declare(commander, title="Sign-up flood from a bot network", severity=2)
    services.log_entry(incident, commander, "Blocked the bot network at the edge")

    page = new_page("cmdr", "pw-cmdr")
    page.goto(f"/incidents/{incident.key}/")
    expect(page.get_by_test_id("review-link")).to_have_text("Follow-ups")
    page.get_by_role("group", name="Move status").get_by_role("button", name="Resolved").click()
    expect(page.get_by_test_id("status")).to_have_text("Resolved")

    link = page.get_by_test_id("review-link")
    expect(link).to_have_text("Review: not started")
    link.click()
    page.wait_for_url(f"**/incidents/{incident.key}/review/")
    expect(page.get_by_test_id("review-status")).to_have_text("Not started")
    expect(page.get_by_test_id("metric-resolve")).to_contain_text("Time to resolve")

    page.get_by_label("Run by").select_option(label="cmdr")
    page.get_by_role("button", name="Start the review").click()
    expect(page.get_by_test_id("review-status")).to_have_text("Draft")
    editor = page.get_by_label("Review text")
    assert editor.input_value().startswith(f"# Post-incident review: {incident.reference} Sign-up flood")
    assert "Blocked the bot network at the edge (cmdr)" in editor.input_value()

    # The live preview follows the text; saving keeps it.
    editor.fill("# What happened\n\nA **bot network** created 40,000 accounts.\n\n## Causes\n\nNo rate limit per ASN.")
    expect(page.locator("#preview")).to_contain_text("No rate limit per ASN.")
    expect(page.locator("#preview p strong")).to_have_text("bot network")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messages")).to_contain_text("Review saved.")
    expect(page.get_by_label("Review text")).to_have_value(
        "# What happened\n\nA **bot network** created 40,000 accounts.\n\n## Causes\n\nNo rate limit per ASN."
    )

    # An action item with an owner and a due date, added without a reload (htmx).
    due = timezone.localdate() + timedelta(days=14)
    page.evaluate("window.__notReloaded = true")
    items = page.locator("#action-items")
    items.locator("#item_title").fill("Rate-limit sign-ups per ASN")
    items.locator("#item_owner").select_option(label="resp")
    items.locator("#item_due_on").fill(due.isoformat())
    items.locator("#item_priority").select_option("high")
    items.get_by_role("button", name="Add action item").click()
    expect(items).to_contain_text("Action item added: Rate-limit sign-ups per ASN.")
    item = ActionItem.objects.get()
    row = page.get_by_test_id(f"item-{item.pk}")
    expect(row).to_contain_text("resp")
    expect(row).to_contain_text(due.isoformat())
    expect(row).to_contain_text("High")
    expect(row).to_contain_text("Open")

    row.get_by_role("button", name="Mark Rate-limit sign-ups per ASN done").click()
    expect(page.get_by_test_id(f"item-{item.pk}")).to_contain_text("Done")
    expect(page.get_by_test_id("item-counts")).to_have_text("0 open")
    assert page.evaluate("window.__notReloaded") is True
    item.refresh_from_db()
    assert item.status == ActionItem.Status.DONE and item.owner == responder and item.due_on == due

    page.get_by_role("button", name="Save and publish").click()
    expect(page.get_by_test_id("review-status")).to_have_text("Published")
    expect(page.get_by_test_id("review-body").locator("h1")).to_have_text("What happened")
    expect(page.get_by_label("Review text")).to_have_count(0)
    assert Review.objects.get().status == Review.Status.PUBLISHED

    page.goto(f"/incidents/{incident.key}/")
    expect(page.get_by_test_id("review-link")).to_have_text("Review: published")
    assert page.js_errors == []

    # A viewer reads the published review and its done item, and changes nothing.
    reader = new_page("view", "pw-view")
    reader.goto(f"/incidents/{incident.key}/")
    reader.get_by_test_id("review-link").click()
    expect(reader.get_by_test_id("review-status")).to_have_text("Published")
    expect(reader.get_by_test_id("review-body")).to_contain_text("No rate limit per ASN.")
    expect(reader.get_by_test_id(f"item-{item.pk}")).to_contain_text("Done")
    expect(reader.get_by_role("button", name="Reopen the review")).to_have_count(0)
    expect(reader.get_by_role("button", name="Add action item")).to_have_count(0)
    reader.get_by_role("link", name="Reviews", exact=True).first.click()
    expect(reader.get_by_test_id(f"review-row-{incident.pk}")).to_contain_text("published")
    assert reader.js_errors == []
