"""Text filled from a template has no holes: the next update is promised for a real time (the
update cadence counted from now), written in the readers' language and time zone; a sentence
with nothing to say is left out; and a draft that still holds a placeholder cannot be submitted
(page and API) or approved, its text kept as typed."""

import pytest
import time_machine
from django.urls import reverse

from incidents import services
from incidents.comms import services as communications
from incidents.models import Communication, CommunicationTemplate
from incidents.security import mitigations as security
from tests.conftest import api_as, make_user

pytestmark = pytest.mark.django_db

T0 = "2026-11-28 10:00:00+00:00"
T10 = "2026-11-28 10:10:00+00:00"


@pytest.fixture(autouse=True)
def site_in_utc(settings):
    settings.TIME_ZONE = "UTC"


@pytest.fixture
def sev1(declare, commander, api_service):
    with time_machine.travel(T0, tick=False):
        incident = declare(title="Chat replies time out", severity=1)  # an update every 30 min
        services.add_impact(incident, commander, service=api_service, level="major_outage")
    return incident


def seeded(name):
    return CommunicationTemplate.objects.get(name=name)


def fill(template, incident, at=T10):
    with time_machine.travel(at, tick=False):
        return communications.fill_template(template, incident)


def test_seeded_update_promises_the_next_update_by_the_cadence_in_utc(sev1):
    body = fill(seeded("Status page: investigating"), sev1)

    # Written at 10:10, SEV1 cadence 30 min: the next update is due by 10:40.
    assert "We will post an update by Nov. 28, 2026, 10:40 a.m. UTC." in body
    assert "within the hour" not in body and "{" not in body


def test_the_promise_is_rounded_up_to_five_minutes_and_never_before_the_war_room_due_time(sev1):
    body = fill(seeded("Status page: investigating"), sev1, at="2026-11-28 10:12:30+00:00")

    assert "by Nov. 28, 2026, 10:45 a.m. UTC." in body


def test_a_chinese_template_gives_the_time_in_chinese_and_beijing_time(sev1):
    template = CommunicationTemplate.objects.create(
        name="测试：调查中（北京时间）",
        language="zh-hans",
        body="我们正在调查 {services} 的问题。我们将在 {next_update} 前发布更新。",
    )

    body = fill(template, sev1)

    assert body.endswith("我们将在 2026年11月28日 18:40 UTC+08:00 前发布更新。")
    assert "major outage" not in body  # the level in the template's language too


def test_the_site_time_zone_is_written_with_its_offset_never_an_abbreviation(sev1, settings):
    settings.TIME_ZONE = "America/Chicago"  # "CST" would also be China Standard Time

    body = fill(seeded("Status page: investigating"), sev1)

    assert "by Nov. 28, 2026, 4:40 a.m. UTC-06:00." in body
    assert "CST" not in body


def test_no_public_measures_leaves_out_the_measures_sentence(sev1, commander):
    security.add_mitigation(sev1, commander, title="Internal rate limit", description="Only staff know")

    body = fill(seeded("Status page: identified"), sev1)

    assert "Measures in place" not in body and "none" not in body
    assert body.startswith("We have identified the cause of the problems with Public API (major outage)")
    assert body.endswith("We will post an update by Nov. 28, 2026, 10:40 a.m. UTC.")


def test_public_measures_in_force_are_listed_under_their_lead_in(sev1, commander):
    security.add_mitigation(
        sev1,
        commander,
        title="Sign-ups limited",
        description="Only +86 numbers",
        public=True,
        public_explanation="New sign-ups are limited to +86 phone numbers.",
    )

    body = fill(seeded("Status page: identified"), sev1)

    assert "Measures in place meanwhile:\n\n- New sign-ups are limited to +86 phone numbers.\n\n" in body


def test_an_incident_without_cadence_promises_no_time(declare):
    incident = declare(title="Typo on the pricing page", severity=4)

    body = fill(seeded("Status page: investigating"), incident)

    assert "We will post an update" not in body
    assert "{" not in body and "none" not in body
    assert body.strip()


