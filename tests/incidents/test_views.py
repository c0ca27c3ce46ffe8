"""The HTML side: sign-in, declaring, the war-room page and its actions, the live poll, the
incident and service lists, query counts, security headers and health checks.

The war-room box (notes and slash commands) has its own file, test_slash_commands.py.
"""

import gzip
import html
import json
import re
import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.http import HttpResponse
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from config.middleware import StaffGZipMiddleware
from incidents import services
from incidents.entry_html import remembered
from incidents.models import Incident, Membership, Service, TimelineEntry, TimelineRevision
from incidents.views import TIMELINE_PAGE
from tests.conftest import HTMX, make_user

pytestmark = pytest.mark.usefixtures("clear_cache")


def url(name, *args):
    return reverse(name, args=args)


def text_of(response):
    return response.content.decode()


def live_url(incident, after=None, version=None):
    incident.refresh_from_db()
    version = incident.version if version is None else version
    if after is None:
        after = incident.timeline.order_by("-id").values_list("id", flat=True).first() or 0
    return f"{url('incidents:live', incident.pk)}?v={version}&after={after}"


# Signing in ------------------------------------------------------------------------------------


def _pages(incident):
    entry = incident.timeline.first()
    return [
        ("get", url("incidents:list")),
        ("get", url("incidents:declare")),
        ("post", url("incidents:declare")),
        ("get", url("incidents:detail", incident.key)),
        ("get", live_url(incident)),
        ("post", url("incidents:log", incident.key)),
        ("get", url("incidents:edit", incident.key)),
        ("post", url("incidents:status", incident.key)),
        ("post", url("incidents:severity", incident.key)),
        ("post", url("incidents:acknowledge", incident.key)),
        ("post", url("incidents:assign_role", incident.key)),
        ("post", url("incidents:add_impact", incident.key)),
        ("post", url("incidents:correct_time", incident.key)),
        ("get", url("incidents:edit_entry", incident.key, entry.pk)),
        ("get", url("services:list")),
        ("get", url("services:create")),
    ]


def test_anonymous_visitor_is_sent_to_sign_in_everywhere(client, incident, api_service):
    pages = _pages(incident) + [("get", url("services:detail", api_service.slug))]
    for method, path in pages:
        response = getattr(client, method)(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/login/?next="), path
    assert incident.timeline.count() == 1


def test_root_leads_to_the_incident_list(as_user, viewer):
    response = as_user(viewer).get("/")
    assert response.status_code == 302
    assert response["Location"] == url("incidents:list")


def test_user_signs_in_with_the_right_password(client, commander):
    response = client.post("/login/", {"username": "cmdr", "password": "pw-cmdr"})
    assert response.status_code == 302
    assert response["Location"] == url("incidents:list")
    assert client.get(url("incidents:list")).status_code == 200


def test_wrong_password_shows_the_form_again(client, commander):
    response = client.post("/login/", {"username": "cmdr", "password": "guess"})
    assert response.status_code == 200
    assert 'name="password"' in text_of(response)
    assert "_auth_user_id" not in client.session


@override_settings(LOGIN_RATE_LIMIT=3, LOGIN_RATE_WINDOW=60)
def test_login_is_refused_after_too_many_failed_attempts(client, commander):
    for _ in range(3):
        assert client.post("/login/", {"username": "cmdr", "password": "guess"}).status_code == 200
    response = client.post("/login/", {"username": "cmdr", "password": "guess"})
    assert response.status_code == 429
    assert response["Retry-After"] == "60"
    assert "Too many sign-in attempts" in text_of(response)
    # Even the right password waits out the window: the guesser must learn nothing.
    response = client.post("/login/", {"username": "cmdr", "password": "pw-cmdr"})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


@override_settings(LOGIN_RATE_LIMIT=3, LOGIN_RATE_WINDOW=60)
def test_successful_sign_ins_from_one_office_are_not_rate_limited(django_user_model):
    # On the worst day a whole team signs in from behind one NAT address.
    for n in range(6):
        django_user_model.objects.create_user(username=f"r{n}", password="pw-long-enough")
        response = Client().post("/login/", {"username": f"r{n}", "password": "pw-long-enough"})
        assert response.status_code == 302, n


# Declaring ----------------------------------------------------------------------------------


def test_commander_declares_incident_and_lands_in_its_war_room(as_user, commander, responder, api_service):
    client = as_user(commander)
    assert client.get(url("incidents:declare")).status_code == 200
    response = client.post(
        url("incidents:declare"),
        {
            "title": "Chat returns 502",
            "summary": "Users *worldwide* see errors.",
            "severity": "1",
            "kind": "availability",
            "services": [api_service.pk],
            "started_at": (timezone.now() - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M"),
            "commander": responder.pk,
        },
    )
    incident = Incident.objects.get()
    assert response.status_code == 302
    assert response["Location"] == incident.get_absolute_url()
    assert (incident.title, incident.severity, incident.status) == ("Chat returns 502", 1, "investigating")
    assert list(incident.services.all()) == [api_service]
    assert services.commander_of(incident) == responder
    page = text_of(client.get(response["Location"]))
    assert "Chat returns 502" in page and "<em>worldwide</em>" in page


def test_declaring_without_commander_makes_the_declarer_commander(as_user, commander):
    as_user(commander).post(url("incidents:declare"), {"title": "Slow", "severity": "3", "kind": "performance"})
    assert services.commander_of(Incident.objects.get()) == commander


@pytest.mark.parametrize("choice, expected", [("", True), ("no", False), ("yes", True)])
def test_security_incident_declared_from_the_page_is_confidential_unless_said_otherwise(
    as_user, commander, choice, expected
):
    data = {"title": "Keys leaked", "severity": "1", "kind": "data_exposure", "confidential": choice}
    assert as_user(commander).post(url("incidents:declare"), data).status_code == 302
    assert Incident.objects.get().confidential is expected


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("severity", "9", "Select a valid choice"),
        ("severity", "high", "Select a valid choice"),
        ("kind", "meteor", "Select a valid choice"),
        ("started_at", "next tuesday", "Enter a valid date/time"),
        ("started_at", "2999-01-01T10:00", "cannot start in the future"),
        ("title", "   ", "required"),
    ],
)
def test_bad_declaration_is_refused_with_form_error_and_typed_text_kept(as_user, commander, field, value, message):
    data = {
        "title": "Sign-up <refuses> numbers",
        "summary": "Only **one country** accepted & nobody knows why",
        "severity": "2",
        "kind": "availability",
    }
    data[field] = value
    response = as_user(commander).post(url("incidents:declare"), data)
    page = text_of(response)
    assert response.status_code == 400
    assert message in html.unescape(page)
    assert 'class="error"' in page
    if field != "title":
        assert 'value="Sign-up &lt;refuses&gt; numbers"' in page
    assert "Only **one country** accepted &amp; nobody knows why</textarea>" in page
    assert not Incident.objects.exists()


