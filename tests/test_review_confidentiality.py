"""Who sees and who changes what, swept over every page and endpoint at once.

- A confidential incident is invisible to non-members (no role on it, not in the security
  group, not a superuser) whatever their global group: every page, fragment and endpoint about
  it is a 404, and nothing elsewhere (lists, counts, search, runbook pages, service status,
  the status page) gives it away.
- An object fetched by its id under an incident's URL must belong to that incident (no IDOR).
- Viewers write nothing anywhere; responders cannot command; comms staff cannot change an
  incident's state.
- User text is sanitised Markdown or escaped wherever it is shown; no view that changes state
  is CSRF-exempt except the RFC 8058 one-click unsubscribe.
"""

import re

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from rest_framework.test import APIClient

from incidents import services
from incidents.comms import services as communications
from incidents.models import (
    ActionItem,
    Communication,
    CommunicationTemplate,
    ExposureAssessment,
    Impact,
    Incident,
    Membership,
    Mitigation,
    Obligation,
    RegulatoryClock,
    Review,
    Service,
    Submission,
    TimelineEntry,
)
from incidents.security import clocks as regulatory
from runbooks import services as runbook_services
from runbooks.models import Runbook, RunbookRun, RunbookVersion, StepRun
from statuspage import views as status_views
from statuspage.models import Maintenance
from tests.conftest import make_user
from tests.test_review_inputs import api_writes, build_world, html_forms

pytestmark = pytest.mark.django_db

User = get_user_model()
SECRET = "ZEBRA-SECRET"


@pytest.fixture
def cast(django_user_model):
    """Everyone who must not see a confidential incident they have no role on, plus its
    people: root (superuser), a member and a security-group member."""
    return {
        "root": make_user(django_user_model, "root", is_superuser=True, is_staff=True),
        "member": make_user(django_user_model, "member", "responder"),
        "outsider": make_user(django_user_model, "outsider"),
        "viewer": make_user(django_user_model, "viewer", "viewer"),
        "responder": make_user(django_user_model, "responder", "responder"),
        "commander": make_user(django_user_model, "commander", "commander"),
        "comms": make_user(django_user_model, "comms", "comms"),
        "security": make_user(django_user_model, "security", "security"),
    }


NON_MEMBERS = ["outsider", "viewer", "responder", "commander", "comms"]


@pytest.fixture
def hidden(cast, web_chat):
    """A confidential incident with one of everything, its secret in every text."""
    w = build_world(cast["root"], cast["member"], web_chat, confidential=True, tag=SECRET, key="hidden")
    services.update_fields(w["incident"], cast["root"], summary=f"Summary {SECRET}")
    return w


@pytest.fixture
def shown(cast, api_service):
    """A non-confidential incident anyone signed in may see."""
    return build_world(cast["root"], cast["member"], api_service, tag="shown")


def browser(user):
    client = Client(raise_request_exception=False)
    if user is not None:
        client.force_login(user)
    return client


def api_client(user):
    client = APIClient()
    client.raise_request_exception = False
    client.force_authenticate(user)
    return client


def snapshot():
    """Everything a write could change, as comparable values."""
    return {
        "incidents": list(
            Incident.objects.order_by("pk").values_list(
                "pk", "title", "summary", "severity", "status", "kind", "confidential", "acknowledged_at", "aware_at"
            )
        ),
        "memberships": sorted(Membership.objects.values_list("incident", "user", "role")),
        "impacts": sorted(Impact.objects.values_list("pk", "level", "ended_at", "regions")),
        "timeline": TimelineEntry.objects.count(),
        "entries": sorted(TimelineEntry.objects.values_list("pk", "body")),
        "comms": sorted(Communication.objects.values_list("pk", "status", "body", "title")),
        "templates": sorted(CommunicationTemplate.objects.values_list("pk", "name", "body")),
        "mitigations": sorted(Mitigation.objects.values_list("pk", "title", "ended_at", "public")),
        "exposure": ExposureAssessment.objects.count(),
        "clocks": sorted(RegulatoryClock.objects.values_list("pk", "status", "started_at")),
        "submissions": Submission.objects.count(),
        "runs": RunbookRun.objects.count(),
        "step_runs": sorted(StepRun.objects.values_list("pk", "status", "assignee", "note")),
        "runbook_versions": RunbookVersion.objects.count(),
        "services": Service.objects.count(),
        "maintenance": sorted(Maintenance.objects.values_list("pk", "title", "cancelled")),
        "reviews": sorted(Review.objects.values_list("pk", "status", "body", "owner", "version")),
        "action_items": sorted(ActionItem.objects.values_list("pk", "title", "status", "owner", "due_on")),
    }


