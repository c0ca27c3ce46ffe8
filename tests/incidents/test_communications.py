"""Communications: the workflow and its two-person rule, templates, diffs and translations
(incidents.comms.services); the comms pages (incidents.comms.views) and the API
(incidents.comms.api), each from every side: comms staff, a second approver, the incident's
commander, a responder, a viewer, an outsider, and the security group on confidential
incidents."""

import html
import re
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from incidents import services
from incidents.comms import services as communications
from incidents.comms import tasks
from incidents.models import Communication, CommunicationTemplate, CommunicationTranslation, Impact, TimelineEntry
from tests.conftest import make_user

Status = Communication.Status


@pytest.fixture
def investigating_template(db):
    return CommunicationTemplate.objects.create(
        name="Test: investigating",
        audience="status_page",
        public_status="investigating",
        body="We are investigating problems with {services} on {title} ({reference}, {severity}). "
        "Next update {next_update}. Measures: {mitigations}. Unknown {nonsense} stays.",
    )


def draft(incident, by, audience="status_page", body="We are looking into errors.", **kwargs):
    return communications.draft(incident, by, audience=audience, body=body, **kwargs)


def approved(incident, author, approver, **kwargs):
    comm = draft(incident, author, **kwargs)
    communications.submit(comm, author)
    return communications.approve(comm, approver, comm.content_version)


def comms_entries(incident):
    return list(incident.timeline.filter(kind=TimelineEntry.Kind.COMMS).order_by("id"))


def text_of(response):
    return html.unescape(response.content.decode())


def url(name, *args):
    return reverse(name, args=args)


def messages_of(response):
    return [str(m) for m in response.wsgi_request._messages]


# The workflow and the two-person rule ---------------------------------------------------------


def test_comms_staff_drafts_submits_and_a_second_person_approves(incident, comms, comms2):
    comm = draft(incident, comms)
    assert comm.status == Status.DRAFT and comm.author == comms
    assert comm.public_status == "investigating"  # the incident's status, for the status page
    comm = communications.submit(comm, comms)
    assert comm.status == Status.IN_REVIEW
    comm = communications.approve(comm, comms2, comm.content_version)
    assert comm.status == Status.APPROVED
    assert comm.approved_by == comms2 and comm.approved_at is not None


@pytest.mark.parametrize("audience", ["status_page", "customers", "regulators"])
def test_author_cannot_approve_own_public_update(incident, comms, audience):
    comm = draft(incident, comms, audience=audience)
    communications.submit(comm, comms)
    with pytest.raises(ValidationError) as exc:
        communications.approve(comm, comms, comm.content_version)
    assert "Someone who neither wrote nor changed the text" in str(exc.value)
    comm.refresh_from_db()
    assert comm.status == Status.IN_REVIEW and comm.approved_by is None


@pytest.mark.parametrize("audience", ["internal", "partners"])
def test_author_can_approve_own_internal_note_and_partner_statement(incident, comms, audience):
    comm = draft(incident, comms, audience=audience)
    communications.submit(comm, comms)
    assert communications.approve(comm, comms, comm.content_version).status == Status.APPROVED


def test_self_approval_setting_relaxes_the_two_person_rule(incident, comms, settings):
    settings.WARROOM_COMMS_SELF_APPROVAL = True
    comm = draft(incident, comms)
    communications.submit(comm, comms)
    assert communications.approve(comm, comms, comm.content_version).approved_by == comms


def test_two_person_rule_judges_the_audience_as_stored_not_the_callers_copy(incident, comms):
    comm = draft(incident, comms, audience="internal")
    communications.submit(comm, comms)
    stale = Communication.objects.get(pk=comm.pk)
    Communication.objects.filter(pk=comm.pk).update(audience="status_page")
    with pytest.raises(ValidationError):
        communications.approve(stale, comms, stale.content_version)


def test_commander_may_approve_a_comms_draft(incident, comms, commander):
    comm = draft(incident, comms)
    communications.submit(comm, comms)
    assert communications.approve(comm, commander, comm.content_version).approved_by == commander


def test_incident_comms_lead_without_group_may_write(incident, commander, django_user_model):
    lead = make_user(django_user_model, "lead")
    services.assign_role(incident, lead, "comms_lead", commander)
    incident.refresh_from_db()
    assert draft(incident, lead).author == lead


@pytest.mark.parametrize("who", ["responder", "viewer", "outsider"])
def test_others_cannot_write_or_approve(request, incident, comms, who):
    user = request.getfixturevalue(who)
    with pytest.raises(PermissionDenied):
        draft(incident, user)
    comm = draft(incident, comms)
    communications.submit(comm, comms)
    with pytest.raises(PermissionDenied):
        communications.approve(comm, user, comm.content_version)
    for operation in (communications.send_back, communications.discard):
        with pytest.raises(PermissionDenied):
            operation(comm, user)
    with pytest.raises(PermissionDenied):
        communications.set_translation(comm, user, "zh-hans", "我们正在调查。")


def test_editing_an_approved_update_sends_it_back_to_review(incident, comms, comms2):
    comm = approved(incident, comms, comms2)
    comm = communications.edit(comm, comms, body="We have found the cause.")
    assert comm.status == Status.IN_REVIEW
    assert comm.approved_by is None and comm.approved_at is None
    assert comm.body == "We have found the cause."
    assert "back in review for a new approval" in comms_entries(incident)[-1].body


def test_editing_a_scheduled_update_sends_it_back_and_clears_the_time(incident, comms, comms2):
    comm = approved(incident, comms, comms2)
    communications.schedule(comm, comms, timezone.now() + timedelta(hours=1))
    comm = communications.edit(comm, comms, title="New subject")
    assert comm.status == Status.IN_REVIEW and comm.scheduled_for is None
    assert "taken off the schedule and back in review" in comms_entries(incident)[-1].body


def test_an_edit_that_changes_nothing_keeps_the_approval(incident, comms, comms2):
    comm = approved(incident, comms, comms2)
    entries = len(comms_entries(incident))
    comm = communications.edit(comm, comms, body=comm.body)
    assert comm.status == Status.APPROVED and len(comms_entries(incident)) == entries


def test_editing_a_draft_in_review_keeps_it_in_review(incident, comms):
    comm = draft(incident, comms)
    communications.submit(comm, comms)
    assert communications.edit(comm, comms, body="Better words.").status == Status.IN_REVIEW