@pytest.mark.parametrize("method", ["get", "post"])
def test_viewer_cannot_declare(as_user, viewer, method):
    response = getattr(as_user(viewer), method)(
        url("incidents:declare"), {"title": "x", "severity": "1", "kind": "other"} if method == "post" else None
    )
    assert response.status_code == 403
    assert not Incident.objects.exists()


def test_incident_list_offers_declare_only_to_commanders(as_user, commander, viewer):
    assert url("incidents:declare") in text_of(as_user(commander).get(url("incidents:list")))
    assert url("incidents:declare") not in text_of(as_user(viewer).get(url("incidents:list")))


# The war-room page --------------------------------------------------------------------------


def test_war_room_page_shows_severity_status_commander_roles_elapsed_impacts_and_timeline(
    as_user, commander, responder, declare, api_service
):
    incident = declare(title="API errors", severity=2, started_at=timezone.now() - timedelta(hours=2, minutes=5))
    services.assign_role(incident, responder, "deputy", commander)
    services.add_impact(incident, commander, service=api_service, level="major_outage", regions=["eu-west"])
    services.log_entry(incident, responder, "Rolled back the **gateway** deploy")

    response = as_user(responder).get(incident.get_absolute_url())
    page = text_of(response)
    assert response.status_code == 200
    assert 'data-testid="severity">SEV2<' in page
    assert 'data-testid="status">Investigating<' in page
    assert 'data-testid="commander">cmdr<' in page
    assert re.search(r"Deputy</dt>\s*<dd>.*resp", page)
    assert "2 h 05 min" in page
    assert "Public API" in page and "Major outage" in page and "eu-west" in page
    assert "Rolled back the <strong>gateway</strong> deploy" in page
    assert "Declared INC-" in page
    assert 'id="box"' in page


def test_resolved_incident_shows_how_long_it_lasted(as_user, commander, declare):
    incident = declare(started_at=timezone.now() - timedelta(hours=3))
    services.change_status(incident, "resolved", commander)
    page = text_of(as_user(commander).get(incident.get_absolute_url()))
    assert "Lasted" in page and "3 h 00 min" in page
    assert "data-since" not in page  # the figure no longer ticks


def test_viewer_reads_war_room_without_box_or_commands(as_user, viewer, incident):
    page = text_of(as_user(viewer).get(incident.get_absolute_url()))
    assert "API errors" in page
    assert 'id="box"' not in page
    assert url("incidents:status", incident.key) not in page


def test_responder_gets_box_but_no_command_forms(as_user, responder, incident):
    page = text_of(as_user(responder).get(incident.get_absolute_url()))
    assert 'id="box"' in page
    assert url("incidents:status", incident.key) not in page


def test_pages_link_incidents_by_an_opaque_key_and_old_numeric_links_still_open(as_user, commander, declare):
    """Ids in links say nothing about how many incidents exist (or are hidden) between two a
    person can see; INC-n stays the human reference, and a link made with the number works."""
    first, second = declare(title="Chat down"), declare(title="Login slow")
    assert first.key != second.key and len(first.key) == 12 and first.key[0].isalpha()
    client = as_user(commander)
    listing = text_of(client.get(url("incidents:list")))
    for incident in (first, second):
        assert f'href="/incidents/{incident.key}/"' in listing
        assert f'href="/incidents/{incident.pk}/"' not in listing
        assert incident.reference in listing
    page = text_of(client.get(url("incidents:detail", second.key)))
    assert f"/incidents/{second.key}/live/" in page and f"/incidents/{second.pk}/" not in page
    old_link = client.get(f"/incidents/{second.pk}/")
    assert old_link.status_code == 200 and "Login slow" in text_of(old_link)
    assert client.get("/incidents/zzzzzzzzzzzz/").status_code == 404


def test_missing_incident_is_404(as_user, commander, db):
    assert as_user(commander).get(url("incidents:detail", 999999)).status_code == 404


def _confidential_requests(incident, commander, api_service):
    impact = services.add_impact(incident, commander, service=api_service, level="partial_outage")
    entry = services.log_entry(incident, commander, "secret note")
    deputy = Membership.objects.create(incident=incident, user=commander, role="deputy")
    return [
        ("get", url("incidents:detail", incident.key), None),
        ("get", live_url(incident, after=0, version=0), None),
        ("get", url("incidents:edit", incident.key), None),
        ("get", url("incidents:edit_entry", incident.key, entry.pk), None),
        ("post", url("incidents:log", incident.key), {"body": "hello"}),
        ("post", url("incidents:log", incident.key), {"body": "/sev 4"}),
        ("post", url("incidents:edit", incident.key), {"title": "x", "kind": "other"}),
        ("post", url("incidents:status", incident.key), {"status": "identified"}),
        ("post", url("incidents:severity", incident.key), {"severity": "4"}),
        ("post", url("incidents:acknowledge", incident.key), {}),
        ("post", url("incidents:assign_role", incident.key), {"role": "scribe", "user": commander.pk}),
        ("post", url("incidents:remove_role", incident.key, deputy.pk), {}),
        ("post", url("incidents:add_impact", incident.key), {"service": api_service.pk, "level": "major_outage"}),
        ("post", url("incidents:end_impact", incident.key, impact.pk), {}),
        ("post", url("incidents:correct_time", incident.key), {"field": "detected_at", "reason": "x"}),
        ("post", url("incidents:edit_entry", incident.key, entry.pk), {"body": "leaked"}),
    ]


