"""The Django admin goes through the rules: what the domain moves through states is read-only
there, and what the admin does change goes through the same service functions as the pages and
the API (validated, logged on the timeline with old and new value).

Each test posts the admin's own change form, as a superuser's browser would: the form is read
from the page, some fields are changed, and the whole of it is sent back."""

import json
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from incidents import services
from incidents.comms import services as communications
from incidents.models import Communication, Incident, Obligation, Service, TimelineEntry
from incidents.security import clocks as regulatory
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


class FormFields(HTMLParser):
    """The values a browser would submit from the page's main form (the admin's change form)."""

    def __init__(self):
        super().__init__()
        self.data, self._select, self._textarea, self._in_form = {}, None, None, False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and attrs.get("id", "").endswith("_form"):
            self._in_form = True
        if not self._in_form or "name" not in attrs and tag != "option":
            return
        name = attrs.get("name")
        if tag == "input":
            kind = attrs.get("type", "text")
            if kind in ("submit", "button", "file") or (kind in ("checkbox", "radio") and "checked" not in attrs):
                return
            self.data.setdefault(name, []).append(attrs.get("value", "on" if kind == "checkbox" else ""))
        elif tag == "select":
            self._select = name
            self.data.setdefault(name, [])
        elif tag == "option" and self._select and "selected" in attrs:
            self.data[self._select].append(attrs.get("value", ""))
        elif tag == "textarea":
            self._textarea = name
            self.data[name] = [""]

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "form":
            self._in_form = False

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea][0] += data.removeprefix("\n") if not self.data[self._textarea][0] else data


def post_change_form(client, url, **changes):
    """GET the admin page, change some fields, POST the whole form back."""
    page = client.get(url)
    assert page.status_code == 200, url
    parser = FormFields()
    parser.feed(page.content.decode())
    data = {name: values if len(values) != 1 else values[0] for name, values in parser.data.items()}
    data.update(changes)
    return client.post(url, data)


@pytest.fixture
def root(django_user_model):
    return make_user(django_user_model, "root", is_superuser=True, is_staff=True)


@pytest.fixture
def admin_client(root):
    client = Client()
    client.force_login(root)
    return client


def change_url(model, pk):
    return f"/admin/incidents/{model}/{pk}/change/"


def status_page_updates():
    incidents = Client().get("/status/api/v2/incidents.json").json()["incidents"]
    return [update["body"] for incident in incidents for update in incident["incident_updates"]]


# Incidents --------------------------------------------------------------------------------------


def test_the_admin_cannot_change_an_incidents_status_or_severity(admin_client, incident):
    response = post_change_form(admin_client, change_url("incident", incident.pk), status="resolved", severity="1")
    assert response.status_code == 302, response.content.decode()[:3000]
    incident.refresh_from_db()
    assert incident.status == Incident.Status.INVESTIGATING and incident.severity == 2
    assert incident.resolved_at is None
    assert not incident.timeline.filter(kind__in=[TimelineEntry.Kind.STATUS, TimelineEntry.Kind.SEVERITY]).exists()


def test_the_admin_cannot_change_an_incidents_confidentiality_or_times(admin_client, incident):
    declared = incident.declared_at
    response = post_change_form(
        admin_client,
        change_url("incident", incident.pk),
        confidential="on",
        declared_at_0="2020-01-01",
        declared_at_1="00:00:00",
    )
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.confidential is False and incident.declared_at == declared


def test_a_title_fixed_in_the_admin_is_logged_with_old_and_new_value(admin_client, incident, root):
    response = post_change_form(admin_client, change_url("incident", incident.pk), title="Checkout API errors")
    assert response.status_code == 302
    incident.refresh_from_db()
    assert incident.title == "Checkout API errors"
    entry = incident.timeline.order_by("-id").first()
    assert entry.data == {"field": "title", "old": "API errors", "new": "Checkout API errors"}
    assert entry.author == root


