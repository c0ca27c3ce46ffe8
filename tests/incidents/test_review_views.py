"""The review's HTML side: the review page of an incident (metrics, the review, its action
items), the follow-ups and reviews pages, and the review link on the war-room page. Every
access rule from every side (commander, responder, viewer, outsider, security group), bad
input as form errors, and query counts that do not grow with the rows.
"""

import html
import re
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from incidents import services
from incidents.models import ActionItem, Incident, Membership, Review, TimelineEntry
from incidents.review import services as review
from tests.conftest import HTMX, make_user

pytestmark = pytest.mark.django_db


def page_url(incident):
    return reverse("incidents:review:page", args=[incident.key])


def action(incident, name, *args):
    return reverse(f"incidents:review:{name}", args=[incident.pk, *args])


def text_of(response):
    return html.unescape(response.content.decode())


def count_queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def resolve(incident, by, hours=3):
    Incident.objects.filter(pk=incident.pk).update(started_at=timezone.now() - timedelta(hours=hours))
    incident.refresh_from_db()
    services.acknowledge(incident, by)
    services.change_status(incident, "resolved", by)
    incident.refresh_from_db()
    return incident


@pytest.fixture
def resolved(declare, commander):
    return resolve(declare(title="Chat API down", severity=1), commander)


@pytest.fixture
def hidden(declare, commander):
    """A resolved confidential incident with a started review and an action item."""
    incident = resolve(declare(title="Customer table exposed", kind="data_exposure", confidential=True), commander)
    review.start_review(incident, commander)
    review.add_action_item(incident, commander, title="Rotate the leaked credentials", owner=commander)
    return incident


def started(incident, by, **kwargs):
    return review.start_review(incident, by, **kwargs)


def form_version(page):
    return re.search(r'name="version" value="(\d+)"', page).group(1)


def textarea(page, name):
    match = re.search(rf'<textarea[^>]*name="{name}"[^>]*>(.*?)</textarea>', page, re.S)
    # Django writes a newline after <textarea> (HTML drops the first one): the value follows it.
    return match.group(1).removeprefix("\n") if match else None


# Reading -----------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["commander", "responder", "viewer", "outsider", "security"])
def test_everyone_who_can_see_the_incident_reads_its_review_page(request, as_user, resolved, who):
    response = as_user(request.getfixturevalue(who)).get(page_url(resolved))
    page = text_of(response)
    assert response.status_code == 200
    assert "Chat API down" in page
    assert 'data-testid="metric-resolve"' in page and "3 h 00 min" in page


def test_metrics_show_their_times_and_flag_a_span_that_ends_before_it_starts(as_user, resolved, viewer):
    Incident.objects.filter(pk=resolved.pk).update(
        detected_at=resolved.started_at - timedelta(minutes=5), mitigated_at=None
    )
    page = text_of(as_user(viewer).get(page_url(resolved)))
    detect = re.search(r'data-testid="metric-detect".*?</tr>', page, re.S).group(0)
    assert "ends before it starts" in detect
    mitigate = re.search(r'data-testid="metric-mitigate".*?</tr>', page, re.S).group(0)
    assert "not recorded" in mitigate
    resolve_row = re.search(r'data-testid="metric-resolve".*?</tr>', page, re.S).group(0)
    assert resolved.started_at.strftime("%Y-%m-%d") in resolve_row and "3 h 00 min" in resolve_row


@pytest.mark.parametrize("who", ["viewer", "outsider", "responder"])
def test_a_confidential_incidents_review_and_items_are_404_for_non_members(request, as_user, hidden, who):
    client = as_user(request.getfixturevalue(who))
    item = hidden.action_items.get()
    gets = [page_url(hidden), action(hidden, "edit_item", item.pk)]
    for url in gets:
        assert client.get(url).status_code == 404, url
    posts = [
        (action(hidden, "start"), {}),
        (action(hidden, "save"), {"body": "x", "version": "1"}),
        (action(hidden, "reopen"), {"reason": "r"}),
        (action(hidden, "add_item"), {"title": "t", "priority": "medium"}),
        (action(hidden, "edit_item", item.pk), {"title": "t", "priority": "medium"}),
        (action(hidden, "item_status", item.pk), {"status": "done"}),
    ]
    for url, data in posts:
        for headers in ({}, HTMX):
            response = client.post(url, data, headers=headers)
            assert response.status_code == 404, url
            assert b"Customer table" not in response.content
    item.refresh_from_db()
    assert item.status == ActionItem.Status.OPEN
    assert Review.objects.get(incident=hidden).version == 1


@pytest.mark.parametrize("who", ["commander", "security"])
def test_members_and_the_security_group_read_a_confidential_review(request, as_user, hidden, who):
    page = text_of(as_user(request.getfixturevalue(who)).get(page_url(hidden)))
    assert "Customer table exposed" in page and "Rotate the leaked credentials" in page


# Starting ----------------------------------------------------------------------------------


def test_the_review_waits_for_the_incident_to_be_resolved(as_user, incident, commander):
    client = as_user(commander)
    page = text_of(client.get(page_url(incident)))
    assert "starts once the incident is resolved" in page
    assert "Start the review" not in page
    response = client.post(action(incident, "start"))
    assert response.status_code == 400
    assert "once the incident is resolved" in text_of(response)
    assert not Review.objects.exists()


