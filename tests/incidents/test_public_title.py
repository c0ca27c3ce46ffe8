"""An incident's public title and a status-page update's public impact (#13), from the comms
side: the first status-page update asks for the title, nothing goes out without one, a later
update may change it (in force when it is published), and the API and the admin set it through
the same service, logged on the timeline."""

import html

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from incidents.comms import services as communications
from incidents.models import Communication, Incident, TimelineEntry
from tests.incidents.test_admin import admin_client, change_url, post_change_form, root  # noqa: F401

Status = Communication.Status


@pytest.fixture
def untitled(declare):
    """A SEV1 just declared: an internal title, no public one yet."""
    return declare(title="SEV1: [demo] db-7 primary melted", severity=1, public_title="")


def text_of(response):
    return html.unescape(response.content.decode())


def new_url(incident):
    return reverse("incidents:comms:new", args=[incident.key])


def form_data(**changes):
    data = {
        "audience": "status_page",
        "title": "",
        "body": "Replies in web chat are slow for some users.",
        "language": "en",
        "public_status": "investigating",
        "public_impact": "minor",
        "public_title": "",
        "action": "save",
    }
    return {**data, **changes}


# The drafting form ----------------------------------------------------------------------------


def test_the_first_status_page_draft_asks_for_the_public_title_and_suggests_an_impact(as_user, untitled, comms):
    page = text_of(as_user(comms).get(new_url(untitled)))
    assert 'name="public_title"' in page and "the incident has no public title yet" in page
    assert 'name="public_title" value=' not in page  # prefilled empty, never with the internal title
    assert "Suggested for SEV1: Critical" in page
    assert '<option value="critical" selected>' in page


def test_a_draft_without_a_public_title_is_refused_with_everything_typed_kept(as_user, untitled, comms):
    response = as_user(comms).post(new_url(untitled), form_data(body="Every word **kept**."))
    assert response.status_code == 400
    page = text_of(response)
    assert "Give the incident a public title" in page
    assert "Every word **kept**." in page and '<option value="minor" selected>' in page
    assert not Communication.objects.exists()


def test_the_public_title_given_on_the_first_draft_goes_live_when_it_is_published(as_user, untitled, comms, comms2):
    response = as_user(comms).post(new_url(untitled), form_data(public_title="Slow replies in web chat"))
    assert response.status_code == 302
    comm = Communication.objects.get()
    assert (comm.public_title, comm.public_impact) == ("Slow replies in web chat", "minor")
    untitled.refresh_from_db()
    assert untitled.public_title == ""  # nothing public until the update is

    communications.submit(comm, comms)
    communications.approve(comm, comms2, comm.content_version)
    assert communications.publish_now(comm.pk, comms2.pk)
    untitled.refresh_from_db()
    assert untitled.public_title == "Slow replies in web chat"
    entry = untitled.timeline.filter(kind=TimelineEntry.Kind.FIELD, data__field="public_title").get()
    assert (entry.data["old"], entry.data["new"]) == ("", "Slow replies in web chat")


def test_a_later_draft_shows_the_current_public_title_and_keeps_it_unless_changed(as_user, declare, comms):
    incident = declare(title="SEV2: redis-3 evictions", public_title="Slow sign-in")
    page = text_of(as_user(comms).get(new_url(incident)))
    assert 'name="public_title" value="Slow sign-in"' in page and "A new title goes live with this update" in page
    response = as_user(comms).post(new_url(incident), form_data(public_title="Slow sign-in"))
    assert response.status_code == 302
    assert Communication.objects.get().public_title == ""  # no change to make on publication


# Refusals by the service ------------------------------------------------------------------------