def incident_pages(w):
    """GET pages and fragments about one incident."""
    i = f"/incidents/{w['incident'].pk}"
    c = f"{i}/comms/{w['comm'].pk}"
    return [
        f"{i}/",
        f"{i}/live/?v=0&after=0",
        f"{i}/edit/",
        f"{i}/timeline/{w['entry'].pk}/edit/",
        f"{i}/comms/",
        f"{i}/comms/new/",
        f"{c}/",
        f"{c}/edit/",
        f"{i}/security/",
        f"{i}/security/clocks/",
        f"{i}/security/audit/",
        f"{i}/security/audit/?format=csv",
        f"{i}/security/audit/?format=json",
        f"{i}/security/mitigations/{w['mitigation'].pk}/",
        f"/runbooks/incident/{w['incident'].pk}/panel/",
        f"/runbooks/incident/{w['incident'].pk}/panel/?v=0&m=0",
        f"{i}/review/",
        f"{i}/review/items/{w['action_item'].pk}/",
        f"{i}/review/export.md",
    ]


def incident_api(w):
    """GET endpoints about one incident."""
    base = f"/api/v1/incidents/{w['incident'].pk}/"
    return [
        base,
        f"{base}timeline/",
        f"{base}timeline/{w['entry'].pk}/",
        f"{base}impacts/",
        f"{base}impacts/{w['impact'].pk}/",
        f"{base}roles/",
        f"{base}communications/",
        f"{base}communications/{w['comm'].pk}/",
        f"{base}mitigations/",
        f"{base}mitigations/{w['mitigation'].pk}/",
        f"{base}exposure/",
        f"{base}clocks/",
        f"{base}clocks/{w['clock'].pk}/",
        f"{base}runbook-runs/",
        f"/api/v1/step-runs/{w['step_run'].pk}/",
        f"{base}review/",
        f"{base}metrics/",
        f"{base}action-items/",
        f"{base}action-items/{w['action_item'].pk}/",
    ]


def about_incident(url, w):
    return f"/incidents/{w['incident'].pk}/" in url or f"/incident/{w['incident'].pk}/" in url or "/steps/" in url


# A confidential incident is a 404 to everyone without a role on it -----------------------------


@pytest.mark.parametrize("who", NON_MEMBERS)
def test_non_members_get_404_for_every_page_form_and_endpoint_of_a_confidential_incident(cast, hidden, who):
    user = cast[who]
    client, api = browser(user), api_client(user)
    before = snapshot()
    wrong = []
    for url in incident_pages(hidden):
        response = client.get(url)
        if response.status_code != 404 or SECRET.encode() in response.content:
            wrong.append(("get", url, response.status_code))
    for url, _fields, base in html_forms(hidden):
        if about_incident(url, hidden):
            for headers in ({}, {"HX-Request": "true"}):
                response = client.post(url, base, headers=headers)
                if response.status_code != 404 or SECRET.encode() in response.content:
                    wrong.append(("post", url, response.status_code))
    missing = f"/{hidden['incident'].pk + 100_000}/"
    for url in incident_api(hidden):
        response = api.get(url)
        if response.status_code != 404 or SECRET.encode() in response.content:
            wrong.append(("get", url, response.status_code))
        # OPTIONS describes the endpoint; for a hidden incident exactly as for a missing one.
        absent = api.options(url.replace(f"/{hidden['incident'].pk}/", missing, 1))
        if "/step-runs/" in url:
            absent = api.options(url.replace(f"/{hidden['step_run'].pk}/", missing))
        if api.options(url).content != absent.content:
            wrong.append(("options", url))
    for method, url, _fields, base in api_writes(hidden):
        if f"/incidents/{hidden['incident'].pk}/" in url or "/step-runs/" in url:
            response = getattr(api, method)(url, base, format="json")
            if response.status_code != 404 or SECRET.encode() in response.content:
                wrong.append((method, url, response.status_code))
    assert wrong == [], "\n".join(map(repr, wrong))
    assert snapshot() == before