@pytest.mark.parametrize("who", ["viewer", "outsider"])
def test_readers_see_why_they_cannot_start_the_review(request, as_user, resolved, who):
    client = as_user(request.getfixturevalue(who))
    page = text_of(client.get(page_url(resolved)))
    assert "Start the review" not in page
    assert "responders and commanders start its review" in page
    assert client.post(action(resolved, "start")).status_code == 403
    assert not Review.objects.exists()


def test_responder_can_start_the_review_drafted_from_the_timeline(as_user, resolved, responder, commander):
    client = as_user(responder)
    assert "Start the review" in text_of(client.get(page_url(resolved)))
    response = client.post(action(resolved, "start"), {"owner": str(commander.pk), "meeting_at": "2031-05-04T10:00"})
    assert response.status_code == 302 and response["Location"] == page_url(resolved) + "#review"
    started_review = Review.objects.get(incident=resolved)
    assert started_review.owner == commander and started_review.meeting_at.year == 2031
    page = text_of(client.get(response["Location"]))
    assert "Review started" in page
    assert textarea(page, "body").startswith(f"# Post-incident review: {resolved.reference}")
    assert "Draft" in page and "2031-05-04" in page


def test_starting_with_an_owner_who_cannot_see_the_incident_is_a_form_error(as_user, hidden, commander, outsider):
    other = resolve(services.declare(commander, title="Leak", confidential=True), commander)
    response = as_user(commander).post(action(other, "start"), {"owner": str(outsider.pk)})
    assert response.status_code == 400
    assert "cannot see this confidential incident" in text_of(response)
    assert not Review.objects.filter(incident=other).exists()


def test_a_second_start_shows_the_review_already_started(as_user, resolved, commander, responder):
    started(resolved, commander)
    response = as_user(responder).post(action(resolved, "start"), follow=True)
    assert "started already" in text_of(response)
    assert Review.objects.filter(incident=resolved).count() == 1


# Editing -----------------------------------------------------------------------------------


def test_responder_can_edit_the_review(as_user, resolved, commander, responder):
    started(resolved, commander)
    client = as_user(responder)
    page = text_of(client.get(page_url(resolved)))
    response = client.post(
        action(resolved, "save"),
        {"body": "# Review\r\n\r\nThe **cause** was a bot network.\r\n", "version": form_version(page), "owner": ""},
    )
    assert response.status_code == 302
    saved = Review.objects.get(incident=resolved)
    assert saved.body == "# Review\n\nThe **cause** was a bot network."  # browsers' CRLF stored as LF
    assert saved.version == 2 and saved.updated_by == responder
    page = text_of(client.get(page_url(resolved)))
    assert "Review saved." in page
    assert "<strong>cause</strong>" in response_html(client, resolved)
    assert resolved.timeline.filter(kind=TimelineEntry.Kind.REVIEW, body__startswith="Review edited").exists()


def response_html(client, incident):
    return client.get(page_url(incident)).content.decode()


def test_saving_an_untouched_editor_changes_nothing(as_user, resolved, commander):
    started(resolved, commander, meeting_at=timezone.now().replace(second=42) + timedelta(days=1))
    client = as_user(commander)
    page = text_of(client.get(page_url(resolved)))
    meeting = re.search(r'name="meeting_at" value="([^"]+)"', page).group(1)
    data = {"body": textarea(page, "body").replace("\n", "\r\n"), "version": form_version(page), "meeting_at": meeting}
    assert client.post(action(resolved, "save"), data).status_code == 302
    assert Review.objects.get(incident=resolved).version == 1


def test_a_stale_edit_keeps_the_users_text_and_shows_who_saved_in_between(as_user, resolved, commander, responder):
    started(resolved, commander)
    mine = as_user(commander)
    loaded = form_version(text_of(mine.get(page_url(resolved))))
    theirs = as_user(responder)
    theirs.post(action(resolved, "save"), {"body": "Their version of events", "version": loaded})

    typed = "My careful analysis of the <b>causes</b>,\r\nwritten over an hour."
    response = mine.post(action(resolved, "save"), {"body": typed, "version": loaded})
    page = text_of(response)
    assert response.status_code == 409
    assert (
        textarea(page, "body").replace("\r\n", "\n")
        == "My careful analysis of the <b>causes</b>,\nwritten over an hour."
    )
    assert "resp changed the review" in page and "Your text was not saved" in page
    assert "Their version of events" in page  # shown beside, to merge
    assert Review.objects.get(incident=resolved).body == "Their version of events"
    # The editor now carries the current version: saving again replaces theirs, knowingly.
    assert form_version(page) == "2"
    response = mine.post(action(resolved, "save"), {"body": "Merged text", "version": form_version(page)})
    assert response.status_code == 302
    assert Review.objects.get(incident=resolved).body == "Merged text"


def test_a_bad_meeting_time_is_a_form_error_that_keeps_the_text(as_user, resolved, commander):
    started(resolved, commander)
    client = as_user(commander)
    response = client.post(
        action(resolved, "save"), {"body": "Kept text", "version": "1", "meeting_at": "2024-02-30T00:00"}
    )
    assert response.status_code == 400
    page = text_of(response)
    assert textarea(page, "body") == "Kept text"
    assert 'class="field has-error"' in page
    assert Review.objects.get(incident=resolved).version == 1