def test_an_update_without_a_public_title_cannot_be_submitted_approved_or_published(untitled, comms, comms2):
    comm = communications.draft(untitled, comms, audience="status_page", body="We are looking into it.")
    with pytest.raises(ValidationError) as refused:
        communications.submit(comm, comms)
    assert "public_title" in refused.value.message_dict
    # One sent to review and approved before (through the states as they were) is held too.
    Communication.objects.filter(pk=comm.pk).update(status=Status.IN_REVIEW)
    with pytest.raises(ValidationError) as refused:
        communications.approve(comm, comms2, comm.content_version)
    assert "public_title" in refused.value.message_dict
    Communication.objects.filter(pk=comm.pk).update(status=Status.APPROVED)
    with pytest.raises(ValidationError) as refused:
        communications.request_publish(comm, comms2)
    assert "public_title" in refused.value.message_dict
    comm.refresh_from_db()
    assert comm.status == Status.APPROVED and comm.body == "We are looking into it."


def test_other_audiences_need_no_public_title(untitled, comms):
    comm = communications.draft(untitled, comms, audience="internal", body="Team note.")
    assert communications.submit(comm, comms).status == Status.IN_REVIEW


def test_submitting_from_the_page_says_which_field_is_missing(as_user, untitled, comms):
    comm = communications.draft(untitled, comms, audience="status_page", body="We are looking into it.")
    client = as_user(comms)
    response = client.post(reverse("incidents:comms:act", args=[untitled.key, comm.pk, "submit"]), follow=True)
    assert "Give the incident a public title first" in text_of(response)
    assert Communication.objects.get(pk=comm.pk).status == Status.DRAFT


# The API ---------------------------------------------------------------------------------------


def incident_url(incident):
    return f"/api/v1/incidents/{incident.key}/"


def test_the_comms_lead_sets_the_public_title_through_the_api_and_it_is_logged(api, untitled, comms, responder):
    response = api(comms).patch(
        incident_url(untitled),
        {"public_title": "Slow replies in web chat", "public_titles": {"zh-HANS": "网页聊天回复缓慢"}},
        format="json",
    )
    assert response.status_code == 200, response.json()
    data = response.json()
    assert data["public_title"] == "Slow replies in web chat" and data["title"] == "SEV1: [demo] db-7 primary melted"
    assert data["public_titles"] == {"zh-hans": "网页聊天回复缓慢"}
    fields = set(untitled.timeline.filter(kind=TimelineEntry.Kind.FIELD).values_list("data__field", flat=True))
    assert {"public_title", "public_titles"} <= fields

    refused = api(responder).patch(incident_url(untitled), {"public_title": "Something else"}, format="json")
    assert refused.status_code == 403
    assert Incident.objects.get(pk=untitled.pk).public_title == "Slow replies in web chat"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"public_title": "x" * 201}, "public_title"),
        ({"public_title": ""}, "public_title"),  # once given, it is replaced, never removed
        ({"public_titles": {"not a code": "Titre"}}, "public_titles"),
        ({"public_titles": ["zh-hans"]}, "public_titles"),
    ],
)
def test_bad_public_titles_are_a_400_naming_the_field(api, declare, commander, body, field):
    incident = declare(public_title="Slow sign-in")
    response = api(commander).patch(incident_url(incident), body, format="json")
    assert response.status_code == 400 and field in response.json(), response.json()
    assert Incident.objects.get(pk=incident.pk).public_title == "Slow sign-in"


def test_the_comms_api_drafts_with_a_public_title_and_impact(api, untitled, comms):
    path = f"/api/v1/incidents/{untitled.key}/communications/"
    refused = api(comms).post(
        path, {"audience": "status_page", "body": "Looking into it.", "public_impact": "apocalyptic"}, format="json"
    )
    assert refused.status_code == 400 and "public_impact" in refused.json()
    response = api(comms).post(path, {"audience": "status_page", "body": "Looking into it."}, format="json")
    assert response.status_code == 201
    data = response.json()
    assert data["public_impact"] == "critical" and data["public_title"] == ""  # suggested from SEV1
    refused = api(comms).post(f"{path}{data['id']}/submit/")
    assert refused.status_code == 400 and "public_title" in refused.json()
    edited = api(comms).patch(
        f"{path}{data['id']}/", {"public_title": "Slow replies", "public_impact": "minor"}, format="json"
    )
    assert edited.status_code == 200 and edited.json()["public_impact"] == "minor"
    assert api(comms).post(f"{path}{data['id']}/submit/").status_code == 200


# The admin -------------------------------------------------------------------------------------