@pytest.mark.parametrize("who", ["root", "member", "security"])
def test_members_security_and_superusers_see_the_confidential_incident(cast, hidden, who):
    client = browser(cast[who])
    assert SECRET.encode() in client.get(f"/incidents/{hidden['incident'].pk}/").content
    assert api_client(cast[who]).get(f"/api/v1/incidents/{hidden['incident'].pk}/").status_code == 200


def global_pages(hidden):
    """Pages and endpoints not about one incident, that list or count things across them."""
    number = hidden["incident"].pk
    slug = hidden["runbook"].slug
    service = hidden["service"].slug
    return [
        "/incidents/",
        f"/incidents/?q={SECRET[1:-1]}",  # the page repeats the query: search for part of the secret
        f"/incidents/?q=INC-{number}",
        f"/incidents/?q={number}",
        "/incidents/?confidential=true",
        f"/incidents/?service={service}",
        "/services/",
        f"/services/{service}/",
        "/mitigations/",
        "/runbooks/",
        "/runbooks/my-steps/",
        f"/runbooks/{slug}/",
        f"/runbooks/{slug}/v1/",
        "/comms/templates/",
        "/follow-ups/",
        "/follow-ups/?status=all",
        "/reviews/?days=365",
        "/status/",
        "/status/history/",
        "/status/feed.atom",
        "/status/api/v2/summary.json",
        "/status/api/v2/incidents.json",
        "/status/api/v2/components.json",
        "/api/v1/",
        "/api/v1/incidents/",
        f"/api/v1/incidents/?q={SECRET[1:-1]}",
        f"/api/v1/incidents/?q=INC-{number}",
        "/api/v1/incidents/?confidential=true",
        f"/api/v1/incidents/?service={service}",
        "/api/v1/services/",
        f"/api/v1/services/{hidden['service'].pk}/",
        "/api/v1/runbooks/",
        f"/api/v1/runbooks/{slug}/",
        "/api/v1/action-items/",
        f"/api/v1/action-items/?incident={number}",
        "/api/schema/",
    ]


@pytest.mark.parametrize("who", NON_MEMBERS)
def test_nothing_across_incidents_gives_a_confidential_one_away(cast, hidden, who, settings):
    settings.STATUSPAGE_VERSION_SECONDS = 0
    status_views.clear_cache()
    cache.clear()
    client = browser(cast[who])
    leaks = []
    for url in global_pages(hidden):
        response = client.get(url)
        body = response.content.decode()
        if response.status_code >= 400:
            leaks.append((url, response.status_code))
        if SECRET in body:
            leaks.append((url, "shows the secret"))
    assert leaks == [], leaks


def test_runbook_page_does_not_count_runs_on_incidents_the_reader_cannot_see(cast, hidden):
    """ "used by 1 run" on the data-exposure runbook would tell an outsider that a breach is
    being handled."""
    page = browser(cast["outsider"]).get(f"/runbooks/{hidden['runbook'].slug}/").content.decode()
    assert "used by 0 runs" in page
    page = browser(cast["member"]).get(f"/runbooks/{hidden['runbook'].slug}/").content.decode()
    assert "used by 1 run" in page


@pytest.mark.parametrize("who", NON_MEMBERS)
def test_service_status_from_a_confidential_impact_is_hidden_from_non_members(cast, hidden, who):
    service = hidden["service"]
    assert Impact.objects.filter(service=service, ended_at__isnull=True).exists()
    api = api_client(cast[who])
    assert api.get(f"/api/v1/services/{service.pk}/").json()["status"] == "operational"
    listed = {s["slug"]: s["status"] for s in api.get("/api/v1/services/").json()["results"]}
    assert listed[service.slug] == "operational"
    page = browser(cast[who]).get(f"/services/{service.slug}/").content.decode()
    assert "Partial outage" not in page and SECRET not in page
    assert api_client(cast["member"]).get(f"/api/v1/services/{service.pk}/").json()["status"] == "partial_outage"