def test_a_missing_version_is_an_error_not_a_save(as_user, resolved, commander):
    started(resolved, commander)
    response = as_user(commander).post(action(resolved, "save"), {"body": "No version"})
    assert response.status_code == 400
    assert textarea(text_of(response), "body") == "No version"
    assert Review.objects.get(incident=resolved).body != "No version"


@pytest.mark.parametrize("who", ["viewer", "outsider"])
def test_readers_see_the_draft_without_an_editor_and_cannot_save(request, as_user, resolved, commander, who):
    started(resolved, commander)
    client = as_user(request.getfixturevalue(who))
    page = text_of(client.get(page_url(resolved)))
    assert textarea(page, "body") is None
    assert "A draft: the team is still writing it." in page
    assert client.post(action(resolved, "save"), {"body": "mine", "version": "1"}).status_code == 403
    assert Review.objects.get(incident=resolved).version == 1


def test_the_review_is_rendered_as_sanitised_markdown(as_user, resolved, commander):
    draft = started(resolved, commander)
    review.update_review(
        draft, commander, version=1, body="**bold** <script>alert(1)</script> [x](javascript:alert(2))"
    )
    page = as_user(commander).get(page_url(resolved)).content.decode()
    assert "<strong>bold</strong>" in page
    assert "<script>alert(1)" not in page and 'href="javascript:' not in page


# Publishing and reopening ------------------------------------------------------------------------


def test_commander_can_publish_the_review(as_user, resolved, commander):
    started(resolved, commander)
    client = as_user(commander)
    page = text_of(client.get(page_url(resolved)))
    assert "Save and publish" in page
    response = client.post(action(resolved, "save"), {"body": "# Final", "version": "1", "action": "publish"})
    assert response.status_code == 302
    published = Review.objects.get(incident=resolved)
    assert published.status == Review.Status.PUBLISHED and published.body == "# Final"
    page = text_of(client.get(page_url(resolved)))
    assert "Review published." in page
    assert 'data-testid="published-at"' in page and textarea(page, "body") is None
    assert "<h1>Final</h1>" in client.get(page_url(resolved)).content.decode()
    assert "Reopen the review" in page


def test_a_responder_who_does_not_run_the_review_cannot_publish_it(as_user, resolved, commander, responder):
    started(resolved, commander)
    client = as_user(responder)
    page = text_of(client.get(page_url(resolved)))
    assert "Save and publish" not in page and "commanders and the review's owner publish it" in page
    response = client.post(action(resolved, "save"), {"body": "Sneaky", "version": "1", "action": "publish"})
    assert response.status_code == 403
    draft = Review.objects.get(incident=resolved)
    assert draft.status == Review.Status.DRAFT and draft.body != "Sneaky"  # neither saved nor published


def test_the_reviews_owner_can_publish_it(as_user, resolved, commander, django_user_model):
    owner = make_user(django_user_model, "owner", "responder")
    started(resolved, commander, owner=owner)
    client = as_user(owner)
    assert "Save and publish" in text_of(client.get(page_url(resolved)))
    client.post(action(resolved, "save"), {"body": "Done", "version": "1", "owner": str(owner.pk), "action": "publish"})
    assert Review.objects.get(incident=resolved).status == Review.Status.PUBLISHED


def test_publishing_an_empty_review_keeps_the_editor_with_the_error(as_user, resolved, commander):
    started(resolved, commander)
    response = as_user(commander).post(action(resolved, "save"), {"body": "  ", "version": "1", "action": "publish"})
    assert response.status_code == 400
    assert "Write the review before publishing it." in text_of(response)
    draft = Review.objects.get(incident=resolved)
    assert draft.status == Review.Status.DRAFT and draft.body.startswith("# Post-incident review")


def test_commander_can_reopen_a_published_review_with_a_reason(as_user, resolved, commander):
    review.publish_review(started(resolved, commander), commander)
    client = as_user(commander)
    response = client.post(action(resolved, "reopen"), {"reason": ""})
    assert response.status_code == 400 and "This field is required." in text_of(response)
    assert Review.objects.get(incident=resolved).status == Review.Status.PUBLISHED
    response = client.post(action(resolved, "reopen"), {"reason": "Missed the DNS part"})
    assert response.status_code == 302
    assert Review.objects.get(incident=resolved).status == Review.Status.DRAFT
    assert resolved.timeline.filter(body__contains="Reason: Missed the DNS part").exists()
    assert textarea(text_of(client.get(page_url(resolved))), "body") is not None


@pytest.mark.parametrize("who", ["responder", "viewer"])
def test_only_commanders_and_the_owner_reopen_the_review(request, as_user, resolved, commander, who):
    review.publish_review(started(resolved, commander), commander)
    client = as_user(request.getfixturevalue(who))
    assert "Reopen the review" not in text_of(client.get(page_url(resolved)))
    assert client.post(action(resolved, "reopen"), {"reason": "r"}).status_code == 403
    assert Review.objects.get(incident=resolved).status == Review.Status.PUBLISHED


# Action items ------------------------------------------------------------------------------------


def item_data(**overrides):
    data = {"title": "Rate-limit sign-ups per ASN", "priority": "high", "description": "", "tracker_url": ""}
    data.update(overrides)
    return data