def test_the_admin_sets_the_public_title_through_the_service(admin_client, untitled, root):  # noqa: F811
    response = post_change_form(admin_client, change_url("incident", untitled.pk), public_title="Slow replies")
    assert response.status_code == 302
    untitled.refresh_from_db()
    assert untitled.public_title == "Slow replies"
    entry = untitled.timeline.order_by("-id").first()
    assert entry.data == {"field": "public_title", "old": "", "new": "Slow replies"} and entry.author == root
    refused = post_change_form(admin_client, change_url("incident", untitled.pk), public_title="")
    assert refused.status_code == 200 and "cannot be removed" in text_of(refused)


# Templates ---------------------------------------------------------------------------------------


def test_a_status_page_templates_title_is_the_public_title_and_a_hole_while_there_is_none(declare, comms):
    from incidents.models import CommunicationTemplate

    template = CommunicationTemplate.objects.create(
        name="Test: named", audience="status_page", body="We are investigating: {title}."
    )
    internal = CommunicationTemplate.objects.create(name="Test: internal", audience="internal", body="Now: {title}.")
    titled = declare(title="SEV2: redis-3 evictions", public_title="Slow sign-in")
    assert communications.fill_template(template, titled) == "We are investigating: Slow sign-in."
    assert communications.fill_template(internal, titled) == "Now: SEV2: redis-3 evictions."

    untitled = declare(title="SEV2: redis-4 evictions", public_title="")
    body = communications.fill_template(template, untitled)
    assert body == "We are investigating: {title}."  # never the internal title
    comm = communications.draft(untitled, comms, audience="status_page", body=body, public_title="Slow sign-in")
    with pytest.raises(ValidationError) as refused:
        communications.submit(comm, comms)
    assert "{title}" in str(refused.value.message_dict["body"])


def test_messages_that_leave_the_company_never_carry_the_internal_title(as_user, declare, comms):
    """Customers, partners and regulators read the public title like the status page: their
    templates fill {title} with it and the subject line starts from it; only an internal
    message starts from the internal title."""
    from incidents.models import CommunicationTemplate

    titled = declare(title="SEV1: [demo] db-7 primary melted", public_title="Chat replies delayed")
    for audience in ("customers", "partners", "regulators"):
        template = CommunicationTemplate.objects.create(
            name=f"Test: {audience}", audience=audience, body="About {title}."
        )
        assert communications.fill_template(template, titled) == "About Chat replies delayed."
        form = as_user(comms).get(new_url(titled) + f"?audience={audience}").context["form"]
        assert form.initial["title"] == "Chat replies delayed"
    form = as_user(comms).get(new_url(titled) + "?audience=internal").context["form"]
    assert form.initial["title"] == "SEV1: [demo] db-7 primary melted"
    untitled = declare(title="SEV1: [demo] db-8 primary melted", public_title="")
    form = as_user(comms).get(new_url(untitled) + "?audience=customers").context["form"]
    assert form.initial["title"] == ""  # the author writes one; the internal title is not offered


def test_the_comms_page_says_what_the_public_calls_the_incident(as_user, declare, comms):
    untitled = declare(title="SEV2: redis-4 evictions", public_title="")
    page = text_of(as_user(comms).get(reverse("incidents:comms:index", args=[untitled.key])))
    assert "none yet; the first status-page update asks for it" in page
    titled = declare(title="SEV2: redis-3 evictions", public_title="Slow sign-in")
    page = text_of(as_user(comms).get(reverse("incidents:comms:index", args=[titled.key])))
    assert "Public title: <strong>Slow sign-in</strong>" in page


def test_a_status_page_update_always_states_an_impact(untitled, comms):
    comm = communications.draft(untitled, comms, audience="internal", body="Team note.")
    assert comm.public_impact == ""
    comm = communications.edit(comm, comms, audience="status_page", public_impact="")
    assert comm.public_impact == "critical"  # became a status-page update: the SEV1 suggestion
    comm = communications.edit(comm, comms, public_impact="minor")
    assert communications.edit(comm, comms, public_impact="").public_impact == "minor"  # kept