def test_my_steps_forgets_a_confidential_incident_once_the_role_is_gone(cast, hidden):
    step_run = hidden["step_run"]
    runbook_services.change_step(step_run, cast["root"], assignee=cast["member"])
    assert SECRET in browser(cast["member"]).get("/runbooks/my-steps/").content.decode()
    services.remove_role(hidden["incident"], hidden["membership"], cast["root"])
    assert SECRET not in browser(cast["member"]).get("/runbooks/my-steps/").content.decode()
    assert browser(cast["member"]).post(f"/runbooks/steps/{step_run.pk}/", {"status": "done"}).status_code == 404


def publish(comm, by, settings):
    settings.WARROOM_COMMS_SELF_APPROVAL = True
    if not comm.incident.public_title:  # the status page names it by its public title: the same text
        services.set_public_title(comm.incident, by, title=comm.incident.title)
    comm = communications.submit(comm, by)  # the row as it is now: translations may have changed it
    communications.approve(comm, by, comm.content_version)
    assert communications.publish_now(comm.pk, by.pk)


def test_a_published_update_of_a_confidential_incident_never_reaches_the_status_page(cast, hidden, settings):
    settings.STATUSPAGE_VERSION_SECONDS = 0
    publish(hidden["comm"], cast["root"], settings)
    status_views.clear_cache()
    client = Client()
    for url in ("/status/", "/status/history/", "/status/feed.atom", "/status/api/v2/summary.json"):
        assert SECRET not in client.get(url).content.decode()


def test_an_incident_made_confidential_leaves_the_status_page(cast, shown, settings):
    settings.STATUSPAGE_VERSION_SECONDS = 0
    status_views.clear_cache()
    cache.clear()
    publish(shown["comm"], cast["root"], settings)
    client = Client()
    assert shown["incident"].title in client.get("/status/api/v2/incidents.json").content.decode()
    services.update_fields(shown["incident"], cast["root"], confidential=True)
    assert shown["incident"].title not in client.get("/status/api/v2/incidents.json").content.decode()
    assert shown["incident"].title not in client.get("/status/").content.decode()


# IDOR: a child fetched by id must belong to the incident in the URL ---------------------------


def nested_html(shown, hidden):
    """Writes under the visible incident's URL naming the hidden incident's objects."""
    i = f"/incidents/{shown['incident'].pk}"
    c = f"{i}/comms/{hidden['comm'].pk}"
    s = f"{i}/security"
    return [
        ("get", f"{c}/", {}),
        ("get", f"{c}/edit/", {}),
        ("post", f"{c}/edit/", {"audience": "internal", "body": "pwned", "language": "en"}),
        *[("post", f"{c}/{action}/", {}) for action in ("submit", "approve", "send-back", "publish", "discard")],
        ("post", f"{c}/schedule/", {"scheduled_for": "2999-01-01T00:00"}),
        ("post", f"{c}/translations/", {"translation-language": "de", "translation-body": "x"}),
        ("post", f"{i}/roles/{hidden['membership'].pk}/remove/", {}),
        ("post", f"{i}/impacts/{hidden['impact'].pk}/end/", {}),
        ("get", f"{i}/timeline/{hidden['entry'].pk}/edit/", {}),
        ("post", f"{i}/timeline/{hidden['entry'].pk}/edit/", {"body": "pwned"}),
        ("post", f"{s}/clocks/{hidden['clock'].pk}/submit/", {"stage": "Notification"}),
        ("post", f"{s}/clocks/{hidden['clock'].pk}/not-required/", {"reason": "pwned"}),
        ("post", f"{s}/clocks/{hidden['clock'].pk}/correct-start/", {"started_at": "2020-01-01T00:00", "reason": "x"}),
        ("get", f"{s}/mitigations/{hidden['mitigation'].pk}/", {}),
        ("post", f"{s}/mitigations/{hidden['mitigation'].pk}/", {"title": "pwned", "description": "d"}),
        ("post", f"{s}/mitigations/{hidden['mitigation'].pk}/lift/", {}),
    ]