def test_outsider_gets_404_for_everything_about_a_confidential_incident(
    as_user, outsider, viewer, responder, commander, confidential, api_service
):
    requests = _confidential_requests(confidential, commander, api_service)
    entries = confidential.timeline.count()
    for user in (outsider, viewer, responder):
        client = as_user(user)
        for method, path, data in requests:
            response = getattr(client, method)(path, data, headers=HTMX) if data is not None else client.get(path)
            assert response.status_code == 404, (user, path)
            assert b"Database exposed" not in response.content
    confidential.refresh_from_db()
    assert confidential.timeline.count() == entries
    assert (confidential.status, confidential.severity, confidential.title) == ("investigating", 1, "Database exposed")


def test_members_and_security_see_a_confidential_incident(as_user, commander, responder, security, confidential):
    services.assign_role(confidential, responder, "responder", commander)
    for user in (commander, responder, security):
        response = as_user(user).get(confidential.get_absolute_url())
        assert response.status_code == 200
        assert "Database exposed" in text_of(response)
        assert "confidential" in text_of(response)
        assert as_user(user).get(live_url(confidential, after=0, version=0)).status_code == 200


# War-room actions (buttons and small forms) ------------------------------------------------------


def test_commander_changes_status_from_the_page(as_user, commander, incident):
    response = as_user(commander).post(url("incidents:status", incident.key), {"status": "identified"})
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.status == "identified"
    assert incident.timeline.filter(kind="status", data__new="identified").exists()


def test_illegal_status_change_from_the_page_shows_message_and_changes_nothing(as_user, commander, incident):
    client = as_user(commander)
    response = client.post(url("incidents:status", incident.key), {"status": "closed"}, follow=True)
    assert "Cannot move" in text_of(response)
    incident.refresh_from_db()
    assert incident.status == "investigating"
    assert incident.timeline.count() == 1