def test_responder_can_add_an_action_item_with_an_owner_and_due_date(as_user, resolved, responder, viewer):
    due = timezone.localdate() + timedelta(days=14)
    client = as_user(responder)
    response = client.post(
        action(resolved, "add_item"),
        item_data(owner=str(viewer.pk), due_on=due.isoformat(), tracker_url="tracker.example/T-42"),
    )
    assert response.status_code == 302 and response["Location"].endswith("#action-items")
    item = ActionItem.objects.get()
    assert (item.title, item.owner, item.due_on, item.priority) == ("Rate-limit sign-ups per ASN", viewer, due, "high")
    assert item.tracker_url == "https://tracker.example/T-42"
    page = text_of(client.get(page_url(resolved)))
    row = re.search(rf'data-testid="item-{item.pk}".*?</tr>', page, re.S).group(0)
    assert "view" in row and due.isoformat() in row and "High" in row and "https://tracker.example/T-42" in row


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("title", "", "This field is required."),
        ("title", "a\x00b", "Null characters are not allowed."),
        ("due_on", "2024-02-30", "Enter a valid date."),
        ("due_on", "2001-01-01", "cannot be due in the past"),
        ("priority", "urgent", "Select a valid choice."),
        ("tracker_url", "ftp://files.example/x", "Give the ticket's http(s) address."),
        ("tracker_url", "javascript:alert(1)", "Enter a valid URL."),
        ("owner", "999999", "Select a valid choice."),
    ],
)
def test_an_action_item_with_bad_input_is_a_form_error_and_nothing_is_stored(
    as_user, resolved, responder, field, value, message
):
    client = as_user(responder)
    response = client.post(action(resolved, "add_item"), item_data(**{field: value}))
    assert response.status_code == 400
    assert message in text_of(response)
    response = client.post(action(resolved, "add_item"), item_data(**{field: value}), headers=HTMX)
    assert response.status_code == 200 and message in text_of(response)
    assert text_of(response).startswith('<section id="action-items"')
    assert not ActionItem.objects.exists()


def test_an_owner_who_cannot_see_the_confidential_incident_is_refused(as_user, hidden, commander, outsider):
    response = as_user(commander).post(action(hidden, "add_item"), item_data(owner=str(outsider.pk)))
    assert response.status_code == 400 and "cannot see this confidential incident" in text_of(response)
    assert hidden.action_items.count() == 1


def test_adding_through_htmx_answers_the_fresh_section(as_user, resolved, responder):
    response = as_user(responder).post(action(resolved, "add_item"), item_data(), headers=HTMX)
    page = text_of(response)
    assert response.status_code == 200
    assert "Action item added: Rate-limit sign-ups per ASN." in page and "1 open" in page
    assert "<html" not in page


@pytest.mark.parametrize("who", ["viewer", "outsider"])
def test_readers_get_no_add_form_and_cannot_add(request, as_user, resolved, who):
    client = as_user(request.getfixturevalue(who))
    assert "Add an action item" not in text_of(client.get(page_url(resolved)))
    assert client.post(action(resolved, "add_item"), item_data()).status_code == 403
    assert not ActionItem.objects.exists()


def test_responder_can_mark_an_item_done_then_reopen_it(as_user, resolved, responder, commander):
    item = review.add_action_item(resolved, commander, title="Add an alert on sign-up rate")
    client = as_user(responder)
    response = client.post(action(resolved, "item_status", item.pk), {"status": "done"})
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.status == ActionItem.Status.DONE and item.completed_by == responder
    page = text_of(client.get(page_url(resolved)))
    assert "Done: Add an alert on sign-up rate." in page and "0 open" in page
    client.post(action(resolved, "item_status", item.pk), {"status": "open"})
    item.refresh_from_db()
    assert item.status == ActionItem.Status.OPEN and item.completed_at is None


def test_an_items_owner_may_mark_it_done_though_only_a_reader(as_user, resolved, commander, viewer):
    item = review.add_action_item(resolved, commander, title="Write the runbook", owner=viewer)
    client = as_user(viewer)
    row = re.search(rf'data-testid="item-{item.pk}".*?</tr>', text_of(client.get(page_url(resolved))), re.S).group(0)
    assert "Mark Write the runbook done" in row
    response = client.post(action(resolved, "item_status", item.pk), {"status": "wont_do"}, headers=HTMX)
    assert response.status_code == 200 and "Won’t do: Write the runbook." in text_of(response)
    assert text_of(response).startswith('<div id="action-item-list"')
    item.refresh_from_db()
    assert item.status == ActionItem.Status.WONT_DO


@pytest.mark.parametrize("who", ["viewer", "outsider"])
def test_readers_cannot_change_someone_elses_item(request, as_user, resolved, commander, who):
    item = review.add_action_item(resolved, commander, title="Add an alert", owner=commander)
    client = as_user(request.getfixturevalue(who))
    assert "Mark Add an alert done" not in text_of(client.get(page_url(resolved)))
    response = client.post(action(resolved, "item_status", item.pk), {"status": "done"}, follow=True)
    assert "may change it" in text_of(response)
    assert client.get(action(resolved, "edit_item", item.pk)).status_code == 403
    assert client.post(action(resolved, "edit_item", item.pk), item_data()).status_code == 403
    item.refresh_from_db()
    assert item.status == ActionItem.Status.OPEN and item.title == "Add an alert"