@pytest.mark.parametrize(
    ("setup", "move"),
    [
        ("draft", "approve"),
        ("draft", "publish"),
        ("draft", "schedule"),
        ("draft", "send_back"),
        ("draft", "unschedule"),
        ("in_review", "submit"),
        ("in_review", "publish"),
        ("approved", "submit"),
        ("approved", "approve"),
        ("approved", "unschedule"),
        ("published", "submit"),
        ("published", "discard"),
        ("published", "send_back"),
        ("published", "edit"),
        ("discarded", "submit"),
        ("discarded", "approve"),
        ("discarded", "publish"),
        ("discarded", "edit"),
    ],
)
def test_illegal_moves_are_refused(incident, comms, comms2, setup, move):
    comm = draft(incident, comms)
    if setup != "draft":
        communications.submit(comm, comms)
    if setup in ("approved", "published"):
        communications.approve(comm, comms2, comm.content_version)
    if setup == "published":
        assert communications.publish_now(comm.pk, comms.pk)
    if setup == "discarded":
        communications.discard(comm, comms)
    before = Communication.objects.get(pk=comm.pk).status
    entries = len(comms_entries(incident))
    operations = {
        "approve": lambda: communications.approve(comm, comms2, comm.content_version),
        "publish": lambda: communications.request_publish(comm, comms),
        "schedule": lambda: communications.schedule(comm, comms, timezone.now() + timedelta(hours=1)),
        "send_back": lambda: communications.send_back(comm, comms),
        "unschedule": lambda: communications.unschedule(comm, comms),
        "submit": lambda: communications.submit(comm, comms),
        "discard": lambda: communications.discard(comm, comms),
        "edit": lambda: communications.edit(comm, comms, body="Changed"),
    }
    if setup == "published" and move == "publish":
        pytest.skip("publishing a published update is a no-op, tested below")
    with pytest.raises(ValidationError):
        operations[move]()
    assert Communication.objects.get(pk=comm.pk).status == before
    assert len(comms_entries(incident)) == entries


def test_schedule_in_the_past_is_refused(incident, comms, comms2):
    comm = approved(incident, comms, comms2)
    with pytest.raises(ValidationError) as exc:
        communications.schedule(comm, comms, timezone.now() - timedelta(minutes=1))
    assert "scheduled_for" in exc.value.message_dict
    with pytest.raises(ValidationError):
        communications.schedule(comm, comms, None)
    with pytest.raises(ValidationError):
        communications.schedule(comm, comms, (timezone.now() + timedelta(hours=1)).replace(tzinfo=None))
    assert Communication.objects.get(pk=comm.pk).status == Status.APPROVED


def test_scheduling_and_taking_off_the_schedule(incident, comms, comms2):
    comm = approved(incident, comms, comms2)
    when = timezone.now() + timedelta(hours=2)
    comm = communications.schedule(comm, comms, when)
    assert comm.status == Status.SCHEDULED and comm.scheduled_for == when
    comm = communications.unschedule(comm, comms)
    assert comm.status == Status.APPROVED and comm.scheduled_for is None


def test_publish_now_twice_publishes_once_and_logs_once(incident, comms, comms2):
    comm = approved(incident, comms, comms2)
    assert communications.publish_now(comm.pk, comms2.pk) is True
    assert communications.publish_now(comm.pk, comms2.pk) is False
    comm.refresh_from_db()
    assert comm.status == Status.PUBLISHED and comm.published_by == comms2
    published = [e for e in comms_entries(incident) if e.data.get("new") == "published"]
    assert len(published) == 1
    assert published[0].data["old"] == "approved"


def test_request_publish_enqueues_the_task_once_the_transaction_commits(
    incident, comms, comms2, django_capture_on_commit_callbacks, monkeypatch
):
    comm = approved(incident, comms, comms2)
    sent = []
    # Stands in for the broker only; the task itself is publish_now, tested above.
    monkeypatch.setattr(tasks.publish_communication, "delay", lambda *args: sent.append(args))
    with django_capture_on_commit_callbacks() as callbacks:
        communications.request_publish(comm, comms)
        assert sent == []  # not before the commit
    for callback in callbacks:
        callback()
    assert sent == [(comm.pk, comms.pk)]
    comm.refresh_from_db()
    # The worker publishes, not the request; the request is recorded as due now, so the beat's
    # scheduler publishes it even if the broker lost the task.
    assert comm.status == Status.SCHEDULED and comm.scheduled_for <= timezone.now()


def test_a_published_update_asked_to_publish_again_is_left_alone(incident, comms, comms2):
    comm = approved(incident, comms, comms2)
    communications.publish_now(comm.pk)
    assert communications.request_publish(comm, comms).status == Status.PUBLISHED


def test_the_scheduler_publishes_due_updates_once(incident, comms, comms2):
    due = approved(incident, comms, comms2)
    communications.schedule(due, comms, timezone.now() + timedelta(minutes=5))
    later = approved(incident, comms, comms2, body="Later")
    communications.schedule(later, comms, timezone.now() + timedelta(hours=5))
    Communication.objects.filter(pk=due.pk).update(scheduled_for=timezone.now() - timedelta(seconds=1))
    assert tasks.publish_due_communications() == 1
    assert tasks.publish_due_communications() == 0
    due.refresh_from_db()
    later.refresh_from_db()
    assert due.status == Status.PUBLISHED and later.status == Status.SCHEDULED
    entry = [e for e in comms_entries(incident) if e.data.get("new") == "published"][0]
    assert entry.data["old"] == "scheduled" and entry.author is None


def test_only_due_never_publishes_an_update_before_its_time(incident, comms, comms2):
    comm = approved(incident, comms, comms2)
    communications.schedule(comm, comms, timezone.now() + timedelta(hours=1))
    assert communications.publish_now(comm.pk, only_due=True) is False
    assert Communication.objects.get(pk=comm.pk).status == Status.SCHEDULED


def test_a_discarded_update_is_never_published(incident, comms, comms2):
    comm = approved(incident, comms, comms2)
    communications.discard(comm, comms)
    assert communications.publish_now(comm.pk) is False


def test_a_published_status_page_update_sets_the_services_levels(incident, comms, comms2, api_service, web_chat):
    services.add_impact(incident, incident.memberships.get().user, service=api_service, level="major_outage")
    comm = approved(
        incident,
        comms,
        comms2,
        affected=[
            {"service": "public-api", "level": "partial_outage"},
            {"service": "web-chat", "level": "degraded_performance"},
        ],
    )
    communications.publish_now(comm.pk)
    open_levels = dict(
        Impact.objects.filter(incident=incident, ended_at__isnull=True).values_list("service__slug", "level")
    )
    assert open_levels == {"public-api": "partial_outage", "web-chat": "degraded_performance"}
    resolved = approved(incident, comms, comms2, body="Fixed.", public_status="resolved")
    communications.publish_now(resolved.pk)
    assert not Impact.objects.filter(incident=incident, ended_at__isnull=True).exists()