def test_commander_acts_on_severity_roles_impacts_and_times(as_user, commander, responder, incident, api_service):
    client = as_user(commander)
    client.post(url("incidents:severity", incident.key), {"severity": "1"})
    client.post(url("incidents:acknowledge", incident.key))
    client.post(url("incidents:assign_role", incident.key), {"role": "scribe", "user": responder.pk})
    client.post(url("incidents:add_impact", incident.key), {"service": api_service.pk, "level": "degraded_performance"})
    impact = incident.impacts.get()
    client.post(url("incidents:end_impact", incident.key, impact.pk))
    detected = (timezone.now() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    client.post(
        url("incidents:correct_time", incident.key), {"field": "detected_at", "value": detected, "reason": "log"}
    )
    scribe = incident.memberships.get(role="scribe")
    client.post(url("incidents:remove_role", incident.key, scribe.pk))

    incident.refresh_from_db()
    impact.refresh_from_db()
    assert incident.severity == 1
    assert incident.acknowledged_at is not None
    assert impact.ended_at is not None
    assert incident.detected_at is not None
    assert not incident.memberships.filter(role="scribe").exists()
    kinds = list(incident.timeline.values_list("kind", flat=True))
    assert kinds == ["declared", "severity", "field", "role", "impact", "impact", "time", "role"]


def test_responder_cannot_command_from_the_page(as_user, responder, incident):
    response = as_user(responder).post(url("incidents:severity", incident.key), {"severity": "1"}, follow=True)
    assert "Only the incident&#x27;s commanders" in text_of(response)
    incident.refresh_from_db()
    assert incident.severity == 2
    assert incident.timeline.count() == 1


def test_bad_form_values_on_the_page_show_a_message_not_a_500(as_user, commander, incident):
    client = as_user(commander)
    for name, data in [
        ("incidents:severity", {"severity": "0"}),
        ("incidents:status", {"status": "sideways"}),
        ("incidents:add_impact", {"service": "999", "level": "major_outage"}),
        ("incidents:correct_time", {"field": "started_at", "value": "yesterday", "reason": "x"}),
        ("incidents:correct_time", {"field": "detected_at", "value": "2999-01-01T00:00", "reason": "x"}),
    ]:
        response = client.post(url(name, incident.pk), data, follow=True)
        assert response.status_code == 200, name
        assert 'class="message error"' in text_of(response), name
    assert incident.timeline.count() == 1


def test_commander_edits_incident_details(as_user, commander, incident, web_chat):
    client = as_user(commander)
    assert client.get(url("incidents:edit", incident.key)).status_code == 200
    response = client.post(
        url("incidents:edit", incident.key),
        {"title": "API and chat errors", "summary": "", "kind": "security", "services": [web_chat.pk]},
    )
    assert response.status_code == 302
    incident.refresh_from_db()
    assert (incident.title, incident.kind) == ("API and chat errors", "security")
    assert incident.timeline.filter(kind="field").count() == 3


def test_responder_cannot_open_the_edit_page(as_user, responder, incident):
    assert as_user(responder).get(url("incidents:edit", incident.key)).status_code == 403


# Editing a timeline entry keeps its history ------------------------------------------------------


def test_editing_an_entry_keeps_the_earlier_text_visible(as_user, responder, incident):
    entry = services.log_entry(incident, responder, "Gateway at 40% errors")
    client = as_user(responder)
    edit_page = client.get(url("incidents:edit_entry", incident.key, entry.pk))
    assert edit_page.status_code == 200
    assert "Gateway at 40% errors</textarea>" in text_of(edit_page)
    response = client.post(url("incidents:edit_entry", incident.key, entry.pk), {"body": "Gateway at 60% errors"})
    assert response.status_code == 302
    assert response["Location"].endswith(f"#entry-{entry.pk}")
    page = text_of(client.get(incident.get_absolute_url()))
    assert "Gateway at 60% errors" in page
    assert "Gateway at 40% errors" in page
    assert "edited" in page


def test_edit_page_lists_earlier_versions(as_user, responder, incident):
    entry = services.log_entry(incident, responder, "v1")
    services.edit_entry(entry, responder, "v2")
    services.edit_entry(entry, responder, "v3")
    page = text_of(as_user(responder).get(url("incidents:edit_entry", incident.key, entry.pk)))
    assert "Earlier versions" in page
    assert "<p>v1</p>" in page and "<p>v2</p>" in page
    assert "v3</textarea>" in page


def test_empty_edit_is_refused_and_keeps_the_original(as_user, responder, incident):
    entry = services.log_entry(incident, responder, "original")
    response = as_user(responder).post(url("incidents:edit_entry", incident.key, entry.pk), {"body": "  "})
    assert response.status_code == 400
    entry.refresh_from_db()
    assert entry.body == "original"


def test_recorded_changes_cannot_be_edited(as_user, commander, incident):
    declared = incident.timeline.get()
    response = as_user(commander).post(url("incidents:edit_entry", incident.key, declared.pk), {"body": "rewritten"})
    assert response.status_code == 400
    assert "cannot be edited" in html.unescape(text_of(response))
    declared.refresh_from_db()
    assert declared.body.startswith("Declared")


def test_someone_elses_note_cannot_be_edited_by_a_viewer(as_user, viewer, responder, incident):
    entry = services.log_entry(incident, responder, "mine")
    client = as_user(viewer)
    assert client.get(url("incidents:edit_entry", incident.key, entry.pk)).status_code == 403
    assert client.post(url("incidents:edit_entry", incident.key, entry.pk), {"body": "yours"}).status_code == 403
    entry.refresh_from_db()
    assert entry.body == "mine"


def test_entry_of_another_incident_is_404(as_user, commander, incident, declare):
    other = declare(title="Other")
    entry = services.log_entry(other, commander, "elsewhere")
    assert as_user(commander).get(url("incidents:edit_entry", incident.key, entry.pk)).status_code == 404


def test_box_works_with_csrf_checks_through_the_token_htmx_sends(commander, incident):
    client = Client(enforce_csrf_checks=True)
    client.force_login(commander)
    page = text_of(client.get(incident.get_absolute_url()))
    token = re.search(r'hx-headers=\'\{"X-CSRFToken": "([^"]+)"\}\'', page).group(1)
    path = url("incidents:log", incident.key)
    assert client.post(path, {"body": "no token"}, headers=HTMX).status_code == 403
    response = client.post(path, {"body": "with token"}, headers={**HTMX, "X-CSRFToken": token})
    assert response.status_code == 200
    assert incident.timeline.filter(body="with token").exists()


# The live poll ---------------------------------------------------------------------------------


def test_live_poll_answers_204_when_nothing_changed(as_user, viewer, incident):
    response = as_user(viewer).get(live_url(incident))
    assert response.status_code == 204
    assert response.content == b""


def test_live_poll_brings_a_new_entry_by_another_user_and_the_new_state(as_user, viewer, commander, incident):
    since = live_url(incident)
    services.log_entry(incident, commander, "Traffic is **scrubbed** upstream")
    services.change_status(incident, "identified", commander)

    response = as_user(viewer).get(since, headers=HTMX)
    page = text_of(response)
    assert response.status_code == 200
    assert 'hx-swap-oob="beforeend:#timeline-list"' in page
    assert "Traffic is <strong>scrubbed</strong> upstream" in page
    assert "Status changed: investigating → identified." in page
    assert '<div id="state" hx-swap-oob="true">' in page
    assert 'data-testid="status">Identified<' in page
    assert "Declared INC-" not in page  # only what is new
    # The next poll starts from what this one delivered, and finds nothing new.
    nxt = re.search(r'hx-get="([^"]+)"', page).group(1).replace("&amp;", "&")
    assert as_user(viewer).get(nxt).status_code == 204


def test_live_poll_sends_an_edited_entry_as_an_out_of_band_swap(as_user, viewer, responder, incident):
    entry = services.log_entry(incident, responder, "first words")
    since = live_url(incident)
    services.edit_entry(entry, responder, "better words")

    page = text_of(as_user(viewer).get(since))
    assert f'<li id="entry-{entry.pk}" class="entry kind-note" hx-swap-oob="true">' in page
    assert "better words" in page and "first words" in page
    assert "beforeend:#timeline-list" not in page


def test_live_poll_rejects_garbage_parameters(as_user, viewer, incident):
    client = as_user(viewer)
    path = url("incidents:live", incident.key)
    for query in ("v=abc&after=1", "v=1&after=x", "v=nan&after=0", "v=inf&after=0", "v=-1e300&after=0"):
        assert client.get(f"{path}?{query}").status_code == 400, query


def test_live_poll_with_huge_entry_id_does_not_fail(as_user, viewer, incident):
    response = as_user(viewer).get(f"{url('incidents:live', incident.pk)}?v=0&after=99999999999999999999999")
    assert response.status_code in (200, 400)


def test_live_poll_far_behind_asks_the_page_to_reload(as_user, viewer, commander, incident):
    since = live_url(incident)
    version = Incident.objects.get(pk=incident.pk).version + 1
    TimelineEntry.objects.bulk_create(
        TimelineEntry(incident=incident, author=commander, body=f"n{i}", seq=version) for i in range(600)
    )
    Incident.objects.filter(pk=incident.pk).update(version=version)
    services.log_entry(incident, commander, "last")
    response = as_user(viewer).get(since)
    assert response.status_code == 200
    assert response["HX-Refresh"] == "true"


def test_live_poll_for_a_missing_incident_is_404(as_user, viewer, db):
    assert as_user(viewer).get(f"{url('incidents:live', 424242)}?v=0&after=0").status_code == 404


# Incident list ---------------------------------------------------------------------------------


@pytest.fixture
def mixed(declare, commander, api_service, web_chat):
    """Five incidents in every state, declared oldest first."""
    made = {}
    for name, kwargs in [
        ("closed", {"severity": 1}),
        ("resolved", {"severity": 1}),
        ("monitoring", {"severity": 3, "kind": "performance", "services": [web_chat]}),
        ("old_open", {"severity": 4, "summary": "rumours of a *leak*"}),
        ("new_open", {"severity": 2, "kind": "security", "confidential": False, "services": [api_service]}),
    ]:
        made[name] = declare(title=f"Incident {name}", **kwargs)
    services.change_status(made["resolved"], "resolved", commander)
    services.change_status(made["closed"], "resolved", commander)
    services.change_status(made["closed"], "closed", commander)
    services.change_status(made["monitoring"], "monitoring", commander)
    return made


def titles(response):
    return re.findall(r">Incident (\w+)</a>", text_of(response))


def test_incident_list_shows_open_incidents_first(as_user, viewer, mixed):
    response = as_user(viewer).get(url("incidents:list"))
    assert response.status_code == 200
    listed = titles(response)
    assert listed[:3] == ["new_open", "monitoring", "old_open"]  # open, by severity
    assert set(listed[3:]) == {"resolved", "closed"}


@pytest.mark.parametrize(
    "query, expected",
    [
        ("status=monitoring", ["monitoring"]),
        ("status=resolved&status=closed", ["resolved", "closed"]),
        ("severity=1", ["resolved", "closed"]),
        ("severity=2&severity=3", ["new_open", "monitoring"]),
        ("kind=security", ["new_open"]),
        ("service=web-chat", ["monitoring"]),
        ("q=leak", ["old_open"]),
        ("q=incident+NEW_open", ["new_open"]),
        ("q=nothing-like-this", []),
        ("status=&severity=&kind=&service=&q=", ["new_open", "monitoring", "old_open", "resolved", "closed"]),
    ],
)
def test_incident_list_filters(as_user, viewer, mixed, query, expected):
    response = as_user(viewer).get(f"{url('incidents:list')}?{query}")
    assert response.status_code == 200
    assert sorted(titles(response)) == sorted(expected)


def test_incident_list_finds_an_incident_by_reference_and_timeline_text(as_user, viewer, commander, mixed):
    services.log_entry(mixed["monitoring"], commander, "Cloudflare rule 1234 deployed")
    client = as_user(viewer)
    assert titles(client.get(f"{url('incidents:list')}?q=cloudflare")) == ["monitoring"]
    assert titles(client.get(f"{url('incidents:list')}?q={mixed['closed'].reference}")) == ["closed"]


def test_service_filter_matches_impacted_services(as_user, viewer, commander, mixed, web_chat):
    services.add_impact(mixed["old_open"], commander, service=web_chat, level="partial_outage")
    assert sorted(titles(as_user(viewer).get(f"{url('incidents:list')}?service=web-chat"))) == [
        "monitoring",
        "old_open",
    ]


@pytest.mark.parametrize(
    "query", ["severity=9", "status=sideways", "kind=meteor", "severity=1'--", "page=abc", "page=99999"]
)
def test_bad_list_filter_shows_an_error_not_a_500(as_user, viewer, mixed, query):
    response = as_user(viewer).get(f"{url('incidents:list')}?{query}")
    assert response.status_code in (200, 400)
    if not query.startswith("page"):
        assert 'class="error"' in text_of(response)
        assert "valid choice" in html.unescape(text_of(response))


def test_filter_form_remembers_the_chosen_values(as_user, viewer, mixed):
    page = text_of(as_user(viewer).get(f"{url('incidents:list')}?severity=2&kind=security&service=public-api&q=xy"))
    assert '<option value="2" selected>' in page
    assert '<option value="security" selected>' in page
    assert '<option value="public-api" selected>' in page
    assert 'value="xy"' in page


def test_confidential_incident_is_absent_from_list_and_search_for_outsiders(
    as_user, outsider, viewer, security, commander, incident, confidential
):
    services.log_entry(confidential, commander, "keys exposed")
    for user in (outsider, viewer):
        client = as_user(user)
        for query in ("", "?q=Database", "?q=keys", f"?q={confidential.reference}", "?kind=data_exposure"):
            page = text_of(client.get(url("incidents:list") + query))
            assert "Database exposed" not in page, (user, query)
            assert f">{confidential.reference}<" not in page, (user, query)
    for user in (security, commander):
        page = text_of(as_user(user).get(url("incidents:list") + "?q=keys"))
        assert "Database exposed" in page
        assert "confidential" in page


def test_incident_list_pages_keep_the_filters(as_user, viewer, commander):
    Incident.objects.bulk_create(
        Incident(title=f"bulk {i}", severity=3, started_at=timezone.now(), created_by=commander) for i in range(60)
    )
    page = text_of(as_user(viewer).get(f"{url('incidents:list')}?severity=3"))
    assert "severity=3&amp;page=2" in page
    second = as_user(viewer).get(f"{url('incidents:list')}?severity=3&page=2")
    assert second.status_code == 200
    assert text_of(second).count('class="open"') == 10


# Services ------------------------------------------------------------------------------------------


def test_service_list_shows_status_derived_from_open_impacts(as_user, viewer, commander, declare, db):
    api = Service.objects.create(name="Public API", slug="public-api")
    chat = Service.objects.create(name="Web chat", slug="web-chat")
    login = Service.objects.create(name="Login", slug="login")
    payments = Service.objects.create(name="Payments", slug="payments")
    one, two = declare(title="one"), declare(title="two")
    services.add_impact(one, commander, service=api, level="degraded_performance")
    services.add_impact(two, commander, service=api, level="major_outage")
    services.add_impact(one, commander, service=chat, level="partial_outage")
    ended = services.add_impact(one, commander, service=login, level="major_outage")
    services.update_impact(ended, commander, ended_at=timezone.now())
    services.add_impact(one, commander, service=payments, level="partial_outage", started_at=timezone.now())

    page = text_of(as_user(viewer).get(url("services:list")))
    statuses = dict(
        re.findall(r'<td><a href="/services/[\w-]+/">([^<]+)</a>.*?data-testid="service-status">([^<]+)<', page, re.S)
    )
    assert statuses == {
        "Public API": "Major outage",
        "Web chat": "Partial outage",
        "Login": "Operational",
        "Payments": "Partial outage",
    }


def test_service_status_from_a_confidential_incident_is_hidden_from_outsiders(
    as_user, outsider, security, commander, confidential, api_service
):
    services.add_impact(confidential, commander, service=api_service, level="major_outage")
    assert "Major outage" not in text_of(as_user(outsider).get(url("services:list")))
    assert "Database exposed" not in text_of(as_user(outsider).get(api_service.get_absolute_url()))
    assert "Major outage" in text_of(as_user(security).get(url("services:list")))
    assert "Database exposed" in text_of(as_user(security).get(api_service.get_absolute_url()))


def test_commander_adds_a_service_and_viewer_cannot(as_user, commander, viewer, db):
    data = {"name": "Mobile app", "slug": "mobile-app", "group": "Product", "public": "on", "position": "0"}
    assert as_user(viewer).post(url("services:create"), data).status_code == 403
    response = as_user(commander).post(url("services:create"), data)
    assert response.status_code == 302
    assert Service.objects.filter(slug="mobile-app").exists()
    duplicate = as_user(commander).post(url("services:create"), data)
    assert duplicate.status_code == 400


def test_unknown_service_is_404(as_user, viewer, db):
    assert as_user(viewer).get(url("services:detail", "nope")).status_code == 404


# Query counts ----------------------------------------------------------------------------------------


def count_queries(client, path):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path)
    assert response.status_code == 200, path
    return len(ctx.captured_queries)