def test_an_unknown_status_is_an_error_message(as_user, resolved, commander):
    item = review.add_action_item(resolved, commander, title="Add an alert")
    response = as_user(commander).post(action(resolved, "item_status", item.pk), {"status": "finished"}, follow=True)
    assert "Choose done, won’t do or open." in text_of(response)
    item.refresh_from_db()
    assert item.status == ActionItem.Status.OPEN


def test_responder_can_edit_an_item_and_the_change_is_logged(as_user, resolved, responder, commander):
    item = review.add_action_item(resolved, commander, title="Add an alert", priority="low")
    client = as_user(responder)
    page = text_of(client.get(action(resolved, "edit_item", item.pk)))
    assert 'value="Add an alert"' in page
    due = timezone.localdate() - timedelta(days=1)  # an existing item may be late
    response = client.post(
        action(resolved, "edit_item", item.pk),
        item_data(title="Alert on the sign-up rate", owner=str(responder.pk), due_on=due.isoformat(), priority="high"),
    )
    assert response.status_code == 302
    item.refresh_from_db()
    assert (item.title, item.owner, item.due_on, item.priority) == ("Alert on the sign-up rate", responder, due, "high")
    assert resolved.timeline.filter(body__startswith="Action item changed").exists()
    row = re.search(rf'data-testid="item-{item.pk}".*?</tr>', text_of(client.get(page_url(resolved))), re.S).group(0)
    assert 'class="overdue"' in row and "overdue" in row


def test_editing_an_item_with_bad_input_keeps_it(as_user, resolved, commander):
    item = review.add_action_item(resolved, commander, title="Add an alert")
    response = as_user(commander).post(action(resolved, "edit_item", item.pk), item_data(title=""))
    assert response.status_code == 400 and "This field is required." in text_of(response)
    item.refresh_from_db()
    assert item.title == "Add an alert"


def test_an_item_of_another_incident_cannot_be_reached_through_this_one(as_user, resolved, hidden, commander):
    other_item = hidden.action_items.get()
    client = as_user(commander)  # sees both incidents
    assert client.get(action(resolved, "edit_item", other_item.pk)).status_code == 404
    assert client.post(action(resolved, "item_status", other_item.pk), {"status": "done"}).status_code == 404
    other_item.refresh_from_db()
    assert other_item.status == ActionItem.Status.OPEN


def test_after_a_status_change_a_safe_next_is_followed_and_another_host_is_not(as_user, resolved, commander):
    item = review.add_action_item(resolved, commander, title="Add an alert")
    client = as_user(commander)
    url = action(resolved, "item_status", item.pk)
    assert client.post(url, {"status": "done", "next": "/follow-ups/?mine=1"})["Location"] == "/follow-ups/?mine=1"
    response = client.post(url, {"status": "open", "next": "//evil.example/"})
    assert response["Location"] == page_url(resolved) + "#action-items"


# Follow-ups --------------------------------------------------------------------------------------


def follow_ups(client, **params):
    response = client.get(reverse("followups:list"), params)
    return response, text_of(response)


def test_follow_ups_list_open_items_across_incidents_soonest_due_first(as_user, resolved, declare, commander, viewer):
    other = resolve(declare(title="Login slow", severity=3), commander)
    today = timezone.localdate()
    later = review.add_action_item(resolved, commander, title="Later item", due_on=today + timedelta(days=30))
    sooner = review.add_action_item(other, commander, title="Sooner item", due_on=today + timedelta(days=2))
    undated = review.add_action_item(other, commander, title="Undated item")
    done = review.add_action_item(resolved, commander, title="Finished item")
    review.update_action_item(done, commander, status="done")
    response, page = follow_ups(as_user(viewer))
    assert response.status_code == 200
    assert page.index("Sooner item") < page.index("Later item") < page.index("Undated item")
    assert "Finished item" not in page
    assert f"{other.reference}</a> Login slow" in page
    assert f'href="/incidents/{resolved.key}/review/#item-{later.pk}"' in page
    assert sooner.pk and undated.pk


def test_follow_ups_filter_by_status_owner_and_overdue(as_user, resolved, commander, responder):
    today = timezone.localdate()
    mine = review.add_action_item(resolved, commander, title="Mine and late", owner=responder, due_on=today)
    review.update_action_item(mine, commander, due_on=today - timedelta(days=3))
    review.add_action_item(resolved, commander, title="Someone else's", owner=commander, due_on=today)
    done = review.add_action_item(resolved, commander, title="Done already", owner=responder)
    review.update_action_item(done, responder, status="done")
    dropped = review.add_action_item(resolved, commander, title="Dropped one")
    review.update_action_item(dropped, commander, status="wont_do")
    client = as_user(responder)

    _r, page = follow_ups(client, mine="1")
    assert "Mine and late" in page and "Someone else's" not in page and "Done already" not in page
    _r, page = follow_ups(client, overdue="1")
    assert "Mine and late" in page and "Someone else's" not in page
    assert re.search(r'<time [^>]*class="overdue"', page)
    _r, page = follow_ups(client, status="done")
    assert "Done already" in page and "Mine and late" not in page and "Dropped one" not in page
    _r, page = follow_ups(client, status="all")
    assert all(t in page for t in ("Mine and late", "Someone else's", "Done already", "Dropped one"))
    _r, page = follow_ups(client, status="done", mine="1")
    assert "Done already" in page and "Dropped one" not in page