def nested_api(shown, hidden):
    base = f"/api/v1/incidents/{shown['incident'].pk}/"
    comm = f"{base}communications/{hidden['comm'].pk}/"
    clock = f"{base}clocks/{hidden['clock'].pk}/"
    return [
        ("get", comm, {}),
        ("patch", comm, {"body": "pwned"}),
        *[("post", f"{comm}{action}/", {}) for action in ("submit", "approve", "send-back", "publish", "discard")],
        ("post", f"{comm}schedule/", {"scheduled_for": "2999-01-01T00:00:00Z"}),
        ("post", f"{comm}translations/", {"language": "de", "body": "x"}),
        ("get", f"{base}timeline/{hidden['entry'].pk}/", {}),
        ("patch", f"{base}timeline/{hidden['entry'].pk}/", {"body": "pwned"}),
        ("get", f"{base}impacts/{hidden['impact'].pk}/", {}),
        ("patch", f"{base}impacts/{hidden['impact'].pk}/", {"level": "major_outage"}),
        ("delete", f"{base}roles/{hidden['membership'].pk}/", {}),
        ("get", f"{base}mitigations/{hidden['mitigation'].pk}/", {}),
        ("patch", f"{base}mitigations/{hidden['mitigation'].pk}/", {"title": "pwned"}),
        ("post", f"{base}mitigations/{hidden['mitigation'].pk}/lift/", {}),
        ("get", clock, {}),
        ("post", f"{clock}submit/", {"stage": "Notification"}),
        ("post", f"{clock}not-required/", {"reason": "pwned"}),
        ("post", f"{clock}correct-start/", {"started_at": "2020-01-01T00:00:00Z", "reason": "x"}),
        ("patch", f"/api/v1/step-runs/{hidden['step_run'].pk}/", {"status": "done"}),
    ]


@pytest.mark.parametrize("who", ["commander", "root"])
def test_objects_of_another_incident_cannot_be_reached_through_an_incident_one_may_command(cast, shown, hidden, who):
    """Even a superuser, who sees both, gets a 404: the object is not the URL's incident's."""
    user = cast[who]
    client, api = browser(user), api_client(user)
    before = snapshot()
    wrong = []
    for method, url, data in nested_html(shown, hidden):
        response = getattr(client, method)(url, data)
        if response.status_code != 404:
            wrong.append((method, url, response.status_code))
    for method, url, data in nested_api(shown, hidden):
        if who == "root" and "/step-runs/" in url:
            continue  # not nested: a superuser may work on any step
        response = getattr(api, method)(url, data, format="json")
        if response.status_code != 404:
            wrong.append((method, url, response.status_code))
    assert wrong == [], "\n".join(map(repr, wrong))
    assert snapshot() == before


def test_a_submission_cannot_link_a_communication_of_another_incident(cast, shown, hidden):
    client = browser(cast["root"])
    url = f"/incidents/{shown['incident'].pk}/security/clocks/{shown['clock'].pk}/submit/"
    client.post(url, {"stage": "Notification", "communication": hidden["comm"].pk})
    api = api_client(cast["root"])
    response = api.post(
        f"/api/v1/incidents/{shown['incident'].pk}/clocks/{shown['clock'].pk}/submit/",
        {"stage": "Notification", "communication": hidden["comm"].pk},
        format="json",
    )
    assert response.status_code == 400
    assert not Submission.objects.filter(communication=hidden["comm"]).exists()
    # The service refuses it too, whoever calls it (admin actions, tasks, a future view).
    with pytest.raises(Exception) as refused:
        regulatory.record_submission(shown["clock"], "Notification", cast["root"], communication=hidden["comm"])
    assert "communication" in str(refused.value)


def test_the_submission_form_offers_only_this_incidents_communications(cast, shown, hidden):
    page = browser(cast["root"]).get(f"/incidents/{shown['incident'].pk}/security/").content.decode()
    # Only the communication choosers: other selects (owners, users) have their own ids.
    choosers = re.findall(r'<select[^>]*name="communication"[^>]*>(.*?)</select>', page, re.S)
    offered = set(re.findall(r'<option value="(\d+)"', "".join(choosers)))
    assert choosers and str(shown["comm"].pk) in offered
    assert str(hidden["comm"].pk) not in offered
    assert SECRET not in page


# Write permissions --------------------------------------------------------------------------------

# Public forms and previews write nothing an access rule guards (or write only the public's own).
UNGUARDED = ("/comms/preview/", "/runbooks/preview/", "/login/")


