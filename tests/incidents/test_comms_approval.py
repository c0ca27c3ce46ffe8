"""The two-person rule on communications cannot be bypassed (issue #16): an approval is of one
exact version of the text and its translations; nobody who wrote or changed the text approves
it (unless WARROOM_COMMS_SELF_APPROVAL); a change after approval returns it to review; the
approval names the version read and is refused (409 in the API and on the page) if it moved."""

import html

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from incidents.comms import services as communications
from incidents.models import Communication, TimelineEntry

Status = Communication.Status


def in_review(incident, author, body="We are looking into errors.", audience="status_page"):
    comm = communications.draft(incident, author, audience=audience, body=body)
    return communications.submit(comm, author)


def current(comm):
    return Communication.objects.get(pk=comm.pk)


def last_comms_entry(incident):
    return incident.timeline.filter(kind=TimelineEntry.Kind.COMMS).latest("id")


def api_url(comm, action=None):
    path = f"/api/v1/incidents/{comm.incident.key}/communications/{comm.pk}/"
    return path + (f"{action}/" if action else "")


# Who may approve -----------------------------------------------------------------------------


def test_writer_who_rewrote_someone_elses_update_in_review_cannot_approve_it(incident, alice, bob):
    comm = in_review(incident, alice)
    comm = communications.edit(comm, bob, body="Everything is fine, nothing was exposed.")
    with pytest.raises(ValidationError) as refused:
        communications.approve(comm, bob, comm.content_version)
    assert "neither wrote nor changed the text" in str(refused.value)
    comm = current(comm)
    assert comm.status == Status.IN_REVIEW and comm.approved_by is None


def test_writer_who_rewrote_someone_elses_draft_and_submitted_it_cannot_approve_it(incident, alice, bob):
    comm = communications.draft(incident, alice, audience="status_page", body="We are looking into errors.")
    communications.edit(comm, bob, body="Everything is fine.")
    comm = communications.submit(comm, bob)
    with pytest.raises(ValidationError):
        communications.approve(comm, bob, comm.content_version)
    assert current(comm).status == Status.IN_REVIEW


def test_writer_who_only_translated_cannot_approve(incident, alice, bob):
    comm = in_review(incident, alice)
    communications.set_translation(comm, bob, "zh-hans", "一切正常。")
    with pytest.raises(ValidationError):
        communications.approve(comm, bob, current(comm).content_version)
    assert current(comm).status == Status.IN_REVIEW


def test_a_third_person_approves_what_two_others_wrote(incident, alice, bob, carol):
    comm = in_review(incident, alice)
    comm = communications.edit(comm, bob, body="We have found the cause.")
    comm = communications.approve(comm, carol, comm.content_version)
    assert comm.status == Status.APPROVED and comm.approved_by == carol


def test_a_writer_who_submitted_without_changing_the_text_may_approve_it(incident, alice, bob):
    comm = communications.draft(incident, alice, audience="status_page", body="We are looking into errors.")
    comm = communications.submit(comm, bob)
    assert communications.approve(comm, bob, comm.content_version).approved_by == bob


def test_self_approval_setting_lets_an_editor_approve_too(incident, alice, bob, settings):
    settings.WARROOM_COMMS_SELF_APPROVAL = True
    comm = in_review(incident, alice)
    comm = communications.edit(comm, bob, body="We have found the cause.")
    assert communications.approve(comm, bob, comm.content_version).approved_by == bob


def test_an_editor_may_approve_an_internal_note(incident, alice, bob):
    comm = in_review(incident, alice, audience="internal")
    comm = communications.edit(comm, bob, body="Root cause: the SMS provider.")
    assert communications.approve(comm, bob, comm.content_version).status == Status.APPROVED


# The version approved ------------------------------------------------------------------------


def test_approval_of_a_version_that_moved_is_refused_and_nothing_is_approved(incident, alice, carol):
    comm = communications.draft(incident, alice, audience="status_page", body="We are looking into errors.")
    communications.edit(comm, alice, body="We are looking into errors on sign-up.")
    communications.set_translation(comm, alice, "zh-hans", "我们正在调查注册错误。")
    comm = communications.submit(comm, alice)
    read = comm.content_version
    assert read == 3
    comm = communications.edit(comm, alice, body="Nothing to see here.")
    assert comm.content_version == 4
    with pytest.raises(communications.StaleCommunication) as refused:
        communications.approve(comm, carol, read)
    assert "you read version 3, it is now version 4" in str(refused.value)
    comm = current(comm)
    assert comm.status == Status.IN_REVIEW and comm.approved_by is None
    assert communications.approve(comm, carol, 4).approved_by == carol


def test_a_translation_change_moves_the_version(incident, alice, carol):
    comm = in_review(incident, alice)
    read = comm.content_version
    communications.set_translation(comm, alice, "zh-hans", "我们正在调查。")
    with pytest.raises(communications.StaleCommunication):
        communications.approve(comm, carol, read)
    assert current(comm).content_version == read + 1


def test_a_change_that_changes_nothing_keeps_the_version(incident, alice, carol):
    comm = in_review(incident, alice)
    communications.edit(comm, alice, body=comm.body)
    assert communications.approve(comm, carol, comm.content_version).status == Status.APPROVED


