"""Post-incident review and action items: the domain operations (incidents.review.services)."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from incidents import services
from incidents.models import ActionItem, Review, TimelineEntry
from incidents.review import services as review
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def resolved(declare, commander, api_service):
    started = timezone.now() - timedelta(hours=3)
    incident = declare(title="Chat API down", severity=1, started_at=started)
    services.add_impact(incident, commander, service=api_service, level="major_outage", regions=["EU"])
    services.acknowledge(incident, commander)
    services.log_entry(incident, commander, "Blocked the bot network at the edge")
    services.change_status(incident, "resolved", commander)
    incident.refresh_from_db()
    return incident


def test_the_draft_is_written_from_the_incidents_record(resolved, commander):
    started = review.start_review(resolved, commander)
    body = started.body
    assert body.startswith(f"# Post-incident review: {resolved.reference} Chat API down")
    assert "Public API: major outage in EU" in body
    assert "Blocked the bot network at the edge (cmdr)" in body
    assert "| Time to resolve | impact started" in body
    assert "## Causes and contributing factors" in body
    assert started.status == Review.Status.DRAFT
    assert resolved.timeline.filter(kind=TimelineEntry.Kind.REVIEW).count() == 1


def test_metrics_count_from_the_incidents_times(resolved):
    by_key = {m.key: m for m in review.metrics(resolved)}
    assert by_key["resolve"].duration == resolved.resolved_at - resolved.started_at
    assert by_key["acknowledge"].duration == resolved.acknowledged_at - resolved.declared_at
    resolved.mitigated_at = None  # never recorded
    mitigate = review.metrics(resolved)[2]
    assert mitigate.duration is None
    assert mitigate.shown == "—"


def test_a_metric_whose_end_comes_first_is_flagged_not_negative(resolved):
    resolved.detected_at = resolved.started_at - timedelta(minutes=5)
    detect = review.metrics(resolved)[0]
    assert detect.duration is None
    assert "ends before it starts" in detect.problem


def test_the_summary_gives_medians_per_severity(resolved, declare, commander):
    other = declare(title="Slow", severity=1, started_at=timezone.now() - timedelta(hours=1))
    services.change_status(other, "resolved", commander)
    other.refresh_from_db()
    (row,) = review.summary([resolved, other])
    assert row["severity"] == 1 and row["count"] == 2
    expected = ((resolved.resolved_at - resolved.started_at) + (other.resolved_at - other.started_at)) / 2
    assert row["medians"]["resolve"] == expected


def test_a_review_waits_for_the_incident_to_be_resolved(incident, commander):
    with pytest.raises(ValidationError) as error:
        review.start_review(incident, commander)
    assert "incident" in error.value.message_dict


def test_a_review_is_started_once(resolved, commander):
    review.start_review(resolved, commander)
    with pytest.raises(ValidationError):
        review.start_review(resolved, commander)


def test_a_viewer_cannot_start_or_edit_the_review(resolved, commander, viewer):
    with pytest.raises(PermissionDenied):
        review.start_review(resolved, viewer)
    started = review.start_review(resolved, commander)
    with pytest.raises(PermissionDenied):
        review.update_review(started, viewer, version=started.version, body="mine")


def test_an_edit_on_an_older_version_is_refused_and_changes_nothing(resolved, commander, responder):
    started = review.start_review(resolved, commander)
    loaded = started.version
    review.update_review(started, responder, version=loaded, body="First edit")
    with pytest.raises(review.StaleReview) as error:
        review.update_review(started, commander, version=loaded, body="Second edit")
    assert "resp changed the review" in error.value.message_dict["version"][0]
    started.refresh_from_db()
    assert started.body == "First edit"
    assert started.version == loaded + 1


def test_publishing_logs_and_locks_the_review_until_reopened(resolved, commander, responder):
    started = review.start_review(resolved, commander)
    review.add_action_item(resolved, responder, title="Rate-limit sign-ups per ASN")
    with pytest.raises(PermissionDenied):
        review.publish_review(started, responder)
    published = review.publish_review(started, commander)
    assert published.status == Review.Status.PUBLISHED and published.published_at
    entry = resolved.timeline.filter(kind=TimelineEntry.Kind.REVIEW).last()
    assert entry.body == "Post-incident review published (1 open action item)."
    with pytest.raises(ValidationError):
        review.update_review(published, commander, version=published.version, body="late")
    with pytest.raises(ValidationError) as error:
        review.reopen_review(published, commander, reason="")
    assert "reason" in error.value.message_dict
    reopened = review.reopen_review(published, commander, reason="Missed the DNS part")
    assert reopened.status == Review.Status.DRAFT and reopened.published_at is None


def test_the_reviews_owner_may_publish_it(resolved, commander, django_user_model):
    owner = make_user(django_user_model, "owner", "responder")
    started = review.start_review(resolved, commander, owner=owner)
    assert review.publish_review(started, owner).status == Review.Status.PUBLISHED


def test_an_action_item_is_logged_with_its_owner_and_due_date(resolved, responder):
    due = timezone.localdate() + timedelta(days=14)
    item = review.add_action_item(resolved, responder, title="Alert on sign-up spikes", owner=responder, due_on=due)
    entry = resolved.timeline.last()
    assert entry.body == f"Action item added: **Alert on sign-up spikes**, owner resp, due {due.isoformat()}."
    assert entry.data["action_item"] == item.pk
    assert {c["field"] for c in entry.data["changes"]} == {"title", "owner", "due_on", "priority"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", "  "),
        ("due_on", "tomorrow"),
        ("priority", "urgent"),
        ("tracker_url", "javascript:alert(1)"),
        ("description", "bad\x00byte"),
    ],
)
def test_bad_action_item_input_names_the_field(resolved, responder, field, value):
    values = {"title": "Fix it", field: value}
    with pytest.raises(ValidationError) as error:
        review.add_action_item(resolved, responder, **values)
    assert field in error.value.message_dict
    assert not ActionItem.objects.exists()


def test_a_new_action_item_cannot_be_due_in_the_past(resolved, responder):
    with pytest.raises(ValidationError) as error:
        review.add_action_item(resolved, responder, title="x", due_on=timezone.localdate() - timedelta(days=1))
    assert "due_on" in error.value.message_dict


def test_the_owner_of_a_confidential_action_item_must_see_the_incident(confidential, commander, viewer):
    with pytest.raises(ValidationError) as error:
        review.add_action_item(confidential, commander, title="Rotate keys", owner=viewer)
    assert "cannot see this confidential incident" in error.value.message_dict["owner"][0]


def test_the_owner_marks_their_item_done_and_can_reopen_it(resolved, commander, viewer):
    item = review.add_action_item(resolved, commander, title="Write the DDoS runbook", owner=viewer)
    done = review.update_action_item(item, viewer, status="done")
    assert done.status == "done" and done.completed_by == viewer and done.completed_at
    assert resolved.timeline.last().body == "Action item done: **Write the DDoS runbook**."
    reopened = review.update_action_item(done, viewer, status="open")
    assert reopened.completed_at is None and reopened.completed_by is None


def test_someone_else_without_a_role_cannot_change_an_item(resolved, commander, viewer, outsider):
    item = review.add_action_item(resolved, commander, title="x", owner=viewer)
    with pytest.raises(PermissionDenied):
        review.update_action_item(item, outsider, status="done")


def test_changing_an_item_logs_old_and_new_values(resolved, commander, responder):
    item = review.add_action_item(resolved, commander, title="x")
    review.update_action_item(item, commander, owner=responder, priority="high")
    entry = resolved.timeline.last()
    assert entry.body == "Action item changed: **x**: owner: unset → resp; priority: medium → high"
    assert entry.data["old"] == {"owner": None, "priority": "medium"}
    assert entry.data["new"] == {"owner": "resp", "priority": "high"}


def test_action_items_are_scoped_like_their_incidents(confidential, resolved, commander, viewer, security):
    review.add_action_item(confidential, commander, title="Rotate keys")
    review.add_action_item(resolved, commander, title="Add capacity")
    assert [i.title for i in review.action_items_visible_to(viewer)] == ["Add capacity"]
    assert review.action_items_visible_to(security).count() == 2


def test_an_item_whose_owner_left_can_still_be_marked_done(resolved, commander, django_user_model):
    leaver = make_user(django_user_model, "leaver", "responder")
    item = review.add_action_item(resolved, commander, title="Move the edge rules to code", owner=leaver)
    leaver.is_active = False
    leaver.save()
    item.refresh_from_db()
    assert review.update_action_item(item, commander, status="done").status == "done"
    assert review.update_action_item(item, commander, title="Edge rules as code").title == "Edge rules as code"
    other = review.add_action_item(resolved, commander, title="Another")
    with pytest.raises(ValidationError) as error:
        review.update_action_item(other, commander, owner=leaver)
    assert "deactivated" in error.value.message_dict["owner"][0]


def test_an_owner_without_a_role_may_only_mark_their_item_done(resolved, commander, viewer):
    item = review.add_action_item(resolved, commander, title="Alert on sign-up spikes", owner=viewer)
    with pytest.raises(PermissionDenied):
        review.update_action_item(item, viewer, due_on=timezone.localdate() + timedelta(days=900))
    with pytest.raises(PermissionDenied):
        review.update_action_item(item, viewer, owner=None)
    item.refresh_from_db()
    assert item.owner == viewer and item.due_on is None
    assert review.update_action_item(item, viewer, status="done").status == "done"


def test_a_review_owner_without_a_role_may_publish_it(resolved, commander, viewer):
    started = review.start_review(resolved, commander, owner=viewer)
    assert review.publish_review(started, viewer).status == Review.Status.PUBLISHED


@pytest.mark.parametrize("year", [1899, 3000, 9999])
def test_a_far_off_meeting_time_is_refused(resolved, commander, year):
    far = timezone.now().replace(year=year, month=12, day=31)
    with pytest.raises(ValidationError) as error:
        review.start_review(resolved, commander, meeting_at=far)
    assert "meeting_at" in error.value.message_dict
    started = review.start_review(resolved, commander)
    with pytest.raises(ValidationError):
        review.update_review(started, commander, version=started.version, meeting_at=far)


def test_the_draft_gives_times_in_the_sites_zone_whoever_starts_it(resolved, commander, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    with timezone.override("America/Los_Angeles"):  # the starter's browser zone
        started = review.start_review(resolved, commander)
    assert "times in Europe/Berlin" in started.body
    assert timezone.localtime(resolved.declared_at, timezone.get_default_timezone()).strftime("%H:%M") in started.body