def test_every_step_writes_a_timeline_entry(incident, comms, comms2):
    comm = draft(incident, comms)
    communications.submit(comm, comms)
    communications.send_back(comm, comms2)
    comm = communications.edit(comm, comms, body="Second try")
    communications.submit(comm, comms)
    communications.approve(comm, comms2, comm.content_version)
    communications.set_translation(comm, comms, "zh-hans", "第二次尝试")
    communications.approve(comm, comms2, comm.content_version + 1)
    communications.schedule(comm, comms, timezone.now() + timedelta(hours=1))
    communications.unschedule(comm, comms)
    communications.publish_now(comm.pk, comms.pk)
    steps = [(e.data["old"], e.data["new"]) for e in comms_entries(incident)]
    assert steps == [
        (None, "draft"),
        ("draft", "in_review"),
        ("in_review", "draft"),
        ("draft", "draft"),
        ("draft", "in_review"),
        ("in_review", "approved"),
        ("approved", "in_review"),  # a new translation sends an approved update back to review
        ("in_review", "approved"),
        ("approved", "scheduled"),
        ("scheduled", "approved"),
        ("approved", "published"),
    ]
    assert all(e.data["communication"] == comm.pk for e in comms_entries(incident))


# Input the services refuse --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"audience": "press"}, "audience"),
        ({"public_status": "postmortem"}, "public_status"),
        ({"body": "   "}, "body"),
        ({"language": "english please"}, "language"),
        ({"language": "x" * 20}, "language"),
        ({"title": "t" * 201}, "title"),
        ({"affected": "public-api"}, "affected"),
        ({"affected": [{"service": "public-api"}]}, "affected"),
        ({"affected": [{"service": "public-api", "level": "down"}]}, "affected"),
        ({"affected": [{"service": "public-api", "level": ["major_outage"]}]}, "affected"),
        ({"affected": [{"service": "nope", "level": "major_outage"}]}, "affected"),
        ({"affected": [{"service": ["public-api"], "level": "major_outage"}]}, "affected"),
        ({"affected": [{"service": "public\x00api", "level": "major_outage"}]}, "affected"),
        (
            {
                "affected": [
                    {"service": "public-api", "level": "major_outage"},
                    {"service": "public-api", "level": "operational"},
                ]
            },
            "affected",
        ),
    ],
)
def test_draft_refuses_bad_fields_by_name(incident, comms, api_service, fields, field):
    values = {"audience": "status_page", "body": "Text", **fields}
    with pytest.raises(ValidationError) as exc:
        communications.draft(incident, comms, **values)
    assert field in exc.value.message_dict
    assert not Communication.objects.exists()


# Templates ------------------------------------------------------------------------------------


def test_template_placeholders_are_filled(incident, commander, api_service, investigating_template):
    services.add_impact(incident, commander, service=api_service, level="major_outage")
    body = communications.fill_template(investigating_template, incident)
    assert f"on API errors ({incident.reference}, SEV2)" in body
    assert "problems with Public API (major outage)" in body
    assert "Next update within the hour" not in body and "Next update " in body
    assert "Measures" not in body, "no public measures in force: the sentence is left out"
    assert "Unknown {nonsense} stays." in body


def test_template_with_stray_braces_still_fills_its_placeholders(incident, db):
    template = CommunicationTemplate.objects.create(name="JSON", body='Incident {title}: {"code": 1} and a lone }')
    assert communications.fill_template(template, incident) == 'Incident API errors: {"code": 1} and a lone }'


def test_template_next_update_and_started_at(declare, settings):
    settings.TIME_ZONE = "UTC"
    with time_machine.travel("2030-01-02 03:04:00+00:00", tick=False):
        incident = declare(severity=1)  # SEV1: an update every 30 minutes
        template = CommunicationTemplate.objects.create(name="Times", body="Since {started_at}; next {next_update}")
        body = communications.fill_template(template, incident)
    assert body == "Since Jan. 2, 2030, 3:04 a.m. UTC; next Jan. 2, 2030, 3:35 a.m. UTC"


def test_a_fresh_install_has_the_seeded_templates(db):
    names = set(CommunicationTemplate.objects.values_list("name", flat=True))
    for expected in (
        "Status page: investigating",
        "Status page: identified",
        "Status page: monitoring",
        "Status page: resolved",
        "Customers: incident notice (e-mail)",
        "Regulator: initial breach notification",
        "Partners and press: holding statement",
    ):
        assert expected in names
    for template in CommunicationTemplate.objects.all():
        # Every placeholder in a seeded template is one the filler knows.
        assert set(re.findall(r"\{(\w+)\}", template.body)) <= set(communications.PLACEHOLDER_NAMES)


def test_every_seeded_template_fills_for_a_real_incident(incident):
    for template in CommunicationTemplate.objects.all():
        body = communications.fill_template(template, incident)
        assert "{" not in body.replace("{nonsense}", ""), template.name


# Diff against the previous published update ------------------------------------------------


def test_diff_against_the_previous_published_update_of_the_same_audience(incident, comms, comms2):
    first = approved(incident, comms, comms2, body="Line one\nErrors at 38%\nLine three")
    assert communications.diff_against_previous(first) == []
    communications.publish_now(first.pk)
    internal = approved(incident, comms, comms2, audience="internal", body="Internal only")
    communications.publish_now(internal.pk)
    second = draft(incident, comms, body="Line one\nErrors at 5%\nLine three")
    diff = communications.diff_against_previous(second)
    assert "-Errors at 38%" in diff and "+Errors at 5%" in diff
    assert not any("Internal only" in line for line in diff)
    communications.submit(second, comms)
    communications.approve(second, comms2, second.content_version)
    communications.publish_now(second.pk)
    second.refresh_from_db()
    # Once published, it still compares with the one before it, not with itself.
    assert "+Errors at 5%" in communications.diff_against_previous(second)


# Translations ---------------------------------------------------------------------------------