@pytest.mark.parametrize("who", ["viewer", "outsider"])
def test_viewers_and_outsiders_change_nothing_through_any_form_or_endpoint(cast, shown, who):
    user = cast[who]
    client, api = browser(user), api_client(user)
    before = snapshot()
    wrong = []
    for url, _fields, base in html_forms(shown):
        if url.startswith(UNGUARDED):
            continue
        for headers in ({}, {"HX-Request": "true"}):
            response = client.post(url, base, headers=headers)
            if response.status_code >= 500:
                wrong.append(("post", url, response.status_code))
    for method, url, _fields, base in api_writes(shown):
        response = getattr(api, method)(url, base, format="json")
        if response.status_code not in (403, 404):
            wrong.append((method, url, response.status_code))
    assert wrong == []
    assert snapshot() == before


def commanding_forms(w):
    i = f"/incidents/{w['incident'].pk}"
    return [
        (f"{i}/status/", {"status": "identified"}),
        (f"{i}/severity/", {"severity": "1"}),
        (f"{i}/acknowledge/", {}),
        (f"{i}/roles/", {"role": "commander", "user": str(w["root"].pk)}),
        (f"{i}/roles/{w['membership'].pk}/remove/", {}),
        (f"{i}/impacts/", {"service": str(w["service"].pk), "level": "major_outage"}),
        (f"{i}/impacts/{w['impact'].pk}/end/", {}),
        (f"{i}/times/", {"field": "detected_at", "value": "2020-01-01T00:00", "reason": "r"}),
        (f"{i}/edit/", {"title": "Renamed", "kind": "other"}),
        (f"{i}/log/", {"body": "/status resolved"}),
        (f"{i}/log/", {"body": "/sev 1"}),
        (f"{i}/log/", {"body": "/ack"}),
        (f"{i}/security/clocks/awareness/", {"value": "2020-01-01T00:00", "reason": "r"}),
        (f"/runbooks/incident/{w['incident'].pk}/attach/", {"runbook": "other-runbook"}),
    ]


def commanding_api(w):
    base = f"/api/v1/incidents/{w['incident'].pk}/"
    return [
        ("patch", base, {"status": "identified"}),
        ("patch", base, {"severity": 1}),
        ("patch", base, {"title": "Renamed"}),
        ("patch", base, {"confidential": True}),
        ("patch", base, {"commander": "comms"}),
        ("post", f"{base}roles/", {"user": "comms", "role": "deputy"}),
        ("delete", f"{base}roles/{w['membership'].pk}/", {}),
        ("post", f"{base}impacts/", {"service": w["service"].slug, "level": "major_outage"}),
        ("patch", f"{base}impacts/{w['impact'].pk}/", {"ended_at": timezone.now().isoformat()}),
        ("post", f"{base}runbook-runs/", {"runbook": "other-runbook"}),
    ]


@pytest.mark.parametrize("who", ["responder", "comms", "member"])
def test_responders_and_comms_staff_cannot_change_an_incidents_state(cast, shown, who):
    """A responder works (logs, steps); comms staff write communications; neither commands."""
    runbook_services.save_runbook(
        None,
        runbook_services.RunbookData(
            slug="other-runbook", title="Other", steps=[runbook_services.StepData(title="Do", role="responder")]
        ),
    )
    user = cast[who]
    client, api = browser(user), api_client(user)
    before = snapshot()
    for url, data in commanding_forms(shown):
        client.post(url, data)
        client.post(url, data, headers={"HX-Request": "true"})
    wrong = []
    for method, url, data in commanding_api(shown):
        response = getattr(api, method)(url, data, format="json")
        if response.status_code != 403:
            wrong.append((method, url, response.status_code))
    after = snapshot()
    for key in ("incidents", "memberships", "impacts", "runs", "clocks"):
        assert after[key] == before[key], key
    assert wrong == []


def test_a_commander_can_do_what_the_refusals_above_refuse(cast, shown):
    """The same requests as the commander change the incident: the refusals are real ones."""
    runbook_services.save_runbook(
        None,
        runbook_services.RunbookData(
            slug="other-runbook", title="Other", steps=[runbook_services.StepData(title="Do", role="responder")]
        ),
    )
    client = browser(cast["commander"])
    before = snapshot()
    for url, data in commanding_forms(shown):
        client.post(url, data)
    after = snapshot()
    for key in ("incidents", "memberships", "impacts", "runs"):
        assert after[key] != before[key], key


# XSS --------------------------------------------------------------------------------------------

XSS = '<script>alert(1)</script><img src=x onerror=alert(2)>[x](javascript:alert(3))"><svg onload=alert(4)>'


