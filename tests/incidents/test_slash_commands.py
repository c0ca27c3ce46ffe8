"""The war-room box: POST /incidents/<pk>/log/ as htmx sends it. A plain line is a note; a line
starting with / is a command that changes state and writes a timeline entry. Any mistake comes
back inline, keeps what was typed, and changes nothing."""

import html
import re
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from incidents import services
from incidents.models import Incident, Membership, Service, TimelineEntry
from tests.conftest import HTMX


@pytest.fixture
def box(incident):
    """Type a line into the box of `incident` as a user; returns the response."""

    def _type(user, text, target=None, htmx=True):
        client = Client()
        client.force_login(user)
        target = target or incident
        return client.post(reverse("incidents:log", args=[target.key]), {"body": text}, headers=HTMX if htmx else {})

    return _type


def typed_value(response):
    match = re.search(r'<input [^>]*name="body" value="([^"]*)"', response.content.decode())
    assert match, "the box input is missing"
    return html.unescape(match.group(1))


def box_error(response):
    match = re.search(r'<p id="box-error" class="error" role="alert">(.*?)</p>', response.content.decode(), re.S)
    return html.unescape(match.group(1)) if match else None


def snapshot(incident):
    incident = Incident.objects.get(pk=incident.pk)
    return (
        incident.status,
        incident.severity,
        incident.acknowledged_at,
        list(incident.memberships.order_by("id").values_list("user__username", "role")),
        list(incident.impacts.order_by("id").values_list("service__slug", "level", "ended_at")),
        incident.timeline.count(),
    )


def last_entry(incident):
    return incident.timeline.order_by("-id").first()


# Success ----------------------------------------------------------------------------------------


def test_plain_line_becomes_a_note(box, incident, responder):
    response = box(responder, "  Edge nodes at 90% CPU  ")
    assert response.status_code == 200
    assert response["HX-Trigger"] == "warroom-changed"
    assert typed_value(response) == ""
    assert box_error(response) is None
    entry = last_entry(incident)
    assert (entry.kind, entry.body, entry.author) == ("note", "Edge nodes at 90% CPU", responder)


def test_status_command_moves_the_incident_and_logs_it(box, incident, commander):
    response = box(commander, "/status monitoring fix deployed to all regions")
    assert box_error(response) is None
    incident.refresh_from_db()
    assert incident.status == "monitoring"
    assert incident.mitigated_at is not None
    entry = last_entry(incident)
    assert entry.kind == "status"
    assert entry.data == {"field": "status", "old": "investigating", "new": "monitoring"}
    assert "fix deployed to all regions" in entry.body


def test_status_command_is_case_insensitive(box, incident, commander):
    box(commander, "/STATUS Identified")
    incident.refresh_from_db()
    assert incident.status == "identified"


def test_sev_command_changes_severity(box, incident, commander):
    box(commander, "/sev 1")
    incident.refresh_from_db()
    assert incident.severity == 1
    assert last_entry(incident).data == {"field": "severity", "old": 2, "new": 1}
    box(commander, "/severity SEV3")
    incident.refresh_from_db()
    assert incident.severity == 3


def test_commander_command_hands_over_command(box, incident, commander, responder):
    box(commander, "/commander @resp")
    assert services.commander_of(incident) == responder
    assert incident.memberships.filter(role="commander").count() == 1
    assert incident.memberships.filter(user=commander, role="responder").exists()
    assert last_entry(incident).data == {"field": "commander", "old": "cmdr", "new": "resp"}


def test_impact_command_records_an_impact(box, incident, commander, api_service):
    box(commander, "/impact public-api major eu-west us-east")
    impact = incident.impacts.get()
    assert (impact.service, impact.level, impact.regions) == (api_service, "major_outage", ["eu-west", "us-east"])
    assert impact.ended_at is None
    entry = last_entry(incident)
    assert entry.kind == "impact"
    assert entry.body == "Impact: Public API major outage in eu-west, us-east."


def test_impact_command_takes_full_level_names_and_service_names(box, incident, commander, web_chat):
    box(commander, "/impact WEB-CHAT degraded_performance")
    assert incident.impacts.get().level == "degraded_performance"


def test_impact_resolved_ends_the_open_impacts_of_that_service(box, incident, commander, api_service, web_chat):
    box(commander, "/impact public-api partial")
    box(commander, "/impact public-api major")
    box(commander, "/impact web-chat degraded")
    response = box(commander, "/impact public-api resolved")
    assert box_error(response) is None
    assert incident.impacts.filter(service=api_service, ended_at__isnull=False).count() == 2
    assert incident.impacts.filter(service=web_chat, ended_at__isnull=True).count() == 1
    assert last_entry(incident).body == "Impact on Public API ended."