def test_translations_are_added_and_replaced(incident, comms):
    comm = draft(incident, comms)
    communications.set_translation(comm, comms, "zh-Hans", "我们正在调查错误。", title="调查中")
    communications.set_translation(comm, comms, "zh-hans", "我们已找到原因。")
    communications.set_translation(comm, comms, "de", "Wir untersuchen Fehler.")
    translations = dict(comm.translations.values_list("language", "body"))
    assert translations == {"zh-hans": "我们已找到原因。", "de": "Wir untersuchen Fehler."}


@pytest.mark.parametrize(
    ("language", "body", "field"),
    [("en", "Same language", "language"), ("", "x", "language"), ("chinese!", "x", "language"), ("fr", " ", "body")],
)
def test_bad_translations_are_refused(incident, comms, language, body, field):
    comm = draft(incident, comms)
    with pytest.raises(ValidationError) as exc:
        communications.set_translation(comm, comms, language, body)
    assert field in exc.value.message_dict
    assert not CommunicationTranslation.objects.exists()


def test_a_published_updates_translations_cannot_change(incident, comms, comms2):
    comm = approved(incident, comms, comms2)
    communications.publish_now(comm.pk)
    with pytest.raises(ValidationError):
        communications.set_translation(comm, comms, "zh-hans", "太晚了")


def test_translating_an_approved_update_sends_it_back_to_review(incident, comms, comms2):
    comm = approved(incident, comms, comms2)
    communications.set_translation(comm, comms, "zh-hans", "我们正在调查。")
    comm.refresh_from_db()
    assert comm.status == Status.IN_REVIEW and comm.approved_by is None
    assert "zh-hans translation added" in comms_entries(incident)[-1].body


# The comms pages ------------------------------------------------------------------------------


def test_comms_page_lists_communications_by_audience(as_user, incident, comms, comms2):
    published = approved(incident, comms, comms2, body="Public words")
    communications.publish_now(published.pk, comms2.pk)
    draft(incident, comms, audience="regulators", title="Initial notification", body="Dear authority")
    response = as_user(comms).get(url("incidents:comms:index", incident.key))
    assert response.status_code == 200
    page = text_of(response)
    assert page.index("Status page") < page.index("Public words") < page.index("Regulators")
    assert page.index("Regulators") < page.index("Initial notification")
    assert "Published" in page and "comms2" in page
    assert f'href="/incidents/{incident.key}/comms/new/"' in page


def test_comms_staff_drafts_a_status_page_update_from_the_page(as_user, incident, comms, api_service, web_chat):
    client = as_user(comms)
    response = client.post(
        url("incidents:comms:new", incident.key),
        {
            "audience": "status_page",
            "title": "",
            "body": "We are **investigating**.",
            "language": "en",
            "public_status": "identified",
            f"service_{api_service.pk}": "major_outage",
            f"service_{web_chat.pk}": "",
            "action": "save",
        },
    )
    comm = Communication.objects.get()
    assert response.status_code == 302 and response.url == url("incidents:comms:detail", incident.key, comm.pk)
    assert comm.author == comms and comm.public_status == "identified"
    assert comm.affected == [{"service": "public-api", "level": "major_outage"}]


def test_affected_services_only_go_with_status_page_updates(as_user, incident, comms, api_service):
    as_user(comms).post(
        url("incidents:comms:new", incident.key),
        {"audience": "internal", "body": "Team note", "language": "en", f"service_{api_service.pk}": "major_outage"},
    )
    assert Communication.objects.get().affected == []


def test_new_draft_defaults_service_levels_to_the_incidents_open_impacts(
    as_user, incident, comms, commander, api_service, web_chat, db
):
    services.add_impact(incident, commander, service=api_service, level="partial_outage")
    page = text_of(as_user(comms).get(url("incidents:comms:new", incident.key)))
    select = re.search(rf'<select name="service_{api_service.pk}".*?</select>', page, re.S).group(0)
    assert re.search(r'<option value="partial_outage" selected>', select)
    other = re.search(rf'<select name="service_{web_chat.pk}".*?</select>', page, re.S).group(0)
    assert re.search(r'<option value="" selected>', other)


def test_fill_from_template_fills_the_body_and_keeps_what_was_typed(
    as_user, incident, comms, investigating_template, api_service
):
    response = as_user(comms).post(
        url("incidents:comms:new", incident.key),
        {
            "audience": "internal",
            "template": investigating_template.pk,
            "title": "My subject",
            "body": "old text",
            "language": "en",
            "action": "fill",
        },
    )
    assert response.status_code == 200
    page = text_of(response)
    assert f"on API errors ({incident.reference}, SEV2)" in page
    assert "old text" not in page
    assert 'value="My subject"' in page
    assert '<option value="status_page" selected>' in page  # the template's audience
    assert not Communication.objects.exists()


def test_fill_without_a_template_explains(as_user, incident, comms):
    response = as_user(comms).post(
        url("incidents:comms:new", incident.key), {"audience": "internal", "body": "x", "action": "fill"}
    )
    assert response.status_code == 400
    assert "Choose a template" in text_of(response)


def test_new_page_prefills_from_a_template_in_the_link(as_user, incident, comms, investigating_template):
    response = as_user(comms).get(url("incidents:comms:new", incident.key) + f"?template={investigating_template.pk}")
    assert response.status_code == 200
    assert f"({incident.reference}, SEV2)" in text_of(response)


def test_invalid_draft_is_shown_again_with_errors(as_user, incident, comms):
    response = as_user(comms).post(
        url("incidents:comms:new", incident.key), {"audience": "nope", "body": "", "language": "??"}
    )
    assert response.status_code == 400
    assert not Communication.objects.exists()