def _unsafe(body):
    return [marker for marker in ("<script>alert", "<img", "<svg", 'href="javascript') if marker in body]


def test_user_text_is_escaped_or_sanitised_on_every_page_that_shows_it(cast, settings):
    root = cast["root"]
    service = Service.objects.create(name=f"Chat {XSS}"[:120], slug="chat", description=XSS)
    incident = services.declare(root, title=XSS[:200], summary=XSS, severity=2, services=[service])
    services.log_entry(incident, root, XSS)
    services.add_impact(incident, root, service=service, level="partial_outage", regions=[XSS[:90]])
    comm = communications.draft(incident, root, audience="status_page", title=XSS[:200], body=XSS)
    communications.set_translation(comm, root, "de", XSS, XSS[:200])
    publish(comm, root, settings)
    CommunicationTemplate.objects.create(name=XSS[:120], body=XSS)
    from incidents.security import mitigations as sec

    sec.add_mitigation(
        incident, root, title=XSS[:200], description=XSS, affects=XSS[:300], public=True, public_explanation=XSS
    )
    services.correct_time(incident, "aware_at", timezone.now(), root, XSS)
    clock = regulatory.start_clock(incident, Obligation.objects.get(key="gdpr-33"), root)
    regulatory.record_submission(clock, "Notification", root, reference=XSS[:200], notes=XSS)
    version, _ = runbook_services.save_runbook(
        None,
        runbook_services.RunbookData(
            slug="xss",
            title="Runbook <script>alert(1)</script>",
            summary=XSS,
            steps=[runbook_services.StepData(title="<img src=x onerror=alert(2)>", body=XSS, role="responder")],
        ),
    )
    run = runbook_services.attach(incident, Runbook.objects.get(slug="xss"), root)
    runbook_services.change_step(run.step_runs.get(), root, status="blocked", reason=XSS, note=XSS)
    i = f"/incidents/{incident.key}"
    pages = [
        "/incidents/",
        f"{i}/",
        f"{i}/live/?v=0&after=0",
        f"{i}/edit/",
        f"{i}/comms/",
        f"{i}/comms/{comm.pk}/",
        f"{i}/security/",
        f"{i}/security/clocks/",
        f"{i}/security/audit/",
        "/mitigations/",
        "/services/",
        "/services/chat/",
        "/comms/templates/",
        "/runbooks/",
        "/runbooks/xss/",
        "/runbooks/xss/edit/",
        f"/runbooks/incident/{incident.key}/panel/",
        "/runbooks/my-steps/",
        "/status/",
        "/status/history/",
    ]
    client = browser(root)
    found = {url: _unsafe(client.get(url).content.decode()) for url in pages}
    found["preview"] = _unsafe(client.post("/comms/preview/", {"body": XSS}).content.decode())
    found["runbook preview"] = _unsafe(
        client.post("/runbooks/preview/", {"text": "---\nslug: p\ntitle: P\n---\n\n## Step\n\n" + XSS}).content.decode()
    )
    feed = Client().get("/status/feed.atom").content.decode()
    found["feed"] = [m for m in ("<script", "<img", "<svg") if m in feed]
    assert {url: markers for url, markers in found.items() if markers} == {}


def test_a_redirect_after_a_form_stays_on_this_site(cast, shown):
    """Browsers drop tabs and newlines from URLs, so "/\\t/evil.example" is "//evil.example"."""
    client = browser(cast["root"])
    url = f"/incidents/{shown['incident'].pk}/security/mitigations/{shown['mitigation'].pk}/lift/"
    for target in (
        "/\t/evil.example/",
        "/\n/evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "https://x.example/",
    ):
        response = client.post(url, {"next": target})
        assert response.status_code == 302
        assert "evil" not in response["Location"] and "x.example" not in response["Location"], target
    response = client.post(
        f"/incidents/{shown['incident'].pk}/security/clocks/awareness/",
        {"value": "2020-01-01T00:00", "reason": "r", "next": "/\t/evil.example/"},
    )
    assert "evil" not in response["Location"]


# CSRF and safe methods ------------------------------------------------------------------------------