def test_affected_services_set_in_the_admin_are_logged(admin_client, incident, api_service):
    response = post_change_form(admin_client, change_url("incident", incident.pk), services=[str(api_service.pk)])
    assert response.status_code == 302
    assert list(incident.services.all()) == [api_service]
    entry = incident.timeline.order_by("-id").first()
    assert entry.data == {"field": "services", "old": [], "new": ["public-api"]}


def test_roles_and_impacts_are_read_only_in_the_incident_admin(admin_client, incident, commander, api_service):
    services.add_impact(incident, commander, service=api_service, level="major_outage")
    page = admin_client.get(change_url("incident", incident.pk)).content.decode()
    assert 'name="memberships-0-role"' not in page and 'name="impacts-0-level"' not in page
    membership = incident.memberships.get()
    response = post_change_form(
        admin_client,
        change_url("incident", incident.pk),
        **{"memberships-0-id": str(membership.pk), "memberships-0-role": "observer", "memberships-0-DELETE": "on"},
    )
    assert response.status_code == 302
    assert incident.memberships.get().role == "commander"


def test_incidents_are_declared_in_the_app_not_added_in_the_admin(admin_client, db):
    assert admin_client.get("/admin/incidents/incident/add/").status_code == 403


# Communications ---------------------------------------------------------------------------------


@pytest.fixture
def published(incident, commander, django_user_model):
    comms2 = make_user(django_user_model, "comms2", "comms")
    comm = communications.draft(incident, commander, audience="status_page", body="We are investigating.")
    communications.submit(comm, commander)
    communications.approve(comm, comms2, comm.content_version)
    assert communications.publish_now(comm.pk, comms2.pk) is True
    comm.refresh_from_db()
    return comm


def test_a_published_update_cannot_be_rewritten_in_the_admin(admin_client, published):
    assert status_page_updates() == ["We are investigating."]
    entries = published.incident.timeline.count()
    response = post_change_form(
        admin_client,
        change_url("communication", published.pk),
        body="Nothing happened.",
        audience="internal",
        status="draft",
    )
    assert response.status_code in (200, 302, 403)
    published.refresh_from_db()
    assert published.body == "We are investigating." and published.audience == "status_page"
    assert published.status == Communication.Status.PUBLISHED
    assert status_page_updates() == ["We are investigating."]
    assert published.incident.timeline.count() == entries