def test_an_odd_follow_up_filter_is_a_400_with_the_error(as_user, responder, resolved):
    response, page = follow_ups(as_user(responder), status="finished")
    assert response.status_code == 400 and "Select a valid choice" in page
    assert as_user(responder).get(reverse("followups:list"), {"page": "9" * 50}).status_code == 200


@pytest.mark.parametrize("who", ["viewer", "outsider", "responder"])
def test_follow_ups_never_show_a_confidential_incidents_items_to_non_members(request, as_user, hidden, who):
    for params in ({}, {"status": "all"}, {"overdue": "1"}):
        _r, page = follow_ups(as_user(request.getfixturevalue(who)), **params)
        assert "Rotate the leaked credentials" not in page and "Customer table" not in page


@pytest.mark.parametrize("who", ["commander", "security"])
def test_follow_ups_show_a_confidential_incidents_items_to_members_and_security(request, as_user, hidden, who):
    _r, page = follow_ups(as_user(request.getfixturevalue(who)))
    assert "Rotate the leaked credentials" in page


def test_marking_done_from_the_follow_ups_page_comes_back_to_it(as_user, resolved, commander, viewer):
    item = review.add_action_item(resolved, commander, title="Mine to do", owner=viewer)
    client = as_user(viewer)
    _r, page = follow_ups(client, mine="1")
    next_url = re.search(r'name="next" value="([^"]+)"', page).group(1)
    response = client.post(action(resolved, "item_status", item.pk), {"status": "done", "next": next_url})
    assert response["Location"] == "/follow-ups/?mine=1"
    item.refresh_from_db()
    assert item.status == ActionItem.Status.DONE


# Reviews -----------------------------------------------------------------------------------------


def reviews_page(client, **params):
    response = client.get(reverse("reviews:list"), params)
    return response, text_of(response)


def test_reviews_list_ended_incidents_with_their_review_and_open_items(as_user, resolved, declare, commander, viewer):
    draft = started(resolved, commander)
    review.add_action_item(resolved, commander, title="One")
    review.add_action_item(resolved, commander, title="Two")
    published = resolve(declare(title="Published one", severity=2), commander, hours=1)
    review.publish_review(started(published, commander), commander)
    none_yet = resolve(declare(title="Not reviewed", severity=2), commander, hours=5)
    still_open = declare(title="Still burning")
    response, page = reviews_page(as_user(viewer))
    assert response.status_code == 200
    rows = {i.pk: re.search(rf'data-testid="review-row-{i.pk}".*?</tr>', page, re.S) for i in (resolved, published)}
    assert ">draft<" in rows[resolved.pk].group(0) and "<td>2</td>" in rows[resolved.pk].group(0)
    assert ">published<" in rows[published.pk].group(0)
    assert "Not reviewed" in page and "Still burning" not in page
    assert "3 h 00 min" in rows[resolved.pk].group(0)
    # Medians per severity: SEV2 has 1 h and 5 h to resolve, median 3 h.
    sev2 = re.search(r'data-testid="summary-sev2".*?</tr>', page, re.S).group(0)
    assert "<td>2</td>" in sev2 and "3 h 00 min" in sev2
    assert draft.pk and none_yet.pk and still_open.pk


def test_reviews_period_is_selectable(as_user, resolved, declare, commander):
    old = resolve(declare(title="Long ago"), commander)
    Incident.objects.filter(pk=old.pk).update(resolved_at=timezone.now() - timedelta(days=200))
    client = as_user(commander)
    _r, page = reviews_page(client)
    assert "Chat API down" in page and "Long ago" not in page
    _r, page = reviews_page(client, days="365")
    assert "Chat API down" in page and "Long ago" in page
    _r, page = reviews_page(client, days="30")
    assert "Chat API down" in page and "Long ago" not in page
    response, _page = reviews_page(client, days="7")
    assert response.status_code == 400


@pytest.mark.parametrize("who", ["viewer", "outsider", "responder"])
def test_reviews_never_show_a_confidential_incident_to_non_members(request, as_user, hidden, who):
    _r, page = reviews_page(as_user(request.getfixturevalue(who)))
    assert "Customer table" not in page
    assert 'data-testid="summary-sev' not in page  # not even counted in the medians


@pytest.mark.parametrize("who", ["commander", "security"])
def test_reviews_show_a_confidential_incident_to_members_and_security(request, as_user, hidden, who):
    _r, page = reviews_page(as_user(request.getfixturevalue(who)))
    assert "Customer table exposed" in page


# The war-room page and the navigation ------------------------------------------------------------


def test_the_war_room_links_to_follow_ups_then_to_the_review_once_resolved(as_user, incident, commander, viewer):
    client = as_user(viewer)
    link = re.search(r'<a [^>]*data-testid="review-link">(.*?)</a>', text_of(client.get(incident.get_absolute_url())))
    assert link.group(1) == "Follow-ups"  # action items may be added during the response
    assert f'href="/incidents/{incident.key}/review/#action-items"' in link.group(0)
    resolve(incident, commander)
    link = re.search(r'<a [^>]*data-testid="review-link">(.*?)</a>', text_of(client.get(incident.get_absolute_url())))
    assert link.group(1) == "Review: not started"
    started(incident, commander)
    review.add_action_item(incident, commander, title="One")
    link = re.search(r'<a [^>]*data-testid="review-link">(.*?)</a>', text_of(client.get(incident.get_absolute_url())))
    assert link.group(1) == "Review: draft · 1 open action item"
    assert f'href="/incidents/{incident.key}/review/"' in link.group(0)