@pytest.mark.parametrize(
    "name",
    [
        "Status page: investigating",
        "Status page: identified",
        "Status page: monitoring",
        "Status page: resolved",
        "Customers: incident notice (e-mail)",
        "Regulator: initial breach notification",
        "Partners and press: holding statement",
        "Internal: situation report",
    ],
)
def test_no_seeded_template_leaves_a_hole_or_a_dangling_lead_in(declare, name):
    incident = declare(title="Typo on the pricing page", severity=4)  # nothing to fill but the basics

    body = fill(seeded(name), incident)

    assert "{" not in body and "none" not in body
    assert not body.rstrip().endswith(":"), body
    for paragraph in body.split("\n\n"):
        assert paragraph.strip() and not paragraph.rstrip(" *").endswith(":"), paragraph


# Refusing text with holes


def draft_with_hole(incident, by):
    return communications.draft(
        incident, by, audience="status_page", body="We are on it. We will post an update by {next_update}."
    )


def test_submitting_a_draft_with_a_placeholder_is_refused_naming_it(sev1, comms):
    comm = draft_with_hole(sev1, comms)

    with pytest.raises(communications.ValidationError) as refused:
        communications.submit(comm, comms)

    assert "{next_update}" in refused.value.message_dict["body"][0]
    comm.refresh_from_db()
    assert comm.status == Communication.Status.DRAFT
    assert comm.body == "We are on it. We will post an update by {next_update}."


def test_the_api_refuses_to_submit_a_draft_with_a_placeholder(sev1, comms):
    comm = draft_with_hole(sev1, comms)

    response = api_as(comms).post(f"/api/v1/incidents/{sev1.key}/communications/{comm.pk}/submit/")

    assert response.status_code == 400
    assert "{next_update}" in str(response.json()["body"])
    comm.refresh_from_db()
    assert comm.status == Communication.Status.DRAFT and "{next_update}" in comm.body


def test_the_page_refuses_to_submit_a_draft_with_a_placeholder_and_keeps_the_text(client, sev1, comms):
    comm = draft_with_hole(sev1, comms)
    client.force_login(comms)

    page = client.post(reverse("incidents:comms:act", args=[sev1.key, comm.pk, "submit"]), follow=True).content.decode()

    assert "The text still has the placeholder {next_update}" in page
    assert "We will post an update by {next_update}." in page
    comm.refresh_from_db()
    assert comm.status == Communication.Status.DRAFT


def test_a_placeholder_in_a_translation_is_refused_too(sev1, comms):
    comm = communications.draft(sev1, comms, audience="status_page", body="We are on it.")
    communications.set_translation(comm, comms, "zh-hans", "我们将在 {next_update} 前发布更新。")

    with pytest.raises(communications.ValidationError) as refused:
        communications.submit(comm, comms)

    assert "zh-hans" in refused.value.message_dict["translations"][0]


def test_an_approver_cannot_approve_a_hole_added_during_review(sev1, comms, django_user_model):
    approver = make_user(django_user_model, "comms2", "comms")
    comm = communications.draft(sev1, comms, audience="status_page", body="We are on it.")
    communications.submit(comm, comms)
    comm = communications.edit(comm, comms, body="We are on it. Next update: {next_update}.")

    with pytest.raises(communications.ValidationError):
        communications.approve(comm, approver, comm.content_version)

    comm.refresh_from_db()
    assert comm.status == Communication.Status.IN_REVIEW


def test_braces_in_code_and_json_do_not_block_a_submission(sev1, comms):
    comm = communications.draft(
        sev1, comms, audience="status_page", body='Clients may see `{request_id}` in errors and {"code": 503}.'
    )

    assert communications.submit(comm, comms).status == Communication.Status.IN_REVIEW


def test_leaving_out_a_lead_in_keeps_the_sentence_before_it(declare):
    incident = declare(title="Chat down", severity=4)

    body = fill(seeded("Customers: incident notice (e-mail)"), incident)

    assert f"**What we are doing:** our team is working on it now (reference {incident.reference}).\n\n" in body
    assert "Measures that may affect you" not in body


def test_a_template_saved_from_a_browser_form_leaves_out_empty_paragraphs_too(sev1):
    template = CommunicationTemplate.objects.create(
        name="Typed in a browser", body="We are on it.\r\n\r\nMeasures in place:\r\n\r\n{mitigations}\r\n\r\nMore soon."
    )

    assert fill(template, sev1) == "We are on it.\n\nMore soon."