def test_role_command_assigns_comms_lead(box, incident, commander, responder):
    box(commander, "/role comms resp")
    assert incident.memberships.filter(user=responder, role="comms_lead").exists()
    assert last_entry(incident).data == {"field": "comms_lead", "old": None, "new": "resp"}


def test_role_command_replaces_a_single_role_holder(box, incident, commander, responder, viewer):
    box(commander, "/role deputy resp")
    box(commander, "/role deputy view")
    assert list(incident.memberships.filter(role="deputy").values_list("user__username", flat=True)) == ["view"]
    assert last_entry(incident).body == "Deputy: resp → view."


def test_ack_command_acknowledges(box, incident, commander):
    response = box(commander, "/ack")
    assert box_error(response) is None
    incident.refresh_from_db()
    assert incident.acknowledged_at is not None
    assert last_entry(incident).body == "Acknowledged by cmdr."


def test_each_command_writes_exactly_one_entry(box, incident, commander, responder, api_service):
    for line in ["/ack", "/sev 1", "/status identified", "/role scribe resp", "/impact public-api major", "a note"]:
        before = incident.timeline.count()
        assert box_error(box(commander, line)) is None, line
        assert incident.timeline.count() == before + 1, line


def test_member_of_a_confidential_incident_uses_the_box(box, confidential, commander, responder):
    services.assign_role(confidential, responder, "responder", commander)
    response = box(responder, "found the exposed bucket", target=confidential)
    assert box_error(response) is None
    assert last_entry(confidential).body == "found the exposed bucket"


# Mistakes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line, message",
    [
        ("/frobnicate now", "Unknown command /frobnicate"),
        ("/", "Unknown command"),
        ("/   ", "Unknown command"),
        ("/status", "Usage: /status"),
        ("/status sideways", "Unknown status 'sideways'"),
        ("/status closed", "Cannot move"),
        ("/status investigating", "already investigating"),
        ("/sev 9", "Unknown severity '9'"),
        ("/sev", "Usage: /sev"),
        ("/sev 2", "already SEV2"),
        ("/commander ghost", "No active user named 'ghost'"),
        ("/commander cmdr", "already the commander"),
        ("/commander", "Usage: /commander"),
        ("/role chef resp", "Unknown role 'chef'"),
        ("/role comms", "Usage: /role"),
        ("/role comms ghost", "No active user named 'ghost'"),
        ("/impact nosuch major", "Unknown service 'nosuch'"),
        ("/impact public-api exploded", "Unknown level 'exploded'"),
        ("/impact public-api", "Usage: /impact"),
        ("/impact public-api resolved", "has no open impact"),
        ('/frob "><script>alert(1)</script>', "Unknown command /frob"),
    ],
)
def test_mistake_shows_inline_error_keeps_text_and_changes_nothing(
    box, incident, commander, responder, api_service, line, message
):
    before = snapshot(incident)
    response = box(commander, line)
    assert response.status_code == 200
    assert message in box_error(response)
    assert typed_value(response) == line
    assert "HX-Trigger" not in response
    assert 'aria-invalid="true"' in response.content.decode()
    assert "<script>alert" not in response.content.decode()
    assert snapshot(incident) == before


def test_help_lists_the_commands_and_keeps_the_text(box, incident, commander):
    response = box(commander, "/help")
    assert "/status" in response.content.decode() and "/impact" in response.content.decode()
    assert typed_value(response) == "/help"


def test_already_acknowledged_says_so(box, incident, commander):
    box(commander, "/ack")
    before = snapshot(incident)
    response = box(commander, "/ack")
    assert "already acknowledged" in box_error(response)
    assert snapshot(incident) == before


def test_empty_line_asks_for_text(box, incident, responder):
    before = snapshot(incident)
    response = box(responder, "   ")
    assert "Write something" in box_error(response)
    assert snapshot(incident) == before


def test_inactive_user_cannot_be_made_commander(box, incident, commander, responder):
    responder.is_active = False
    responder.save()
    response = box(commander, "/commander resp")
    assert "No active user" in box_error(response)
    assert services.commander_of(incident) == commander


def test_viewer_gets_an_error_and_nothing_is_logged(box, incident, viewer):
    before = snapshot(incident)
    for line in ("just watching", "/sev 1", "/status resolved", "/ack"):
        response = box(viewer, line)
        assert response.status_code == 200
        assert box_error(response), line
        assert typed_value(response) == line
    assert snapshot(incident) == before