def test_approval_without_a_version_is_refused(incident, alice, carol):
    comm = in_review(incident, alice)
    with pytest.raises(communications.StaleCommunication):
        communications.approve(comm, carol, None)
    assert current(comm).status == Status.IN_REVIEW


def test_an_edit_after_approval_returns_it_to_review_and_the_timeline_says_so(incident, alice, carol):
    comm = in_review(incident, alice)
    comm = communications.approve(comm, carol, comm.content_version)
    comm = communications.edit(comm, alice, body="Something else entirely.")
    assert comm.status == Status.IN_REVIEW and comm.approved_by is None and comm.approved_at is None
    entry = last_comms_entry(incident)
    assert "back in review for a new approval" in entry.body
    assert (entry.data["old"], entry.data["new"]) == (Status.APPROVED, Status.IN_REVIEW)
    assert entry.data["version"] == comm.content_version


def test_a_translation_after_approval_returns_it_to_review(incident, alice, carol):
    comm = in_review(incident, alice)
    communications.approve(comm, carol, comm.content_version)
    communications.set_translation(comm, alice, "zh-hans", "我们正在调查。")
    assert current(comm).status == Status.IN_REVIEW
    assert "zh-hans translation added: back in review" in last_comms_entry(incident).body


# The API -------------------------------------------------------------------------------------


def test_api_approve_of_a_moved_version_is_409_with_the_current_text(api, incident, alice, carol):
    comm = in_review(incident, alice)
    read = api(carol).get(api_url(comm)).json()["version"]
    communications.edit(comm, alice, body="Nothing to see here.")
    response = api(carol).post(api_url(comm, "approve"), {"version": read}, format="json")
    assert response.status_code == 409
    body = response.json()
    assert "it is now version 2" in body["version"][0]
    assert body["communication"]["version"] == 2 and body["communication"]["body"] == "Nothing to see here."
    assert body["communication"]["status"] == "in_review"
    assert current(comm).approved_by is None


def test_api_approve_requires_the_version(api, incident, alice, carol):
    comm = in_review(incident, alice)
    response = api(carol).post(api_url(comm, "approve"), {}, format="json")
    assert response.status_code == 400 and "Give the version" in response.json()["version"][0]
    response = api(carol).post(api_url(comm, "approve"), {"version": "three"}, format="json")
    assert response.status_code == 400 and "version" in response.json()
    assert current(comm).status == Status.IN_REVIEW


def test_api_refuses_an_editor_approving_what_they_changed(api, incident, alice, bob):
    comm = in_review(incident, alice)
    response = api(bob).patch(api_url(comm), {"body": "Everything is fine."}, format="json")
    assert response.status_code == 200 and response.json()["version"] == 2
    response = api(bob).post(api_url(comm, "approve"), {"version": 2}, format="json")
    assert response.status_code == 400 and "approved_by" in response.json()
    assert current(comm).status == Status.IN_REVIEW


# The page ------------------------------------------------------------------------------------


def test_page_approve_form_carries_the_version_shown(as_user, incident, alice, carol):
    comm = in_review(incident, alice)
    communications.edit(comm, alice, body="Second wording.")
    page = as_user(carol).get(reverse("incidents:comms:detail", args=[incident.key, comm.pk])).content.decode()
    assert '<input type="hidden" name="version" value="2">' in page


def test_page_shows_the_refusal_and_the_current_text_when_the_version_moved(as_user, incident, alice, carol):
    comm = in_review(incident, alice)
    communications.edit(comm, alice, body="Nothing to see here.")
    client = as_user(carol)
    response = client.post(reverse("incidents:comms:act", args=[incident.key, comm.pk, "approve"]), {"version": "1"})
    assert response.status_code == 409
    page = html.unescape(response.content.decode())
    assert "The text changed after you read it" in page
    assert "Nothing to see here." in page
    assert '<input type="hidden" name="version" value="2">' in page  # approve again, knowingly
    assert current(comm).status == Status.IN_REVIEW
    response = client.post(reverse("incidents:comms:act", args=[incident.key, comm.pk, "approve"]), {"version": "2"})
    assert response.status_code == 302 and current(comm).approved_by == carol


def test_page_tells_an_editor_why_they_cannot_approve(as_user, incident, alice, bob):
    comm = in_review(incident, alice)
    communications.edit(comm, bob, body="Everything is fine.")
    client = as_user(bob)
    page = html.unescape(client.get(reverse("incidents:comms:detail", args=[incident.key, comm.pk])).content.decode())
    assert "You wrote or changed this update" in page
    response = client.post(
        reverse("incidents:comms:act", args=[incident.key, comm.pk, "approve"]), {"version": "2"}, follow=True
    )
    assert "neither wrote nor changed the text" in html.unescape(response.content.decode())
    assert current(comm).status == Status.IN_REVIEW


def test_page_approve_with_garbage_version_is_refused_not_an_error(as_user, incident, alice, carol):
    comm = in_review(incident, alice)
    for garbage in ("", "x", "²", "9" * 50):
        response = as_user(carol).post(
            reverse("incidents:comms:act", args=[incident.key, comm.pk, "approve"]), {"version": garbage}
        )
        assert response.status_code == 409
    assert current(comm).status == Status.IN_REVIEW
