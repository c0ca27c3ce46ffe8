"""After "Submit for review" the people who may approve are told (inbox, e-mail as they chose,
the incident's webhooks), once per submission and on commit; they find the update on their
"Awaiting my approval" list and through the header's "To approve" count; the timeline line
links to the draft; approving, sending back or discarding takes it off the list and marks
their inbox entry read. Its author sees no Approve button, and is told who can approve."""

import html

import pytest
from django.core import mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from incidents import services
from incidents.comms import services as communications
from incidents.models import (
    IncidentWebhook,
    NotificationDelivery,
    NotificationPreference,
    UserNotification,
)
from incidents.reminders import delivery as notify
from tests.conftest import make_user

pytestmark = pytest.mark.django_db
Kind = UserNotification.Kind


@pytest.fixture
def team(django_user_model):
    people = {
        "sam": make_user(django_user_model, "sam", "comms", email="sam@example.com"),
        "kim": make_user(django_user_model, "kim", "comms", email="kim@example.com"),
        "lee": make_user(django_user_model, "lee", "comms", email="lee@example.com"),
    }
    return type("Team", (), people)


def submitted(incident, author, body="We are investigating errors on the API.", audience="status_page", editor=None):
    comm = communications.draft(incident, author, audience=audience, body=body)
    if editor is not None:
        communications.edit(comm, editor, body=body + " More soon.")
    return communications.submit(comm, author)


def told(kind=Kind.APPROVAL_REQUESTED):
    return set(UserNotification.objects.filter(kind=kind).values_list("user__username", flat=True))


def page(client, url):
    return html.unescape(client.get(url).content.decode())


# Who is told ------------------------------------------------------------------------------------


def test_submitting_tells_the_comms_members_who_may_approve_and_not_its_writers(incident, team, commander, viewer):
    comm = submitted(incident, team.sam, editor=team.lee)
    assert told() == {"kim"}  # not sam (author), lee (changed it), the commander group or a viewer
    note = UserNotification.objects.get(user=team.kim)
    assert note.url.endswith(reverse("incidents:comms:detail", args=[incident.key, comm.pk]))
    assert incident.reference in note.title and "sam" in note.body
    assert note.incident_id == incident.pk and note.read_at is None


def test_the_incidents_comms_lead_is_told_too(incident, team, commander, responder):
    services.assign_role(incident, responder, "comms_lead", commander)
    submitted(incident, team.sam)
    assert told() == {"kim", "lee", "resp"}


def test_a_confidential_incident_tells_only_its_members(confidential, team, commander):
    services.assign_role(confidential, team.sam, "comms_lead", commander)
    services.assign_role(confidential, team.kim, "observer", commander)
    submitted(confidential, team.sam)
    assert told() == {"kim"}  # lee is in comms but not on the incident


def test_one_submission_tells_each_approver_once_and_a_new_submission_again(incident, team):
    comm = submitted(incident, team.sam)
    # The signal again for the same submission (a retried receiver): nothing new.
    from incidents.reminders.receivers import tell_approvers

    tell_approvers(None, communication=comm, old="draft", new="in_review", by=team.sam)
    assert UserNotification.objects.filter(kind=Kind.APPROVAL_REQUESTED).count() == 2
    communications.send_back(comm, team.kim)
    communications.edit(comm, team.sam, body="Errors on the API are falling.")
    communications.submit(comm, team.sam)
    assert UserNotification.objects.filter(user=team.kim, kind=Kind.APPROVAL_REQUESTED).count() == 2


def test_email_goes_to_approvers_who_want_it_once_the_submission_commits(
    incident, team, django_capture_on_commit_callbacks
):
    NotificationPreference.objects.create(user=team.lee, email=False)
    hook = IncidentWebhook.objects.create(incident=incident, url="https://hooks.example.com/comms")
    comm = communications.draft(incident, team.sam, audience="status_page", body="We are investigating.")
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        communications.submit(comm, team.sam)
    emails = NotificationDelivery.objects.filter(channel=NotificationDelivery.Channel.EMAIL)
    assert set(emails.values_list("notification__user__username", flat=True)) == {"kim"}
    webhook = NotificationDelivery.objects.get(webhook=hook)
    assert webhook.payload["kind"] == "approval_requested" and set(webhook.payload["to"]) == {"kim", "lee"}
    # Nothing is sent inside the transaction: the delivery task for the e-mail row is queued
    # by an on-commit callback (outbox.enqueue's, which carries the row ids); what it then does:
    email_id = emails.get().pk
    assert mail.outbox == []
    assert any(getattr(c, "__defaults__", None) == ([email_id],) for c in callbacks)
    notify.deliver([email_id])
    (message,) = mail.outbox
    assert message.to == ["kim@example.com"] and "awaits your approval" in message.subject
    assert reverse("incidents:comms:detail", args=[incident.key, comm.pk]) in message.body


def test_a_failed_submission_tells_nobody(incident, team):
    comm = communications.draft(incident, team.sam, audience="status_page", body="We are investigating.")
    with pytest.raises(RuntimeError), transaction.atomic():
        communications.submit(comm, team.sam)
        raise RuntimeError("the request failed after submitting")
    assert told() == set()


# The list and the header ------------------------------------------------------------------------