def test_preview_renders_sanitised_markdown(as_user, comms, viewer):
    response = as_user(viewer).post(
        url("comms:preview"), {"body": "**bold** <script>alert(1)</script>"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert "<strong>bold</strong>" in response.content.decode()
    assert "<script" not in response.content.decode()
    response = as_user(comms).post(url("comms:preview") + "?field=translation-body", {"translation-body": "*zh*"})
    assert "<em>zh</em>" in response.content.decode()
    assert as_user(comms).get(url("comms:preview")).status_code == 405
    assert as_user(None).post(url("comms:preview"), {"body": "x"}).status_code == 302


def test_detail_page_shows_body_diff_translations_and_allowed_buttons(as_user, incident, comms, comms2):
    first = approved(incident, comms, comms2, body="Errors at 38%")
    communications.publish_now(first.pk)
    comm = draft(incident, comms, body="Errors at **5%**")
    communications.set_translation(comm, comms, "zh-hans", "错误率为 5%")
    communications.submit(comm, comms)
    page = text_of(as_user(comms2).get(url("incidents:comms:detail", incident.key, comm.pk)))
    assert "Errors at <strong>5%</strong>" in page
    assert "-Errors at 38%" in page and "+Errors at **5%**" in page
    assert "错误率为 5%" in page
    actions = set(re.findall(r'data-action="([\w-]+)"', page))
    assert actions == {"approve", "send-back", "discard"}


def test_author_sees_why_they_cannot_approve_and_is_refused_with_a_message(as_user, incident, comms):
    comm = draft(incident, comms)
    communications.submit(comm, comms)
    client = as_user(comms)
    page = text_of(client.get(url("incidents:comms:detail", incident.key, comm.pk)))
    assert "someone else must approve" in page
    response = client.post(
        url("incidents:comms:act", incident.key, comm.pk, "approve"), {"version": comm.content_version}, follow=True
    )
    assert "Someone who neither wrote nor changed the text must approve" in text_of(response)
    assert Communication.objects.get(pk=comm.pk).status == Status.IN_REVIEW


def test_workflow_through_the_pages(as_user, incident, comms, comms2, django_capture_on_commit_callbacks):
    comm = draft(incident, comms)
    author, approver = as_user(comms), as_user(comms2)
    act = lambda client, action, **data: client.post(url("incidents:comms:act", incident.key, comm.pk, action), data)  # noqa: E731
    assert act(author, "submit").status_code == 302
    act(approver, "approve", version=1)
    assert Communication.objects.get(pk=comm.pk).status == Status.APPROVED
    with django_capture_on_commit_callbacks() as callbacks:
        response = act(approver, "publish")
    assert response.status_code == 302 and callbacks
    assert Communication.objects.get(pk=comm.pk).status == Status.SCHEDULED  # due now, until the worker runs
    communications.publish_now(comm.pk, comms2.pk)
    page = text_of(approver.get(url("incidents:comms:index", incident.key)))
    assert re.search(r'data-testid="comm-state">Published<', page)
    detail = text_of(approver.get(url("incidents:comms:detail", incident.key, comm.pk)))
    assert "data-action" not in detail  # nothing left to do


def test_illegal_move_through_the_pages_is_a_message_not_an_error(as_user, incident, comms):
    comm = draft(incident, comms)
    response = as_user(comms).post(url("incidents:comms:act", incident.key, comm.pk, "publish"), follow=True)
    assert response.status_code == 200
    assert "Only an approved communication can be published" in text_of(response)


def test_unknown_action_is_404(as_user, incident, comms):
    comm = draft(incident, comms)
    assert as_user(comms).post(url("incidents:comms:act", incident.key, comm.pk, "explode")).status_code == 404


def test_schedule_through_the_page(as_user, incident, comms, comms2):
    comm = approved(incident, comms, comms2)
    client = as_user(comms)
    path = url("incidents:comms:schedule", incident.key, comm.pk)
    past = (timezone.localtime() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(path, {"scheduled_for": past})
    assert response.status_code == 400 and "Choose a time in the future" in text_of(response)
    response = client.post(path, {"scheduled_for": "tomorrow-ish"})
    assert response.status_code == 400
    future = (timezone.localtime() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    assert client.post(path, {"scheduled_for": future}).status_code == 302
    assert Communication.objects.get(pk=comm.pk).status == Status.SCHEDULED
    page = text_of(client.get(url("incidents:comms:detail", incident.key, comm.pk)))
    assert set(re.findall(r'data-action="([\w-]+)"', page)) == {"publish", "unschedule", "discard"}


def test_editing_through_the_page_sends_an_approved_update_back(as_user, incident, comms, comms2):
    comm = approved(incident, comms, comms2, body="Old words")
    client = as_user(comms)
    page = text_of(client.get(url("incidents:comms:edit", incident.key, comm.pk)))
    assert "Old words" in page and "sends it back to review" in page
    response = client.post(
        url("incidents:comms:edit", incident.key, comm.pk),
        {"audience": "status_page", "body": "New words", "language": "en", "public_status": "monitoring"},
    )
    assert response.status_code == 302
    comm.refresh_from_db()
    assert comm.body == "New words" and comm.status == Status.IN_REVIEW and comm.public_status == "monitoring"


def test_a_published_update_cannot_be_edited_from_the_page(as_user, incident, comms, comms2):
    comm = approved(incident, comms, comms2, body="Final")
    communications.publish_now(comm.pk)
    response = as_user(comms).post(
        url("incidents:comms:edit", incident.key, comm.pk), {"audience": "status_page", "body": "x", "language": "en"}
    )
    assert response.status_code == 302
    assert Communication.objects.get(pk=comm.pk).body == "Final"


def test_translation_through_the_page(as_user, incident, comms):
    comm = draft(incident, comms)
    client = as_user(comms)
    path = url("incidents:comms:translate", incident.key, comm.pk)
    response = client.post(
        path, {"translation-language": "zh-hans", "translation-title": "调查中", "translation-body": "我们正在调查。"}
    )
    assert response.status_code == 302
    assert comm.translations.get().body == "我们正在调查。"
    page = text_of(client.get(url("incidents:comms:detail", incident.key, comm.pk) + "?translation=zh-hans"))
    assert "我们正在调查。" in page and 'value="zh-hans"' in page
    response = client.post(path, {"translation-language": "en", "translation-body": "same as original"})
    assert response.status_code == 400 and "other than the original" in text_of(response)
    response = client.post(path, {"translation-language": "中文", "translation-body": "x"})
    assert response.status_code == 400


# Who may see and do what, from every side ------------------------------------------------------


def test_viewer_reads_comms_but_cannot_write(as_user, incident, comms, viewer):
    comm = draft(incident, comms)
    client = as_user(viewer)
    index = client.get(url("incidents:comms:index", incident.key))
    assert index.status_code == 200
    assert "New communication" not in text_of(index)
    detail = client.get(url("incidents:comms:detail", incident.key, comm.pk))
    assert detail.status_code == 200 and "data-action" not in text_of(detail)
    refused = client.get(url("incidents:comms:new", incident.key))
    assert refused.status_code == 403
    assert "Only comms staff and the incident's commanders may write communications." in text_of(refused)
    assert (
        client.post(url("incidents:comms:new", incident.key), {"audience": "internal", "body": "x"}).status_code == 403
    )
    assert client.post(url("incidents:comms:act", incident.key, comm.pk, "submit")).status_code == 403
    assert client.get(url("incidents:comms:edit", incident.key, comm.pk)).status_code == 403
    assert (
        client.post(url("incidents:comms:schedule", incident.key, comm.pk), {"scheduled_for": "x"}).status_code == 403
    )
    response = client.post(
        url("incidents:comms:translate", incident.key, comm.pk),
        {"translation-language": "zh-hans", "translation-body": "x"},
    )
    assert response.status_code == 403
    comm.refresh_from_db()
    assert comm.status == Status.DRAFT and not comm.translations.exists()


@pytest.mark.parametrize("who", ["responder", "outsider"])
def test_others_who_see_the_incident_read_but_cannot_write(request, as_user, incident, comms, who):
    comm = draft(incident, comms)
    client = as_user(request.getfixturevalue(who))
    assert client.get(url("incidents:comms:index", incident.key)).status_code == 200
    assert client.post(url("incidents:comms:act", incident.key, comm.pk, "discard")).status_code == 403


def test_outsiders_get_404_on_confidential_incidents_everywhere(as_user, confidential, commander, outsider, comms):
    comm = draft(confidential, commander)
    # Group membership is not enough: a comms user who is not on the incident cannot see it.
    for user in (outsider, comms):
        client = as_user(user)
        paths = [
            url("incidents:comms:index", confidential.key),
            url("incidents:comms:new", confidential.key),
            url("incidents:comms:detail", confidential.key, comm.pk),
            url("incidents:comms:edit", confidential.key, comm.pk),
        ]
        for path in paths:
            assert client.get(path).status_code == 404, path
        posts = [
            url("incidents:comms:new", confidential.key),
            url("incidents:comms:act", confidential.key, comm.pk, "submit"),
            url("incidents:comms:schedule", confidential.key, comm.pk),
            url("incidents:comms:translate", confidential.key, comm.pk),
        ]
        for path in posts:
            assert client.post(path, {"body": "x"}).status_code == 404, path
    assert Communication.objects.get(pk=comm.pk).status == Status.DRAFT


def test_security_and_members_see_confidential_comms(as_user, confidential, commander, security):
    comm = draft(confidential, commander, audience="regulators", body="Art. 33 notice")
    assert "Art. 33 notice" in text_of(as_user(security).get(url("incidents:comms:index", confidential.key)))
    assert as_user(commander).get(url("incidents:comms:detail", confidential.key, comm.pk)).status_code == 200


def test_a_communication_of_another_incident_is_404(as_user, incident, declare, comms):
    other = declare(title="Other")
    comm = draft(other, comms)
    assert as_user(comms).get(url("incidents:comms:detail", incident.key, comm.pk)).status_code == 404


def test_anonymous_is_sent_to_sign_in(incident):
    response = Client().get(url("incidents:comms:index", incident.key))
    assert response.status_code == 302 and "/login/" in response.url


# Query counts ---------------------------------------------------------------------------------


def count_queries(client, path):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path)
    assert response.status_code == 200, path
    return len(ctx.captured_queries)


def add_comms(incident, users, count):
    audiences = Communication.Audience.values
    statuses = [Status.DRAFT, Status.IN_REVIEW, Status.APPROVED, Status.PUBLISHED]
    now = timezone.now()
    created = Communication.objects.bulk_create(
        Communication(
            incident=incident,
            audience=audiences[i % len(audiences)],
            body=f"message {i}",
            status=statuses[i % len(statuses)],
            author=users[i % len(users)],
            approved_by=users[(i + 1) % len(users)] if i % 4 >= 2 else None,
            published_by=users[0] if i % 4 == 3 else None,
            published_at=now - timedelta(minutes=count - i) if i % 4 == 3 else None,
        )
        for i in range(count)
    )
    CommunicationTranslation.objects.bulk_create(
        CommunicationTranslation(communication=c, language="zh-hans", body="译文") for c in created[::3]
    )


def test_comms_page_queries_do_not_grow_with_the_communications(
    as_user, incident, comms, comms2, commander, django_assert_max_num_queries
):
    users = [comms, comms2, commander]
    add_comms(incident, users, 10)
    client = as_user(comms)
    path = url("incidents:comms:index", incident.key)
    client.get(path)
    small = count_queries(client, path)
    add_comms(incident, users, 90)
    assert Communication.objects.count() == 100
    big = count_queries(client, path)
    assert small == big
    with django_assert_max_num_queries(12):
        client.get(path)


def test_detail_page_queries_are_bounded(as_user, incident, comms, comms2, django_assert_max_num_queries):
    comm = draft(incident, comms)
    for language in ("zh-hans", "de", "fr", "ja"):
        communications.set_translation(comm, comms, language, f"text in {language}")
    add_comms(incident, [comms, comms2], 50)
    client = as_user(comms2)
    path = url("incidents:comms:detail", incident.key, comm.pk)
    client.get(path)
    with django_assert_max_num_queries(14):
        client.get(path)


def test_new_draft_page_queries_are_bounded(as_user, incident, comms, commander, django_assert_max_num_queries):
    from incidents.models import RecipientList, Service

    for i in range(20):
        service = Service.objects.create(name=f"S{i}", slug=f"s{i}")
        services.add_impact(incident, commander, service=service, level="partial_outage")
        RecipientList.objects.create(name=f"List {i}", audience="customers")
    client = as_user(comms)
    path = url("incidents:comms:new", incident.key)
    client.get(path)
    # 16: with the recipient lists to send to and the legal clocks' stages a regulator message
    # may notify, one query each.
    with django_assert_max_num_queries(16):
        client.get(path)


# The template library pages -------------------------------------------------------------------


def test_template_library_is_read_by_all_and_written_by_comms_and_commanders(as_user, comms, commander, viewer):
    assert as_user(viewer).get(url("comms:templates")).status_code == 200
    assert as_user(viewer).get(url("comms:template_create")).status_code == 403
    data = {"name": "Holding line", "audience": "partners", "public_status": "", "language": "en", "body": "{title}"}
    assert as_user(viewer).post(url("comms:template_create"), data).status_code == 403
    assert as_user(comms).post(url("comms:template_create"), data).status_code == 302
    template = CommunicationTemplate.objects.get(name="Holding line")
    edit = url("comms:template_edit", template.pk)
    assert as_user(viewer).get(edit).status_code == 403
    response = as_user(commander).post(edit, {**data, "body": "We are aware of {services}."})
    assert response.status_code == 302
    template.refresh_from_db()
    assert template.body == "We are aware of {services}."
    page = text_of(as_user(comms).get(url("comms:templates")))
    assert "Holding line" in page and "Status page: investigating" in page
    assert as_user(viewer).post(url("comms:template_delete", template.pk)).status_code == 403
    assert as_user(comms).post(url("comms:template_delete", template.pk)).status_code == 302
    assert not CommunicationTemplate.objects.filter(name="Holding line").exists()


def test_template_form_refuses_bad_input(as_user, comms):
    client = as_user(comms)
    response = client.post(
        url("comms:template_create"),
        {"name": "Status page: investigating", "audience": "press", "language": "klingon!", "body": ""},
    )
    assert response.status_code == 400
    page = text_of(response)
    assert "already exists" in page and "Select a valid choice" in page


# The API --------------------------------------------------------------------------------------


def api_url(incident, *rest):
    path = f"/api/v1/incidents/{incident.key}/communications/"
    return path + "".join(f"{part}/" for part in rest)


def test_api_workflow(api, incident, comms, comms2, api_service, django_capture_on_commit_callbacks):
    author, approver = api(comms), api(comms2)
    response = author.post(
        api_url(incident),
        {
            "audience": "status_page",
            "body": "We are investigating.",
            "affected": [{"service": "public-api", "level": "major_outage"}],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["status"] == "draft" and data["author"] == "comms" and data["public_status"] == "investigating"
    assert data["affected"] == [{"service": "public-api", "level": "major_outage"}]
    pk = data["id"]
    assert author.post(api_url(incident, pk, "submit")).json()["status"] == "in_review"
    assert data["version"] == 1
    refused = author.post(api_url(incident, pk, "approve"), {"version": 1}, format="json")
    assert refused.status_code == 400 and "approved_by" in refused.json()
    assert approver.post(api_url(incident, pk, "approve"), {"version": 1}).json()["approved_by"] == "comms2"
    response = author.post(
        api_url(incident, pk, "translations"), {"language": "zh-hans", "body": "我们正在调查。"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["status"] == "in_review"  # a new translation needs approval again
    assert response.json()["version"] == 2
    assert response.json()["translations"] == [{"language": "zh-hans", "title": "", "body": "我们正在调查。"}]
    approver.post(api_url(incident, pk, "approve"), {"version": 2})
    when = (timezone.now() + timedelta(hours=1)).isoformat()
    response = author.post(api_url(incident, pk, "schedule"), {"scheduled_for": when}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "scheduled"
    assert author.post(api_url(incident, pk, "unschedule")).json()["status"] == "approved"
    with django_capture_on_commit_callbacks() as callbacks:
        response = author.post(api_url(incident, pk, "publish"))
    assert response.status_code == 202 and callbacks
    communications.publish_now(pk, comms.pk)
    again = author.post(api_url(incident, pk, "publish"))
    assert again.status_code == 200 and again.json()["status"] == "published"
    listed = author.get(api_url(incident)).json()
    assert [c["id"] for c in listed["results"]] == [pk]
    assert author.get(api_url(incident, pk)).json()["published_by"] == "comms"


def test_api_create_from_a_template_fills_the_body(api, incident, comms, investigating_template):
    response = api(comms).post(
        api_url(incident), {"audience": "status_page", "template": investigating_template.pk}, format="json"
    )
    assert response.status_code == 201
    assert f"({incident.reference}, SEV2)" in response.json()["body"]
    assert response.json()["template"] == investigating_template.pk


def test_api_patch_edits_and_sends_an_approved_update_back(api, incident, comms, comms2):
    comm = approved(incident, comms, comms2)
    response = api(comms).patch(api_url(incident, comm.pk), {"body": "Better"}, format="json")
    assert response.status_code == 200
    assert response.json()["body"] == "Better" and response.json()["status"] == "in_review"
    assert api(comms).put(api_url(incident, comm.pk), {"body": "x"}, format="json").status_code == 405


def test_api_send_back_and_discard(api, incident, comms, comms2):
    comm = draft(incident, comms)
    client = api(comms2)
    client.post(api_url(incident, comm.pk, "submit"))
    assert client.post(api_url(incident, comm.pk, "send-back")).json()["status"] == "draft"
    assert client.post(api_url(incident, comm.pk, "discard")).json()["status"] == "discarded"
    refused = client.post(api_url(incident, comm.pk, "submit"))
    assert refused.status_code == 400 and "status" in refused.json()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"audience": "press", "body": "x"}, "audience"),
        ({"audience": ["status_page"], "body": "x"}, "audience"),
        ({"body": "x"}, "audience"),
        ({"audience": "internal"}, "body"),
        ({"audience": "internal", "body": "   "}, "body"),
        ({"audience": "internal", "body": "a\x00b"}, "body"),
        ({"audience": "internal", "body": {"x": 1}}, "body"),
        ({"audience": "internal", "body": "x", "language": "english"}, "language"),
        ({"audience": "internal", "body": "x", "language": "x" * 40}, "language"),
        ({"audience": "internal", "body": "x", "title": "t" * 300}, "title"),
        ({"audience": "status_page", "body": "x", "public_status": "down"}, "public_status"),
        ({"audience": "status_page", "body": "x", "affected": "public-api"}, "affected"),
        (
            {"audience": "status_page", "body": "x", "affected": [{"service": "public-api", "level": "down"}]},
            "affected",
        ),
        (
            {"audience": "status_page", "body": "x", "affected": [{"service": "nope", "level": "major_outage"}]},
            "affected",
        ),
        (
            {"audience": "status_page", "body": "x", "affected": [{"service": None, "level": "major_outage"}]},
            "affected",
        ),
        ({"audience": "status_page", "body": "x", "affected": [["public-api", "major_outage"]]}, "affected"),
        (
            {"audience": "status_page", "body": "x", "affected": [{"service": "a\x00", "level": "operational"}]},
            "affected",
        ),
        ({"audience": "status_page", "body": "x", "template": 999999}, "template"),
        ({"audience": "status_page", "body": "x", "template": "one"}, "template"),
    ],
)
def test_api_bad_input_is_400_keyed_by_field(api, incident, comms, api_service, payload, field):
    response = api(comms).post(api_url(incident), payload, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert not Communication.objects.exists()


@pytest.mark.parametrize(
    "value",
    ["tomorrow", "", None, 12, "2020-01-01T00:00:00Z", "99999-01-01T00:00", "2030-13-45T25:61", ["2030-01-01"], "\x00"],
)
def test_api_schedule_garbage_or_past_times_are_400(api, incident, comms, comms2, value):
    comm = approved(incident, comms, comms2)
    response = api(comms).post(api_url(incident, comm.pk, "schedule"), {"scheduled_for": value}, format="json")
    assert response.status_code == 400
    assert "scheduled_for" in response.json()
    assert Communication.objects.get(pk=comm.pk).status == Status.APPROVED


def test_api_garbage_never_500(api, incident, comms, comms2, api_service):
    comm = draft(incident, comms)
    client = api(comms)
    garbage = [
        [],
        "string",
        {"affected": [{}]},
        {"affected": [{"service": {"a": 1}, "level": "operational"}]},
        {"affected": [{"service": "public-api", "level": "operational", "extra": 1}]},
        {"affected": None},
        {"language": None},
        {"language": ""},
        {"public_status": None},
        {"audience": None},
        {"title": None},
        {"body": None},
        {"template": 1},
        {"status": "published"},
    ]
    for payload in garbage:
        for response in (
            client.post(api_url(incident), payload, format="json"),
            client.patch(api_url(incident, comm.pk), payload, format="json"),
            client.post(api_url(incident, comm.pk, "translations"), payload, format="json"),
            client.post(api_url(incident, comm.pk, "schedule"), payload, format="json"),
        ):
            assert response.status_code < 500, (payload, response.content)
    bad_json = client.post(api_url(incident, comm.pk, "schedule"), "{bad json", content_type="application/json")
    assert bad_json.status_code == 400
    assert client.get(api_url(incident, "abc")).status_code == 404
    comm.refresh_from_db()
    assert comm.status == Status.DRAFT and comm.body == "We are looking into errors."


def test_api_patch_status_is_not_a_shortcut_around_the_workflow(api, incident, comms):
    comm = draft(incident, comms)
    response = api(comms).patch(api_url(incident, comm.pk), {"status": "published"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "draft"


def test_api_viewer_reads_but_cannot_write(api, incident, comms, viewer):
    comm = draft(incident, comms)
    client = api(viewer)
    assert client.get(api_url(incident)).status_code == 200
    assert client.get(api_url(incident, comm.pk)).status_code == 200
    refused = client.post(api_url(incident), {"audience": "internal", "body": "x"}, format="json")
    assert refused.status_code == 403 and "comms staff" in refused.json()["detail"]
    # Refused before the input is judged: garbage from a viewer is a 403 too.
    assert client.post(api_url(incident), {"audience": "nope"}, format="json").status_code == 403
    for action in ("submit", "approve", "send-back", "discard", "schedule", "unschedule", "publish", "translations"):
        assert client.post(api_url(incident, comm.pk, action), {}, format="json").status_code == 403, action
    assert client.patch(api_url(incident, comm.pk), {"body": "x"}, format="json").status_code == 403
    assert Communication.objects.get(pk=comm.pk).body == "We are looking into errors."


def test_api_outsider_gets_404_on_confidential_incidents(api, confidential, commander, outsider, comms, security):
    comm = draft(confidential, commander)
    for user in (outsider, comms):
        client = api(user)
        assert client.get(api_url(confidential)).status_code == 404
        assert client.get(api_url(confidential, comm.pk)).status_code == 404
        assert (
            client.post(api_url(confidential), {"audience": "internal", "body": "x"}, format="json").status_code == 404
        )
        assert client.post(api_url(confidential, comm.pk, "submit")).status_code == 404
        assert client.patch(api_url(confidential, comm.pk), {"body": "x"}, format="json").status_code == 404
    assert api(security).get(api_url(confidential, comm.pk)).status_code == 200
    assert api(None).get(api_url(confidential)).status_code in (401, 403)


def test_api_list_queries_do_not_grow(api, incident, comms, comms2, django_assert_max_num_queries):
    add_comms(incident, [comms, comms2], 10)
    client = api(comms)
    client.get(api_url(incident))  # the user's groups are cached on the user after this
    with CaptureQueriesContext(connection) as small:
        assert client.get(api_url(incident)).status_code == 200
    add_comms(incident, [comms, comms2], 40)
    with CaptureQueriesContext(connection) as big:
        assert client.get(api_url(incident)).status_code == 200
    assert len(small.captured_queries) == len(big.captured_queries)


def test_api_templates_crud_for_comms_and_commanders(api, comms, commander, viewer):
    path = "/api/v1/communication-templates/"
    assert api(viewer).get(path).status_code == 200
    data = {"name": "Press line", "audience": "partners", "body": "We are aware of {services}."}
    refused = api(viewer).post(path, data, format="json")
    assert refused.status_code == 403 and "comms staff" in refused.json()["detail"]
    created = api(comms).post(path, data, format="json")
    assert created.status_code == 201 and created.json()["language"] == "en"
    item = f"{path}{created.json()['id']}/"
    assert api(commander).patch(item, {"public_status": "monitoring"}, format="json").json()["public_status"] == (
        "monitoring"
    )
    assert api(viewer).delete(item).status_code == 403
    duplicate = api(comms).post(path, data, format="json")
    assert duplicate.status_code == 400 and "name" in duplicate.json()
    for bad, field in (
        ({"name": "x", "audience": "press", "body": "b"}, "audience"),
        ({"name": "x", "body": "b", "public_status": "down"}, "public_status"),
        ({"name": "x", "body": "b", "language": "??"}, "language"),
        ({"name": "x", "body": ""}, "body"),
        ({"name": "x\x00", "body": "b"}, "name"),
    ):
        response = api(comms).post(path, bad, format="json")
        assert response.status_code == 400 and field in response.json(), bad
    assert api(comms).delete(item).status_code == 204


def test_schema_describes_the_comms_endpoints_without_warnings(client):
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator

    GENERATOR_STATS.reset()
    with GENERATOR_STATS.silence():
        schema = SchemaGenerator().get_schema(request=None, public=True)
    assert [msg for msg in GENERATOR_STATS._warn_cache if "api_comms" in msg or "Level" in msg] == []
    paths = schema["paths"]
    base = "/api/v1/incidents/{incident_pk}/communications/"
    for path in (
        base,
        base + "{id}/",
        *(base + "{id}/" + step + "/" for step in ("submit", "approve", "send-back", "discard", "schedule")),
        base + "{id}/publish/",
        base + "{id}/translations/",
        "/api/v1/communication-templates/",
        "/api/v1/communication-templates/{id}/",
    ):
        assert path in paths, path
    assert "put" not in paths[base + "{id}/"]