def add_entries(incident, users, count):
    """Many entries at once, as if written and some edited since the page was drawn (what
    services.record_event and edit_entry do, without one transaction per entry)."""
    version = Incident.objects.get(pk=incident.pk).version + 1
    entries = TimelineEntry.objects.bulk_create(
        TimelineEntry(incident=incident, author=users[i % len(users)], body=f"entry {i}", seq=version)
        for i in range(count)
    )
    for entry in entries[-3:]:
        entry.edited_at = timezone.now()
        entry.save(update_fields=["edited_at"])
        TimelineRevision.objects.create(entry=entry, body="earlier", replaced_by=users[0])
    Incident.objects.filter(pk=incident.pk).update(updated_at=timezone.now(), version=version)


def test_war_room_queries_do_not_grow_with_the_timeline(
    as_user, commander, responder, viewer, incident, api_service, web_chat, django_assert_max_num_queries
):
    services.add_impact(incident, commander, service=api_service, level="major_outage")
    services.add_impact(incident, commander, service=web_chat, level="partial_outage")
    services.assign_role(incident, responder, "scribe", commander)
    users = [commander, responder, viewer]
    add_entries(incident, users, 10)
    client = as_user(commander)
    client.get(incident.get_absolute_url())  # warm the session
    small = count_queries(client, incident.get_absolute_url())
    add_entries(incident, users, 990)
    big = count_queries(client, incident.get_absolute_url())
    assert small == big
    with django_assert_max_num_queries(15):
        client.get(incident.get_absolute_url())