def test_a_published_update_cannot_be_deleted_in_the_admin(admin_client, published):
    response = admin_client.post(f"/admin/incidents/communication/{published.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert Communication.objects.filter(pk=published.pk).exists()


def test_a_draft_fixed_in_the_admin_goes_through_the_comms_edit(admin_client, incident, commander, root):
    comm = communications.draft(incident, commander, audience="internal", body="Typo hre.")
    response = post_change_form(admin_client, change_url("communication", comm.pk), body="Typo here.")
    assert response.status_code == 302, response.content.decode()[:3000]
    comm.refresh_from_db()
    assert comm.body == "Typo here."
    entry = incident.timeline.order_by("-id").first()
    assert entry.kind == TimelineEntry.Kind.COMMS and entry.author == root
    assert entry.data["changed"] == ["body"]


def test_the_admin_refuses_a_draft_edit_the_service_refuses(admin_client, incident, commander):
    comm = communications.draft(incident, commander, audience="internal", body="Hello")
    response = post_change_form(admin_client, change_url("communication", comm.pk), language="not a language")
    assert response.status_code == 200
    assert "Use a language code" in response.content.decode()
    comm.refresh_from_db()
    assert comm.language == "en"


# Obligations ------------------------------------------------------------------------------------

NEW_STAGES = json.dumps([{"name": "Notification", "amount": 48, "unit": "hours", "after": "start"}])


@pytest.fixture
def breach(declare, commander):
    incident = declare(title="Chat logs database exposed", kind="data_exposure", severity=1)
    services.correct_time(incident, "aware_at", timezone.now() - timedelta(hours=2), commander, reason="e-mail")
    incident.refresh_from_db()
    return incident


def test_the_admin_refuses_new_stages_for_an_obligation_a_clock_uses(admin_client, breach, commander):
    obligation = Obligation.objects.get(key="gdpr-33")
    clock = regulatory.start_clock(breach, obligation, commander)
    due = regulatory.stages_of(clock)[0].due_at
    response = post_change_form(admin_client, change_url("obligation", obligation.pk), stages=NEW_STAGES)
    assert response.status_code == 200
    assert "Clocks on incidents use this obligation" in response.content.decode()
    obligation.refresh_from_db()
    assert obligation.stages[0]["amount"] == 72
    clock.refresh_from_db()
    assert regulatory.stages_of(clock)[0].due_at == due


def test_the_admin_changes_the_stages_of_an_obligation_no_clock_uses(admin_client, db):
    obligation = Obligation.objects.get(key="gdpr-33")
    response = post_change_form(admin_client, change_url("obligation", obligation.pk), stages=NEW_STAGES)
    assert response.status_code == 302, response.content.decode()[:3000]
    obligation.refresh_from_db()
    assert obligation.stages[0]["amount"] == 48


def test_the_stages_rule_lives_in_the_domain(breach, commander):
    obligation = Obligation.objects.get(key="gdpr-33")
    new = json.loads(NEW_STAGES)
    regulatory.check_stages_change(obligation, new)  # unused: allowed
    regulatory.start_clock(breach, obligation, commander)
    regulatory.check_stages_change(obligation, obligation.stages)  # unchanged: allowed
    with pytest.raises(ValidationError) as refused:
        regulatory.check_stages_change(obligation, new)
    assert "stages" in refused.value.message_dict


# Services ---------------------------------------------------------------------------------------


def test_the_service_form_refuses_a_name_differing_only_in_case_as_the_api_does(client, commander, api_service, api):
    client.force_login(commander)
    data = {"name": "public api", "slug": "public-api-2", "group": "Platform", "public": "on", "position": "0"}
    response = client.post("/services/new/", data)
    assert response.status_code == 400
    assert Service.objects.filter(name__iexact="public api").count() == 1
    from_api = api(commander).post("/api/v1/services/", {"name": "public api"}, format="json")
    assert from_api.status_code == 400
    message = from_api.json()["name"][0]
    assert message == "A service named 'public api' already exists."
    assert message in response.content.decode().replace("&#x27;", "'")


def test_the_service_form_makes_the_slug_from_the_name_as_the_api_does(client, commander, db):
    client.force_login(commander)
    data = {"name": "Mobile app", "slug": "", "group": "Product", "public": "on", "position": "0"}
    assert client.post("/services/new/", data).status_code == 302
    assert Service.objects.get(name="Mobile app").slug == "mobile-app"


def test_the_service_admin_refuses_a_name_differing_only_in_case(admin_client, api_service):
    data = {"name": "public api", "slug": "public-api-2", "group": "", "description": "", "position": "0"}
    response = admin_client.post("/admin/incidents/service/add/", data)
    assert response.status_code == 200
    assert "A service named &#x27;public api&#x27; already exists." in response.content.decode()
    assert Service.objects.count() == 1


def test_the_service_admin_adds_through_the_catalog_rules(admin_client, db):
    data = {"name": " Mobile app ", "slug": "mobile-app", "group": "", "description": "", "position": "0"}
    response = admin_client.post("/admin/incidents/service/add/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Service.objects.get().name == "Mobile app"


def test_a_service_an_incident_named_cannot_be_deleted_in_the_admin(admin_client, incident, api_service):
    incident.services.add(api_service)
    response = admin_client.post(f"/admin/incidents/service/{api_service.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert Service.objects.filter(pk=api_service.pk).exists()


def test_a_clocks_start_and_status_are_read_only_in_the_admin(admin_client, breach, commander):
    clock = regulatory.start_clock(breach, Obligation.objects.get(key="gdpr-33"), commander)
    started = clock.started_at
    response = post_change_form(
        admin_client,
        change_url("regulatoryclock", clock.pk),
        started_at_0="2020-01-01",
        started_at_1="00:00:00",
        status="not_required",
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    clock.refresh_from_db()
    assert clock.started_at == started and clock.status == "running"