def test_awaiting_my_approval_lists_what_i_may_approve_newest_first(as_user, incident, declare, team, time_machine):
    time_machine.move_to(timezone.now(), tick=False)
    older = submitted(incident, team.sam, body="First update.")
    time_machine.shift(60)
    other = declare(title="Sign-up refuses phone numbers")
    newer = submitted(other, team.sam, body="Second update.")
    text = page(as_user(team.kim), reverse("comms:awaiting"))
    first, second = text.index(f'data-testid="awaiting-{newer.pk}"'), text.index(f'data-testid="awaiting-{older.pk}"')
    assert first < second
    assert reverse("incidents:comms:detail", args=[incident.key, older.pk]) in text
    # Its author may not approve it: not on their list.
    assert 'data-testid="awaiting-empty"' in page(as_user(team.sam), reverse("comms:awaiting"))


def test_outsiders_do_not_find_confidential_updates_on_the_list(as_user, confidential, team, commander, outsider):
    services.assign_role(confidential, team.sam, "comms_lead", commander)
    submitted(confidential, team.sam, body="Database exposed: assessment under way.")
    for user in (team.lee, outsider):  # lee is in comms but not on the incident
        text = page(as_user(user), reverse("comms:awaiting"))
        assert "Database exposed" not in text and 'data-testid="awaiting-empty"' in text
        assert 'data-testid="awaiting-count"' not in page(as_user(user), reverse("inbox:count"))


def test_approving_or_discarding_takes_it_off_the_list_and_marks_the_inbox_entry_read(as_user, incident, team):
    one = submitted(incident, team.sam, body="One.")
    two = submitted(incident, team.sam, body="Two.")
    kim = as_user(team.kim)
    assert 'data-testid="awaiting-count">2<' in kim.get(reverse("inbox:count")).content.decode()
    communications.approve(one, team.kim, one.content_version)
    communications.discard(two, team.lee)
    text = page(kim, reverse("comms:awaiting"))
    assert 'data-testid="awaiting-empty"' in text
    count = kim.get(reverse("inbox:count")).content.decode()
    assert "awaiting-count" not in count and "unread-count" not in count
    assert not UserNotification.objects.filter(kind=Kind.APPROVAL_REQUESTED, read_at__isnull=True).exists()


def test_the_header_count_and_inbox_link_to_the_list(as_user, incident, team):
    submitted(incident, team.sam)
    kim = as_user(team.kim)
    badge = kim.get(reverse("inbox:count")).content.decode()
    assert 'data-testid="unread-count">1<' in badge and 'data-testid="awaiting-count">1<' in badge
    assert reverse("comms:awaiting") in badge
    assert reverse("comms:awaiting") in kim.get(reverse("inbox:index")).content.decode()


def test_the_timeline_line_links_to_the_draft(as_user, incident, team, viewer):
    comm = submitted(incident, team.sam)
    text = page(as_user(viewer), incident.get_absolute_url())
    assert "communication submitted for review by sam" in text
    assert f'href="{reverse("incidents:comms:detail", args=[incident.key, comm.pk])}"' in text


def test_awaiting_list_queries_do_not_grow_with_updates(as_user, declare, team, django_assert_max_num_queries):
    for n in range(3):
        submitted(declare(title=f"Incident {n}"), team.sam)
    kim = as_user(team.kim)
    with django_assert_max_num_queries(6):
        assert kim.get(reverse("comms:awaiting")).status_code == 200
    for n in range(3, 15):
        submitted(declare(title=f"Incident {n}"), team.sam)
    with django_assert_max_num_queries(6):
        assert kim.get(reverse("comms:awaiting")).status_code == 200


def test_the_list_needs_a_sign_in(client):
    response = client.get(reverse("comms:awaiting"))
    assert response.status_code == 302 and "/login/" in response["Location"]


# The update's page: only the actions one may take ---------------------------------------------------


def detail(client, comm):
    return page(client, reverse("incidents:comms:detail", args=[comm.incident.key, comm.pk]))


def test_author_sees_no_approve_button_and_who_can_approve(as_user, incident, team):
    comm = submitted(incident, team.sam, editor=team.lee)
    text = detail(as_user(team.sam), comm)
    assert 'data-action="approve"' not in text
    assert "Needs approval by another comms member: kim." in text
    assert 'data-action="approve"' in detail(as_user(team.kim), comm)


def test_with_nobody_else_to_approve_the_page_says_how_to_go_on(as_user, incident, django_user_model):
    solo = make_user(django_user_model, "solo", "comms")
    comm = submitted(incident, solo)
    text = detail(as_user(solo), comm)
    assert 'data-action="approve"' not in text
    assert "WARROOM_COMMS_SELF_APPROVAL=True" in text


def test_self_approval_shows_the_author_the_approve_button(as_user, incident, team, settings):
    settings.WARROOM_COMMS_SELF_APPROVAL = True
    comm = submitted(incident, team.sam)
    text = detail(as_user(team.sam), comm)
    assert 'data-action="approve"' in text and "Needs approval by" not in text


def test_an_internal_note_may_be_approved_by_its_author(as_user, incident, team):
    comm = submitted(incident, team.sam, audience="internal")
    assert 'data-action="approve"' in detail(as_user(team.sam), comm)


def test_the_authors_page_with_its_approvers_has_bounded_queries(
    as_user, incident, team, django_user_model, django_assert_max_num_queries
):
    comm = submitted(incident, team.sam)
    client = as_user(team.sam)
    path = reverse("incidents:comms:detail", args=[incident.key, comm.pk])
    with django_assert_max_num_queries(16):
        client.get(path)
    for n in range(20):
        make_user(django_user_model, f"comms{n}", "comms")
    with django_assert_max_num_queries(16):
        assert "comms19" in client.get(path).content.decode()