def entries_drawn(response):
    """How many timeline entries the answer drew through incidents/_entry.html."""
    return [t.name for t in response.templates].count("incidents/_entry.html")


def timeline_of(response):
    return re.search(r'<ol id="timeline-list".*?</ol>', text_of(response), re.S).group(0)


def test_war_room_draws_an_entry_again_only_when_it_or_the_reader_changes(as_user, commander, viewer, incident):
    remembered.clear()
    for n in range(5):
        services.log_entry(incident, commander, f"note {n}")
    shown = incident.timeline.count()
    client = as_user(commander)
    first = client.get(incident.get_absolute_url())
    assert entries_drawn(first) == shown
    # Opened again (the whole room reloading, a second tab): nothing is drawn again, and the
    # timeline is the same to the byte.
    again = client.get(incident.get_absolute_url())
    assert entries_drawn(again) == 0
    assert timeline_of(again) == timeline_of(first)

    # An edit draws that entry again, with its new text and the earlier one in its history.
    entry = incident.timeline.get(body="note 3")
    services.edit_entry(entry, commander, "note 3, **corrected**")
    edited = client.get(incident.get_absolute_url())
    assert entries_drawn(edited) == 1
    timeline = timeline_of(edited)
    assert "note 3, <strong>corrected</strong>" in timeline
    assert "1 earlier version" in timeline and "<p>note 3</p>" in timeline

    # Another language or time zone is another drawing; the first stays remembered.
    chinese = client.get(incident.get_absolute_url(), headers={"accept-language": "zh-CN"})
    assert entries_drawn(chinese) == shown
    assert "编辑于" in timeline_of(chinese) and ">编辑</a>" in timeline_of(chinese)
    client.cookies["tz"] = "Asia/Shanghai"
    shanghai = client.get(incident.get_absolute_url())
    assert entries_drawn(shanghai) == shown
    assert "+08:00" in timeline_of(shanghai) and "+08:00" not in timeline
    del client.cookies["tz"]
    assert entries_drawn(client.get(incident.get_absolute_url())) == 0

    # A reader who may not edit never gets the commander's edit links from memory.
    reader = as_user(viewer).get(incident.get_absolute_url())
    assert entries_drawn(reader) == shown
    assert 'class="edit"' in timeline and 'class="edit"' not in timeline_of(reader)


def test_an_entry_first_seen_in_the_live_poll_is_drawn_plainly_on_the_page(as_user, commander, incident):
    remembered.clear()
    client = as_user(commander)
    client.get(incident.get_absolute_url())
    poll = live_url(incident)
    entry = services.log_entry(incident, commander, "new from the poll")
    patch = text_of(client.get(poll, headers=HTMX))
    assert f'<li id="entry-{entry.pk}" class="entry kind-note fresh">' in patch
    page = client.get(incident.get_absolute_url())
    assert f'<li id="entry-{entry.pk}" class="entry kind-note">' in text_of(page)


def earlier_link(page):
    """The "Show earlier entries" link of a page or step: (href for a plain click, hx-get)."""
    found = re.search(r'<p id="earlier"[^>]*><a href="([^"]*)" hx-get="([^"]*)"', page)
    return (html.unescape(found.group(1)), html.unescape(found.group(2))) if found else None


def entry_bodies(page):
    return [int(n) for n in re.findall(r"<p>entry (\d+)</p>", page)]