def test_responder_may_log_but_not_command(box, incident, responder):
    assert box_error(box(responder, "looking at the gateway")) is None
    before = snapshot(incident)
    response = box(responder, "/sev 1")
    assert "Only the incident's commanders" in box_error(response)
    assert snapshot(incident) == before


def test_incident_commander_by_role_may_command_without_the_global_group(box, incident, commander, django_user_model):
    deputy = django_user_model.objects.create_user(username="dep", password="x")
    Membership.objects.create(incident=incident, user=deputy, role="deputy")
    assert box_error(box(deputy, "/sev 1")) is None
    incident.refresh_from_db()
    assert incident.severity == 1


def test_closed_incident_refuses_status_moves(box, incident, commander):
    services.change_status(incident, "resolved", commander)
    services.change_status(incident, "closed", commander)
    before = snapshot(incident)
    response = box(commander, "/status investigating")
    assert "closed incident is final" in box_error(response)
    assert snapshot(incident) == before


def test_service_name_with_spaces_is_found_by_slug(box, incident, commander, db):
    Service.objects.create(name="Login and sign-up", slug="login")
    box(commander, "/impact login partial")
    assert incident.impacts.get().service.slug == "login"


# Without htmx ------------------------------------------------------------------------------------


def test_without_htmx_a_note_redirects_back_to_the_war_room(box, incident, responder):
    response = box(responder, "no javascript here", htmx=False)
    assert response.status_code == 302
    assert response["Location"] == incident.get_absolute_url()
    assert last_entry(incident).body == "no javascript here"


def test_without_htmx_a_mistake_is_shown_on_the_page_with_the_text_kept(box, incident, commander):
    client = Client()
    client.force_login(commander)
    response = client.post(reverse("incidents:log", args=[incident.key]), {"body": "/sev 7"}, follow=True)
    page = response.content.decode()
    assert "Unknown severity" in html.unescape(page)
    assert typed_value(response) == "/sev 7"
    # The kept text is shown once, not on every later visit.
    assert typed_value(client.get(incident.get_absolute_url())) == ""
    assert TimelineEntry.objects.filter(incident=incident).count() == 1


@pytest.mark.parametrize("line", ["/commander {name}", "/role deputy {name}"])
def test_responder_cannot_learn_whether_a_username_exists(box, incident, commander, responder, django_user_model, line):
    django_user_model.objects.create_user(username="gone", password="x", is_active=False)
    answers = {name: box_error(box(responder, line.format(name=name))) for name in ("cmdr", "nosuchuser", "gone")}

    assert len(set(answers.values())) == 1, answers
    assert "Only the incident's commanders" in answers["cmdr"]


def test_commander_gets_the_same_answer_for_unknown_and_inactive_usernames(box, incident, commander, django_user_model):
    django_user_model.objects.create_user(username="gone", password="x", is_active=False)

    unknown = box_error(box(commander, "/role deputy ghost"))
    inactive = box_error(box(commander, "/role deputy gone"))

    assert unknown == "No active user named 'ghost'."
    assert inactive == "No active user named 'gone'."


def test_at_backdates_a_note_in_the_viewers_zone(box, commander, incident):
    now = timezone.now()
    earlier = timezone.localtime(now - timedelta(days=1), ZoneInfo("Asia/Shanghai"))
    client = Client()
    client.force_login(commander)
    client.cookies["tz"] = "Asia/Shanghai"
    response = client.post(
        reverse("incidents:log", args=[incident.key]),
        {"body": f"/at {earlier:%Y-%m-%d %H:%M} Bots began"},
        headers=HTMX,
    )
    assert box_error(response) is None
    entry = incident.timeline.get(body="Bots began")
    assert entry.occurred_at == earlier.replace(second=0, microsecond=0)
    assert entry.recorded_at >= now and entry.backdated


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("/at", "Write when it happened as HH:MM"),
        ("/at soon Bots began", "Write when it happened as HH:MM"),
        ("/at 24:00 Bots began", "is not a time on the calendar"),
        ("/at 2026-02-30 02:55 Bots began", "is not a time on the calendar"),
        ("/at 02:55", "Say what happened after the time"),
        ("/at 2999-01-01 02:55 Bots began", "is in the future"),
    ],
)
def test_at_refuses_bad_or_future_times_and_keeps_the_line(box, commander, incident, line, error):
    response = box(commander, line)
    assert error in box_error(response)
    assert typed_value(response) == line
    assert not incident.timeline.filter(kind="note").exists()