def _views():
    def walk(patterns, prefix=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                yield prefix + str(p.pattern), p.callback

    return list(walk(get_resolver().url_patterns))


def test_no_view_is_csrf_exempt_but_the_one_click_unsubscribe():
    exempt = set()
    for route, callback in _views():
        cls = getattr(callback, "cls", None)  # DRF views: exempt by design, SessionAuthentication enforces CSRF
        if getattr(callback, "csrf_exempt", False) and cls is None:
            exempt.add(route)
    assert exempt == {"status/unsubscribe/<str:token>/"}


def test_session_requests_without_a_csrf_token_are_refused(cast, shown):
    client = Client(enforce_csrf_checks=True)
    client.force_login(cast["root"])
    before = snapshot()
    for url, _fields, base in html_forms(shown):
        if url in ("/login/", "/comms/preview/", "/runbooks/preview/"):
            continue
        assert client.post(url, base).status_code == 403, url
    api = APIClient(enforce_csrf_checks=True)
    api.force_login(cast["root"])
    for method, url, _fields, base in api_writes(shown):
        assert getattr(api, method)(url, base, format="json").status_code == 403, url
    assert snapshot() == before


def test_a_responder_taken_off_an_incident_can_no_longer_edit_their_notes(cast, shown):
    """A viewer writes nothing, even text they wrote while they were on the incident."""
    viewer, incident = cast["viewer"], shown["incident"]
    services.assign_role(incident, viewer, "responder", cast["root"])
    entry = services.log_entry(incident, viewer, "Restarted the pods.")
    services.remove_role(incident, incident.memberships.get(user=viewer, role="responder"), cast["root"])
    url = f"/incidents/{incident.key}/timeline/{entry.pk}/edit/"
    assert browser(viewer).post(url, {"body": "Nothing happened."}).status_code == 403
    api = f"/api/v1/incidents/{incident.key}/timeline/{entry.pk}/"
    assert api_client(viewer).patch(api, {"body": "Nothing happened."}, format="json").status_code == 403
    entry.refresh_from_db()
    assert entry.body == "Restarted the pods." and not entry.revisions.exists()


def test_get_changes_nothing_whatever_it_carries(cast, shown):
    """Mail scanners and prefetching browsers follow links: a GET of any form's URL, even with
    the form's fields in the query string, writes nothing."""
    from statuspage.models import Subscriber

    client = browser(cast["root"])
    shown["subscriber"].confirmed_at = None
    shown["subscriber"].save()
    before = snapshot(), list(Subscriber.objects.values_list("pk", "confirmed_at", "unsubscribed_at"))
    for url, _fields, base in html_forms(shown):
        client.get(url, base)
    token = shown["subscriber"].token
    for url in (f"/status/unsubscribe/{token}/", f"/status/subscribe/confirm/{token}/"):
        assert Client().get(url).status_code == 200
    after = snapshot(), list(Subscriber.objects.values_list("pk", "confirmed_at", "unsubscribed_at"))
    assert after == before


def test_update_emails_escape_what_the_incident_and_the_update_say(cast, shown, settings):
    from statuspage.delivery import EmailTransport
    from statuspage.tasks import build_payload

    # What the e-mail names the incident by: its public title.
    services.set_public_title(shown["incident"], cast["root"], title="Login <script>alert(1)</script>")
    communications.edit(shown["comm"], cast["root"], body=XSS)
    publish(shown["comm"], cast["root"], settings)
    _key, payload, _services, _groups = build_payload(shown["comm"].pk)
    subject, text, html = EmailTransport()._render_update(payload, "en")
    assert _unsafe(html) == []
    assert "&lt;script&gt;" in html
    assert "\n" not in subject


def test_the_admin_shows_a_clocks_submissions_without_other_incidents_communications(cast, shown, hidden):
    """Submissions are recorded in the app (clocks.record_submission checks the communication
    belongs to the clock's incident); the admin shows them read-only, with no chooser that
    could list another incident's communications."""
    for world in (shown, hidden):
        stage = world["clock"].obligation.stages[0]["name"]
        regulatory.record_submission(world["clock"], stage, cast["root"], communication=world["comm"])
    page = browser(cast["root"]).get(f"/admin/incidents/regulatoryclock/{shown['clock'].pk}/change/")
    assert page.status_code == 200
    body = page.content.decode()
    assert 'name="submissions-0-communication"' not in body
    assert f"{shown['comm']}" in body
    assert f"on INC-{hidden['incident'].pk}" not in body and SECRET not in body