def test_war_room_of_a_long_incident_shows_the_newest_entries_and_links_to_earlier_ones(as_user, commander, incident):
    add_entries(incident, [commander], 2000)
    client = as_user(commander)
    page = text_of(client.get(incident.get_absolute_url()))
    assert entry_bodies(page) == list(range(2000 - TIMELINE_PAGE, 2000))
    href, hx_get = earlier_link(page)
    assert "Show earlier entries" in page

    # Without JavaScript the link is a page of the entries just before.
    older = text_of(client.get(href))
    assert entry_bodies(older) == list(range(2000 - 2 * TIMELINE_PAGE, 2000 - TIMELINE_PAGE))
    assert "Back to the latest entries" in older

    # With htmx it puts them at the top of the timeline and brings the next link.
    step = text_of(client.get(hx_get, headers=HTMX))
    assert '<div hx-swap-oob="afterbegin:#timeline-list">' in step
    assert entry_bodies(step) == list(range(2000 - 2 * TIMELINE_PAGE, 2000 - TIMELINE_PAGE))
    next_step = text_of(client.get(earlier_link(step)[1], headers=HTMX))
    assert entry_bodies(next_step) == list(range(2000 - 3 * TIMELINE_PAGE, 2000 - 2 * TIMELINE_PAGE))


def test_showing_earlier_entries_walks_back_to_the_first_in_timeline_order(
    as_user, commander, incident, django_assert_max_num_queries
):
    add_entries(incident, [commander], 2 * TIMELINE_PAGE + 10)
    # Logged last, but it happened before everything else: it belongs on the last step.
    backdated = services.log_entry(incident, commander, "what we saw first")
    TimelineEntry.objects.filter(pk=backdated.pk).update(occurred_at=incident.started_at - timedelta(days=1))
    client = as_user(commander)
    page = text_of(client.get(incident.get_absolute_url()))
    shown = entry_bodies(page)
    link = earlier_link(page)
    steps = 0
    while link:
        with django_assert_max_num_queries(8):
            step = text_of(client.get(link[1], headers=HTMX))
        shown = entry_bodies(step) + shown
        link = earlier_link(step)
        steps += 1
    assert steps == 2  # 100 on the page, then 100, then the rest
    assert "what we saw first" in step and "what we saw first" not in page
    # The incident's own entries (declared...) come first; then every entry once, in order.
    assert shown == list(range(2 * TIMELINE_PAGE + 10))


def test_outsider_cannot_load_earlier_entries_of_a_confidential_incident(as_user, outsider, commander, confidential):
    add_entries(confidential, [commander], 5)
    first = confidential.timeline.order_by("-id").first()
    response = as_user(outsider).get(f"{url('incidents:timeline_earlier', confidential.pk)}?before={first.pk}")
    assert response.status_code == 404


def test_earlier_entries_with_a_bad_entry_number_are_a_400(as_user, viewer, incident):
    client = as_user(viewer)
    path = url("incidents:timeline_earlier", incident.key)
    for query in ("", "?before=abc", "?before=-3", "?before=99999999999999999999999"):
        response = client.get(path + query)
        assert response.status_code == 400, query
        assert "entry number" in text_of(response)
    assert client.get(incident.get_absolute_url() + "?before=x").status_code == 400


def test_earlier_entries_before_an_entry_of_another_incident_are_none(as_user, commander, declare, incident):
    other = declare(title="Other")
    add_entries(other, [commander], 5)
    foreign = other.timeline.order_by("-id").first()
    step = text_of(as_user(commander).get(f"{url('incidents:timeline_earlier', incident.pk)}?before={foreign.pk}"))
    assert entry_bodies(step) == [] and earlier_link(step) is None