def test_the_site_navigation_links_follow_ups_and_reviews(as_user, viewer):
    page = text_of(as_user(viewer).get(reverse("incidents:list")))
    assert 'href="/follow-ups/"' in page and 'href="/reviews/"' in page


def test_the_pages_need_a_sign_in(client, resolved):
    for url in (page_url(resolved), reverse("followups:list"), reverse("reviews:list")):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]


# Query counts ------------------------------------------------------------------------------------


def add_items(incident, by, owners, count):
    today = timezone.localdate()
    for i in range(count):
        review.add_action_item(
            incident,
            by,
            title=f"item {i}",
            owner=owners[i % len(owners)],
            due_on=today + timedelta(days=i % 5),
            priority=["high", "medium", "low"][i % 3],
            tracker_url=f"https://tracker.example/T-{i}",
        )


def test_review_page_queries_do_not_grow_with_the_action_items(
    as_user, resolved, commander, responder, viewer, django_assert_max_num_queries
):
    started(resolved, commander)
    add_items(resolved, commander, [commander, responder, viewer], 3)
    for user in (commander, viewer):
        client = as_user(user)
        client.get(page_url(resolved))
        small = count_queries(client, page_url(resolved))
        add_items(resolved, commander, [commander, responder, viewer], 30) if user is commander else None
        assert count_queries(client, page_url(resolved)) == small
        with django_assert_max_num_queries(12):
            client.get(page_url(resolved))


def add_incidents(by, members, count, service=None):
    """Resolved incidents, each with a review and two action items."""
    made = []
    for i in range(count):
        incident = services.declare(by, title=f"bulk {i}", severity=1 + i % 4, confidential=i % 5 == 0)
        Membership.objects.bulk_create(Membership(incident=incident, user=m, role="observer") for m in members)
        resolve(incident, by, hours=1 + i % 4)
        if i % 2:
            started(incident, by)
        add_items(incident, by, [by, *members], 2)
        made.append(incident)
    return made


def test_follow_ups_queries_do_not_grow_with_the_rows(
    as_user, commander, responder, outsider, security, django_assert_max_num_queries
):
    add_incidents(commander, [responder], 3)
    for user in (commander, responder, outsider, security):
        client = as_user(user)
        url = reverse("followups:list")
        client.get(url)
        small = count_queries(client, url)
        small_mine = count_queries(client, url + "?status=all&mine=1")
        add_incidents(commander, [responder], 30) if user is commander else None
        assert count_queries(client, url) == small
        assert count_queries(client, url + "?status=all&mine=1") == small_mine
        with django_assert_max_num_queries(8):
            client.get(url)


def test_reviews_queries_do_not_grow_with_the_rows(
    as_user, commander, responder, outsider, security, django_assert_max_num_queries
):
    add_incidents(commander, [responder], 3)
    for user in (commander, responder, outsider, security):
        client = as_user(user)
        url = reverse("reviews:list")
        client.get(url)
        small = count_queries(client, url)
        add_incidents(commander, [responder], 30) if user is commander else None
        assert count_queries(client, url) == small
        with django_assert_max_num_queries(8):
            client.get(url)


def test_the_war_room_review_link_costs_no_query(as_user, resolved, commander, django_assert_max_num_queries):
    client = as_user(commander)
    client.get(resolved.get_absolute_url())
    before = count_queries(client, resolved.get_absolute_url())
    started(resolved, commander)
    add_items(resolved, commander, [commander], 5)
    assert count_queries(client, resolved.get_absolute_url()) == before


# Odd input ---------------------------------------------------------------------------------------

ODD = ["", "a\x00b", "x" * 250_000, "9" * 5000, "-1", "²", "nan", "2024-02-30T00:00", "0001-01-01T00:00", "9999-12-31"]


def test_no_odd_value_in_a_review_form_makes_a_500(resolved, django_user_model):
    root = make_user(django_user_model, "root", is_superuser=True)
    client = Client(raise_request_exception=False)
    client.force_login(root)
    item = review.add_action_item(resolved, root, title="t")
    forms = [
        (action(resolved, "save"), ["body", "version", "owner", "meeting_at", "action"], {"body": "b", "version": "1"}),
        (action(resolved, "reopen"), ["reason"], {}),
        (action(resolved, "add_item"), ["title", "owner", "due_on", "priority", "tracker_url", "description"], {}),
        (action(resolved, "edit_item", item.pk), ["title", "owner", "due_on", "priority", "tracker_url"], {}),
        (action(resolved, "item_status", item.pk), ["status", "next"], {"status": "done"}),
    ]
    failures = []
    client.post(action(resolved, "start"), {"meeting_at": "9999-12-31T23:59"})  # odd, then a real start
    client.post(action(resolved, "start"), {"owner": "²"})
    client.post(action(resolved, "start"))
    assert Review.objects.filter(incident=resolved).exists()
    for url, fields, base in forms:
        for field in fields:
            for value in ODD:
                for headers in ({}, HTMX):
                    status = client.post(url, {**base, field: value}, headers=headers).status_code
                    if status >= 500:
                        failures.append((url, field, repr(value)[:20]))
    for url, params in [
        (reverse("followups:list"), ["status", "mine", "overdue", "page"]),
        (reverse("reviews:list"), ["days", "page"]),
    ]:
        for param in params:
            for value in ODD:
                if client.get(url, {param: value}).status_code >= 500:
                    failures.append((url, param, repr(value)[:20]))
    assert failures == [], failures


