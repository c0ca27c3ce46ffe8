"""The approver is told: comms A submits a status-page update for review; comms B, signed in
elsewhere, sees "To approve" in the header within 5 s without reloading, opens Awaiting my
approval, opens the draft from the list and approves it; it leaves the list. The author is
shown no Approve button, and who can approve."""

import pytest
from playwright.sync_api import expect

from incidents import services
from incidents.comms import services as communications
from incidents.models import Communication, UserNotification

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def draft(cast):
    incident = services.declare(cast["commander"], title="Chat and API time-outs worldwide", severity=1)
    # Comms named it for the public already (tests/browser/test_public_title.py asks on the first update).
    services.set_public_title(incident, cast["commander"], title="Chat and API time-outs")
    return communications.draft(
        incident,
        cast["author"],
        audience="status_page",
        title="Errors and time-outs",
        body="We are investigating errors and time-outs on chat and the API.",
    )


def test_approver_sees_the_badge_within_5_s_opens_the_draft_from_the_list_and_approves(new_page, cast, draft):
    incident = draft.incident
    # The approver is already signed in, on another page, before anything is submitted.
    approver = new_page("kim", "pw-kim")
    expect(approver.get_by_test_id("awaiting-approval-link")).to_have_count(0)

    author = new_page("sam", "pw-sam")
    author.goto(f"/incidents/{incident.key}/comms/{draft.pk}/")
    author.click("button[data-action=submit]")
    expect(author.get_by_test_id("comm-state")).to_have_text("In review")
    expect(author.locator("button[data-action=approve]")).to_have_count(0)
    expect(author.get_by_test_id("needs-approval-by")).to_contain_text("kim")

    # Within 5 s, without a reload: the header's live count.
    badge = approver.get_by_test_id("awaiting-approval-link")
    expect(badge).to_be_visible(timeout=5_000)
    expect(badge.get_by_test_id("awaiting-count")).to_have_text("1")
    expect(approver.get_by_test_id("unread-count")).to_have_text("1")  # and the inbox entry
    badge.click()
    approver.wait_for_url("**/comms/awaiting/")
    row = approver.get_by_test_id(f"awaiting-{draft.pk}")
    expect(row).to_contain_text(incident.reference)
    expect(row).to_contain_text("Errors and time-outs")
    row.get_by_role("link", name="Errors and time-outs").click()
    approver.wait_for_url(f"**/incidents/{incident.key}/comms/{draft.pk}/")
    expect(approver.get_by_test_id("comm-body")).to_contain_text("We are investigating errors")
    approver.click("button[data-action=approve]")
    expect(approver.get_by_test_id("comm-state")).to_have_text("Approved")

    # Off the list and out of the count; the inbox entry is read.
    approver.goto("/comms/awaiting/")
    expect(approver.get_by_test_id("awaiting-empty")).to_be_visible()
    expect(approver.get_by_test_id("awaiting-approval-link")).to_have_count(0)
    assert Communication.objects.get(pk=draft.pk).approved_by == cast["approver"]
    assert not UserNotification.objects.filter(user=cast["approver"], read_at__isnull=True).exists()

    # The timeline line of the submission links to the draft.
    approver.goto(f"/incidents/{incident.key}/")
    entry = approver.locator(".entry", has_text="submitted for review by sam")
    entry.get_by_test_id("entry-communication").click()
    approver.wait_for_url(f"**/incidents/{incident.key}/comms/{draft.pk}/")

    assert author.js_errors == [] and approver.js_errors == []


def test_the_approver_can_get_there_from_the_inbox(new_page, cast, draft):
    communications.submit(draft, cast["author"])
    approver = new_page("kim", "pw-kim")
    approver.goto("/inbox/")
    expect(approver.get_by_test_id("notification")).to_contain_text("awaits your approval")
    approver.get_by_test_id("inbox-awaiting-link").click()
    approver.wait_for_url("**/comms/awaiting/")
    expect(approver.get_by_test_id(f"awaiting-{draft.pk}")).to_be_visible()
    assert approver.js_errors == []