def test_war_room_of_a_long_incident_is_gzipped_and_small(as_user, commander, incident):
    words = "attack traffic from residential proxies rotating user agents mitigated by rate limits at the edge"
    version = Incident.objects.get(pk=incident.pk).version + 1
    TimelineEntry.objects.bulk_create(
        TimelineEntry(
            incident=incident,
            author=commander,
            seq=version,
            body=f"Entry {i}: **{words}** "
            + " ".join(f"{w}{(i * 7 + j) % 997}" for j, w in enumerate(words.split() * 5)),
        )
        for i in range(2000)
    )
    client = as_user(commander)
    response = client.get(incident.get_absolute_url(), headers={"accept-encoding": "gzip, deflate, br"})
    assert response["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in response["Vary"]
    assert len(response.content) < 60_000
    assert "Entry 1999:" in gzip.decompress(response.content).decode()
    # A client that does not ask for it gets the page as it is.
    assert "Content-Encoding" not in client.get(incident.get_absolute_url())


def test_gzip_leaves_a_response_that_chose_its_encoding_alone(rf):
    # The public status page serves small documents as they are, with a strong ETag, and says
    # it decided with Vary: Accept-Encoding; the staff pages' compression must not redo it.
    def status_document(request):
        response = HttpResponse(b'{"status": "%s"}' % (b"ok " * 300), content_type="application/json")
        response["ETag"] = '"abc"'
        response["Vary"] = "Accept-Language, Accept-Encoding"
        return response

    def staff_page(request):
        return HttpResponse(b"<p>" + b"entry " * 300, content_type="text/html; charset=utf-8")

    request = rf.get("/", headers={"accept-encoding": "gzip"})
    chosen = StaffGZipMiddleware(status_document)(request)
    assert "Content-Encoding" not in chosen and chosen["ETag"] == '"abc"'
    assert StaffGZipMiddleware(staff_page)(request)["Content-Encoding"] == "gzip"


def test_api_answers_are_gzipped_for_clients_that_accept_it(as_user, commander, incident):
    response = as_user(commander).get("/api/v1/incidents/", headers={"accept-encoding": "gzip"})
    assert response["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(response.content))


def test_incident_list_queries_do_not_grow_with_the_number_of_incidents(
    as_user, commander, outsider, security, api_service, web_chat, django_assert_max_num_queries
):
    def add_incidents(count):
        made = Incident.objects.bulk_create(
            Incident(
                title=f"bulk {i}",
                severity=1 + i % 4,
                status=["investigating", "resolved", "monitoring"][i % 3],
                confidential=i % 5 == 0,
                started_at=timezone.now(),
                created_by=commander,
            )
            for i in range(count)
        )
        Membership.objects.bulk_create(Membership(incident=i, user=commander, role="commander") for i in made)
        through = Incident.services.through
        through.objects.bulk_create(through(incident=i, service=api_service) for i in made)
        through.objects.bulk_create(through(incident=i, service=web_chat) for i in made[::2])

    add_incidents(10)
    for user in (commander, outsider, security):
        client = as_user(user)
        client.get(url("incidents:list"))
        small = count_queries(client, url("incidents:list"))
        small_filtered = count_queries(client, url("incidents:list") + "?q=bulk&service=public-api&severity=1")
        add_incidents(990) if user is commander else None
        assert count_queries(client, url("incidents:list")) == small
        assert count_queries(client, url("incidents:list") + "?q=bulk&service=public-api&severity=1") == small_filtered
        with django_assert_max_num_queries(10):
            client.get(url("incidents:list"))


def test_service_list_queries_are_bounded(as_user, viewer, commander, incident, django_assert_max_num_queries):
    Service.objects.bulk_create(Service(name=f"svc {i}", slug=f"svc-{i}") for i in range(200))
    for service in Service.objects.all()[:20]:
        services.add_impact(incident, commander, service=service, level="partial_outage")
    client = as_user(viewer)
    client.get(url("services:list"))
    with django_assert_max_num_queries(6):
        client.get(url("services:list"))


def test_live_poll_queries_are_bounded(as_user, viewer, commander, responder, incident, django_assert_max_num_queries):
    client = as_user(viewer)
    client.get(incident.get_absolute_url())
    since = live_url(incident)
    with django_assert_max_num_queries(4):
        assert client.get(since).status_code == 204
    users = [commander, responder]
    add_entries(incident, users, 10)
    small = count_queries(client, since)
    add_entries(incident, users, 300)
    assert count_queries(client, since) == small
    with django_assert_max_num_queries(16):
        client.get(since)


# Security headers and Markdown -----------------------------------------------------------------------


def test_pages_send_a_strict_content_security_policy_and_deny_framing(as_user, commander, incident, client):
    pages = [
        as_user(commander).get(incident.get_absolute_url()),
        as_user(commander).get(url("incidents:list")),
        as_user(commander).get(url("incidents:declare")),
        as_user(commander).get(url("services:list")),
        client.get("/login/"),
    ]
    for response in pages:
        policy = response["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert "frame-ancestors 'none'" in policy
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"


def test_templates_have_no_inline_scripts_styles_or_handlers(as_user, commander, incident, api_service):
    services.add_impact(incident, commander, service=api_service, level="major_outage")
    client = as_user(commander)
    for path in (incident.get_absolute_url(), url("incidents:list"), url("incidents:declare"), url("services:list")):
        page = text_of(client.get(path))
        scripts = re.findall(r"<script\b[^>]*>", page)
        assert scripts and all("src=" in tag for tag in scripts), path
        assert "<style" not in page
        assert not re.search(r"\sstyle=", page), path
        assert not re.search(r"\son[a-z]+=", page), path


def test_markdown_in_timeline_is_sanitised_on_the_page(as_user, commander, responder, incident):
    services.log_entry(incident, responder, "<script>alert(1)</script> and [x](javascript:alert(1))")
    services.log_entry(incident, responder, '<img src=x onerror="alert(2)"> [ok](https://example.com)')
    services.update_fields(incident, commander, summary="<iframe src='https://evil.example'></iframe>**bold**")
    for client in (as_user(commander),):
        for path in (incident.get_absolute_url(), live_url(incident, after=0, version=0)):
            page = text_of(client.get(path))
            assert "<script>alert" not in page
            assert "javascript:" not in page
            assert "onerror" not in page
            assert "<iframe" not in page
            assert '<a href="https://example.com" rel="noopener noreferrer nofollow">ok</a>' in page
            assert "<strong>bold</strong>" in page


def test_typed_html_in_titles_is_escaped(as_user, commander, declare):
    incident = declare(title="<b>bold</b> title")
    for path in (incident.get_absolute_url(), url("incidents:list")):
        page = text_of(as_user(commander).get(path))
        assert "&lt;b&gt;bold&lt;/b&gt; title" in page
        assert "<b>bold</b> title" not in page


# Health ----------------------------------------------------------------------------------------------


def test_healthz_answers_ok_without_signing_in(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_readyz_reports_database_and_broker_ok(client, db):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok", "cache": "ok"}


@override_settings(CELERY_BROKER_URL="redis://127.0.0.1:1/0")
def test_readyz_names_the_broker_when_it_is_unreachable(client, db):
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["database"] == "ok"
    assert body["broker"].startswith("down")


# The live poll under concurrent writers ------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_live_poll_misses_no_entry_while_several_people_log_at_once(django_user_model, commander):
    """Four writers log 25 lines each at once while a reader polls as the page does (version
    and last id from each answer). Versions are handed out under the incident's row lock, so
    they grow in commit order: every line reaches the reader, none twice, and the versions of
    the entries grow with their ids."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks order concurrent writers on PostgreSQL; SQLite runs one writer at a time")
    incident = services.declare(title="Chat replies time out", severity=2, by=commander)
    writers = [make_user(django_user_model, f"writer{n}", "responder") for n in range(4)]
    for person in writers:
        services.assign_role(incident, person, "responder", commander)
    reader = Client()
    reader.force_login(commander)
    page = reader.get(url("incidents:detail", incident.key)).content.decode()
    version = int(re.search(r"\?v=(\d+)&amp;after=(\d+)", page)[1])
    after = int(re.search(r"\?v=(\d+)&amp;after=(\d+)", page)[2])
    seen = []

    def poll():
        nonlocal version, after
        response = reader.get(f"{url('incidents:live', incident.pk)}?v={version}&after={after}")
        if response.status_code == 204:
            return
        text = response.content.decode()
        seen.extend(int(pk) for pk in re.findall(r'id="entry-(\d+)"', text))
        version, after = (int(n) for n in re.search(r"\?v=(\d+)&amp;after=(\d+)", text).groups())

    def write(person):
        try:
            for n in range(25):
                services.log_entry(incident, person, f"{person.username} line {n}")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(person,)) for person in writers]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        poll()
    poll()

    notes = list(incident.timeline.filter(kind="note").order_by("id").values_list("id", "seq"))
    assert len(notes) == 100
    assert sorted(set(seen) & {pk for pk, _ in notes}) == [pk for pk, _ in notes]
    assert len(seen) == len(set(seen))
    assert [seq for _, seq in notes] == sorted(seq for _, seq in notes)
    assert len({seq for _, seq in notes}) == 100