# Export ------------------------------------------------------------------------------------------


def test_a_reader_downloads_the_review_with_its_action_items_as_markdown(as_user, incident, commander, viewer):
    resolve(incident, commander)
    started(incident, commander)
    review.add_action_item(
        incident, commander, title="Alert on sign-up spikes", owner=commander, priority="high",
        tracker_url="https://tracker.example.com/OPS-7",
    )  # fmt: skip
    done = review.add_action_item(incident, commander, title="Write the DDoS runbook")
    review.update_action_item(done, commander, status="done")
    response = as_user(viewer).get(reverse("incidents:review:export", args=[incident.key]))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="INC-{incident.pk}-review.md"'
    text = response.content.decode()
    assert text.startswith(f"# Post-incident review: INC-{incident.pk}")
    assert "- [ ] Alert on sign-up spikes: owner cmdr, high priority (https://tracker.example.com/OPS-7)" in text
    assert "- [x] Write the DDoS runbook: no owner, medium priority" in text


def test_the_export_of_a_review_not_started_or_of_a_hidden_incident_is_404(
    as_user, incident, confidential, commander, viewer
):
    assert as_user(viewer).get(reverse("incidents:review:export", args=[incident.key])).status_code == 404
    resolve(confidential, commander)
    started(confidential, commander)
    url = reverse("incidents:review:export", args=[confidential.key])
    assert as_user(commander).get(url).status_code == 200
    assert as_user(viewer).get(url).status_code == 404


def test_the_live_poll_keeps_the_review_link_state(as_user, incident, commander, viewer):
    resolve(incident, commander)
    started(incident, commander)
    review.add_action_item(incident, commander, title="One")
    live = as_user(viewer).get(reverse("incidents:live", args=[incident.key]), {"v": 0, "after": 0})
    link = re.search(r'<a [^>]*data-testid="review-link">(.*?)</a>', text_of(live))
    assert link.group(1) == "Review: draft · 1 open action item"


def test_an_owner_without_a_role_marks_their_item_done_but_cannot_edit_it(as_user, incident, commander, viewer):
    item = review.add_action_item(incident, commander, title="Alert on spikes", owner=viewer)
    client = as_user(viewer)
    page = text_of(client.get(page_url(incident)))
    assert f'href="{reverse("incidents:review:edit_item", args=[incident.key, item.pk])}"' not in page
    assert reverse("incidents:review:item_status", args=[incident.key, item.pk]) in page
    edit = reverse("incidents:review:edit_item", args=[incident.key, item.pk])
    assert client.post(edit, {"title": "Nothing to do", "priority": "low"}).status_code == 403
    client.post(reverse("incidents:review:item_status", args=[incident.key, item.pk]), {"status": "done"})
    item.refresh_from_db()
    assert (item.title, item.status) == ("Alert on spikes", "done")


def test_editing_an_item_of_a_deactivated_owner_keeps_the_owner(as_user, incident, commander, django_user_model):
    leaver = make_user(django_user_model, "leaver", "responder")
    item = review.add_action_item(incident, commander, title="Edge rules as code", owner=leaver)
    leaver.is_active = False
    leaver.save()
    edit = reverse("incidents:review:edit_item", args=[incident.key, item.pk])
    response = as_user(commander).post(
        edit, {"title": "Edge rules as code, reviewed", "priority": "medium", "owner": str(leaver.pk)}
    )
    assert response.status_code == 302
    item.refresh_from_db()
    assert (item.title, item.owner) == ("Edge rules as code, reviewed", leaver)


def test_overdue_means_past_the_due_day_in_the_sites_zone_for_every_viewer(
    as_user, incident, commander, time_machine, settings
):
    settings.TIME_ZONE = "UTC"
    time_machine.move_to(datetime(2026, 3, 2, 12, 0, tzinfo=UTC), tick=False)
    review.add_action_item(incident, commander, title="Due today", due_on=date(2026, 3, 2))
    time_machine.move_to(datetime(2026, 3, 2, 23, 30, tzinfo=UTC), tick=False)  # already the 3rd in Tokyo
    client = as_user(commander)
    client.cookies["tz"] = "Asia/Tokyo"
    page = text_of(client.get(reverse("followups:list"), {"overdue": "on"}))
    assert "Due today" not in page
    time_machine.move_to(datetime(2026, 3, 3, 0, 30, tzinfo=UTC), tick=False)
    assert "Due today" in text_of(client.get(reverse("followups:list"), {"overdue": "on"}))


def test_follow_ups_go_on_to_a_second_page_keeping_the_filter(as_user, incident, commander):
    ActionItem.objects.bulk_create(
        ActionItem(incident=incident, title=f"Item {n}", owner=commander, created_by=commander) for n in range(51)
    )
    page = text_of(as_user(commander).get(reverse("followups:list"), {"mine": "on"}))
    assert "Page 1 of 2" in page
    assert 'href="?mine=on&page=2">Next</a>' in page
    second = text_of(as_user(commander).get(reverse("followups:list"), {"mine": "on", "page": 2}))
    assert "Page 2 of 2" in second and ">Previous</a>" in second
