"""Several status pages (statuspage.pages): each page shows its own components and the incidents
touching them, by path (/status/p/<slug>/) and by host name; a private page only to staff,
members of its allowed groups and holders of an access link not revoked, and never anywhere
public: HTML, history, incident pages, every JSON endpoint, Atom feeds, subscriptions, the
static export, subscriber e-mails and webhooks."""

import email
import email.header
import email.policy
import json
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from incidents.models import Impact
from statuspage import delivery, services, tasks
from statuspage.export import export_to
from statuspage.models import Notification, PublicIncident, StatusPage, Subscriber
from statuspage.public import PublicState
from statuspage.urls import API_V2_DOCUMENTS, DOCUMENTS
from tests.conftest import make_user
from tests.statuspage.page_factories import *  # noqa: F403 - fixtures
from tests.statuspage.page_factories import make_service
from tests.statuspage.subscription_factories import (  # noqa: F401
    eager_celery,
    email_subscriber,
    private_webhooks,
    webhook_subscriber,
)
from tests.webhook_receiver import webhook_receiver  # noqa: F401

SECRETS = ["SECRET-ENTERPRISE", "ENTERPRISE-BODY", "Enterprise gateway", "enterprise-gateway"]
API_HOST = "status.api.example"


@pytest.fixture(autouse=True)
def hosts(settings):
    settings.ALLOWED_HOSTS = ["testserver", API_HOST, "elsewhere.example"]


@pytest.fixture
def operator(django_user_model):
    return make_user(django_user_model, "operator", "comms")


@pytest.fixture
def acme(db):
    return Group.objects.create(name="acme-users")


@pytest.fixture
def pages(operator, acme, api_service, web_chat):
    """The default page shows the Platform and Product groups; "api" (public, on its own host)
    the Public API; "enterprise" (private to acme-users) the Enterprise group only."""
    gateway = make_service("Enterprise gateway", group="Enterprise")
    default = StatusPage.objects.get(is_default=True)
    services.save_page(operator, default, all_components=False, groups=["Platform", "Product"])
    api = services.save_page(operator, name="API platform status", slug="api", host=API_HOST, services=[api_service])
    enterprise = services.save_page(
        operator,
        name="Enterprise status",
        slug="enterprise",
        groups=["Enterprise"],
        visibility="private",
        allowed_groups=[acme],
    )
    return {"default": default, "api": api, "enterprise": enterprise, "gateway": gateway}


@pytest.fixture
def secret_incident(pages, declare, publish):
    """An incident of the private page's component only, with a published update (and its
    public id, given when the private page is first built)."""
    incident = declare(title="SECRET-ENTERPRISE gateway down", severity=1)
    Impact.objects.create(incident=incident, service=pages["gateway"], level="major_outage")
    comm = publish(incident, "ENTERPRISE-BODY: the gateway is down.", affected={"enterprise-gateway": "major_outage"})
    PublicState(page=pages["enterprise"])
    return incident, comm


@pytest.fixture
def public_incident(pages, declare, publish):
    incident = declare(title="Chat replies time out", severity=2)
    comm = publish(
        incident, "Slow replies.", affected={"web-chat": "partial_outage", "public-api": "degraded_performance"}
    )
    return incident, comm


def document_paths(base, incident_ids=(), component_ids=()):
    """Every document path of a page: the fixed ones and those of the given ids."""
    paths = [route for route, *_ in DOCUMENTS if "<" not in route]
    paths += [f"incidents/{i}/" for i in incident_ids] + [f"components/{c}/feed.atom" for c in component_ids]
    return [base + p for p in paths]


def body(response):
    return b"".join(response.streaming_content) if response.streaming else response.content


def assert_no_secret(text, where):
    for word in SECRETS:
        assert word not in text, f"{word!r} leaked on {where}"


# Private pages never leak --------------------------------------------------------------------


def test_a_private_pages_incident_is_on_no_public_page_document(client, pages, secret_incident, public_incident):
    PublicState(page=pages["default"])
    secret_id = PublicIncident.objects.get(incident=secret_incident[0]).public_id
    public_id = PublicIncident.objects.get(incident=public_incident[0]).public_id
    components = [c.id for c in PublicState(page=pages["default"]).components]
    for url in document_paths("/status/", [public_id], components) + document_paths("/status/p/api/", [public_id]):
        response = client.get(url)
        assert response.status_code == 200, url
        assert_no_secret(body(response).decode(), url)
    on_host = Client(HTTP_HOST=API_HOST)
    for url in document_paths("/status/", [public_id]):
        response = on_host.get(url)
        assert response.status_code == 200, url
        assert_no_secret(body(response).decode(), f"{API_HOST}{url}")
    for base, host_client in (("/status/", client), ("/status/p/api/", client), ("/status/", on_host)):
        assert host_client.get(f"{base}incidents/{secret_id}/").status_code == 404


def test_the_public_incident_is_on_the_pages_showing_its_components(client, pages, public_incident):
    summary = client.get("/status/p/api/api/v2/summary.json").json()
    assert summary["page"]["name"] == "API platform status"
    assert summary["page"]["url"] == f"http://{API_HOST}/status/p/api/"
    assert [c["name"] for c in summary["components"]] == ["Platform", "Public API"]  # its group, and it
    assert [i["name"] for i in summary["incidents"]] == ["Chat replies time out"]
    assert [c["name"] for c in summary["incidents"][0]["components"]] == ["Public API"]
    default = client.get("/status/api/v2/components.json").json()
    assert {c["name"] for c in default["components"]} == {"Platform", "Public API", "Product", "Web chat"}


def test_a_private_page_is_404_to_anyone_not_allowed_on_every_document(client, pages, secret_incident, outsider):
    secret_id = PublicIncident.objects.get(incident=secret_incident[0]).public_id
    paths = document_paths("/status/p/enterprise/", [secret_id]) + ["/status/p/enterprise/subscribe/"]
    signed_in = Client()
    signed_in.force_login(outsider)  # signed in, no role, not in acme-users
    for visitor in (client, signed_in):
        for url in paths:
            assert visitor.get(url).status_code == 404, url
            assert visitor.get(url + "?access=not-a-token").status_code == 404, url


def test_members_of_an_allowed_group_see_the_private_page_until_they_leave_it(
    client, pages, secret_incident, django_user_model, acme
):
    customer = make_user(django_user_model, "acme-ana")
    customer.groups.add(acme)
    client.force_login(customer)
    for url in ("/status/p/enterprise/", "/status/p/enterprise/api/v2/summary.json", "/status/p/enterprise/feed.atom"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "SECRET-ENTERPRISE" in body(response).decode()
        assert response["Cache-Control"] == "private, no-store"
        assert "Access-Control-Allow-Origin" not in response
    customer.groups.remove(acme)  # e.g. the SSO claim is gone at the next sign-in
    for url in ("/status/p/enterprise/", "/status/p/enterprise/api/v2/summary.json", "/status/p/enterprise/feed.atom"):
        assert client.get(url).status_code == 404, url


def test_staff_see_every_private_page(client, pages, secret_incident, viewer):
    client.force_login(viewer)
    assert "SECRET-ENTERPRISE" in client.get("/status/p/enterprise/").content.decode()


def test_an_access_link_opens_the_private_page_until_it_is_revoked(client, pages, secret_incident, operator):
    link, token = services.create_access_link(operator, pages["enterprise"], label="Acme Corp")
    feed = client.get(f"/status/p/enterprise/feed.atom?access={token}")
    assert feed.status_code == 200 and "ENTERPRISE-BODY" in feed.content.decode()
    page = client.get(f"/status/p/enterprise/?access={token}")
    assert page.status_code == 200
    # The page's own links carry no token: the session remembers it.
    assert client.get("/status/p/enterprise/history/").status_code == 200
    assert client.get("/status/p/api/api/v2/summary.json").status_code == 200  # other pages unaffected
    services.revoke_access_link(operator, link)
    assert client.get("/status/p/enterprise/history/").status_code == 404
    assert client.get(f"/status/p/enterprise/api/v2/status.json?access={token}").status_code == 404


def test_a_link_of_one_private_page_opens_no_other(client, pages, operator, acme):
    other = services.save_page(operator, name="Other", slug="other", visibility="private", allowed_groups=[])
    _link, token = services.create_access_link(operator, pages["enterprise"], label="Acme Corp")
    assert client.get(f"/status/p/other/?access={token}").status_code == 404
    assert other.is_private


# Hosts -----------------------------------------------------------------------------------------


def test_a_page_is_served_at_status_of_its_own_host_and_no_other_page_there(pages, public_incident):
    on_host = Client(HTTP_HOST=API_HOST)
    page = on_host.get("/status/api/v2/status.json").json()["page"]
    assert page["name"] == "API platform status"
    assert on_host.get("/status/p/api/").status_code == 200
    assert on_host.get("/status/p/enterprise/").status_code == 404
    assert on_host.get("/status/p/default/").status_code == 404


def test_an_unknown_host_gets_the_default_page(pages, public_incident, settings):
    page = Client(HTTP_HOST="elsewhere.example").get("/status/api/v2/status.json").json()["page"]
    assert page["name"] == settings.STATUSPAGE_NAME


def test_an_unknown_page_is_404(client, pages):
    assert client.get("/status/p/nope/").status_code == 404
    assert client.get("/status/p/nope/api/v2/summary.json").status_code == 404


# Static export -----------------------------------------------------------------------------------


def test_the_export_has_one_directory_per_public_page_and_no_private_page(
    tmp_path, pages, secret_incident, public_incident
):
    target = tmp_path / "status"
    export_to(target)
    assert (target / "index.html").exists()
    assert json.loads((target / "p/api/api/v2/summary.json").read_text())["page"]["name"] == "API platform status"
    assert not (target / "p/enterprise").exists()
    for file in Path(target).resolve().rglob("*"):
        if file.is_file() and not file.name.endswith(".gz"):
            assert_no_secret(file.read_text(errors="replace"), file)


# Subscriptions and notifications -------------------------------------------------------------------


def deliver_all():
    ids = list(Notification.objects.filter(status="pending").values_list("pk", flat=True))
    return delivery.deliver(ids)


def test_a_private_pages_update_reaches_no_public_subscriber(
    pages,
    secret_incident,
    webhook_receiver,  # noqa: F811
    private_webhooks,  # noqa: F811
):
    email_subscriber("public@example.com")  # every component of the default page
    api_fan = email_subscriber("api@example.com")
    Subscriber.objects.filter(pk=api_fan.pk).update(page=pages["api"])
    receiver = webhook_receiver()
    webhook_subscriber(receiver.url)
    _incident, comm = secret_incident
    assert tasks.fan_out(comm.pk) == 0
    deliver_all()
    assert mail.outbox == []
    assert receiver.requests == []


def test_a_private_pages_update_reaches_its_allowed_subscribers_only(
    pages, secret_incident, operator, django_user_model, acme
):
    link, _token = services.create_access_link(operator, pages["enterprise"], label="Acme Corp")
    by_link = email_subscriber("link@acme.example")
    member = make_user(django_user_model, "acme-bo")
    member.groups.add(acme)
    by_group = email_subscriber("member@acme.example")
    left = make_user(django_user_model, "acme-cy")
    by_former = email_subscriber("former@acme.example")
    stray = email_subscriber("stray@example.com")  # on the private page, with nothing that lets it in
    Subscriber.objects.filter(pk=by_link.pk).update(page=pages["enterprise"], access_link=link)
    Subscriber.objects.filter(pk=by_group.pk).update(page=pages["enterprise"], user=member)
    Subscriber.objects.filter(pk=by_former.pk).update(page=pages["enterprise"], user=left)
    Subscriber.objects.filter(pk=stray.pk).update(page=pages["enterprise"])
    _incident, comm = secret_incident
    tasks.fan_out(comm.pk)
    deliver_all()
    assert sorted(m.to[0] for m in mail.outbox) == ["link@acme.example", "member@acme.example"]
    assert all("[Enterprise status]" in m.subject for m in mail.outbox)


def test_a_private_pages_update_checks_3_or_30_subscribers_in_the_same_queries(
    pages, secret_incident, operator, django_user_model, acme, publish, django_assert_max_num_queries
):
    """Fanning an update out to a private page's subscribers and sending it check each one's
    access in a fixed number of queries (the users' groups and the page's allowed groups once per
    batch), and whoever lost access is still skipped, at both ends."""
    incident, _comm = secret_incident
    link, _token = services.create_access_link(operator, pages["enterprise"], label="Acme Corp")

    def subscribe(address, **who):
        sub = email_subscriber(address)
        Subscriber.objects.filter(pk=sub.pk).update(page=pages["enterprise"], **who)

    def add(n, start):
        """n subscribers by group and n by link, and one in the group who leaves it."""
        for i in range(start, start + n):
            member = make_user(django_user_model, f"acme-{i}")
            member.groups.add(acme)
            subscribe(f"member{i}@acme.example", user=member)
            subscribe(f"link{i}@acme.example", access_link=link)
        leaver = make_user(django_user_model, f"acme-leaver-{start}")
        leaver.groups.add(acme)
        subscribe(f"leaver{start}@acme.example", user=leaver)
        return leaver

    def publish_then_lose(body, status, leaver):
        comm = publish(incident, body, status=status)
        leaver.groups.remove(acme)  # after publication, before the fan-out and the sending
        mail.outbox.clear()
        Notification.objects.all().delete()
        return comm

    def fan_out_and_send(comm):
        tasks.fan_out(comm.pk)
        delivery.deliver(list(Notification.objects.filter(status="pending").values_list("pk", flat=True)))
        return sorted(m.to[0] for m in mail.outbox)

    subscribe("staff@acme.example", user=make_user(django_user_model, "acme-staff", "viewer"))  # staff see it
    comm = publish_then_lose("ENTERPRISE-BODY: still down.", "identified", add(3, 0))
    with CaptureQueriesContext(connection) as few:
        sent_to_few = fan_out_and_send(comm)
    gone = services.create_access_link(operator, pages["enterprise"], label="Former customer")[0]
    subscribe("revoked@former.example", access_link=gone)
    services.revoke_access_link(operator, gone)
    comm = publish_then_lose("ENTERPRISE-BODY: mitigated.", "monitoring", add(27, 3))
    with django_assert_max_num_queries(len(few)):
        sent_to_many = fan_out_and_send(comm)

    assert len(sent_to_few) == 3 * 2 + 1 and len(sent_to_many) == 30 * 2 + 1
    assert "staff@acme.example" in sent_to_many
    assert not [a for a in sent_to_few + sent_to_many if a.startswith(("leaver", "revoked"))]


def test_one_subscriber_or_many_the_private_page_rule_is_the_same(pages, operator, django_user_model, acme):
    """The check of many subscribers at once (access.status_page_visits_allowed) says what
    the check of one visitor says (access.can_view_status_page), case by case."""
    from incidents import access

    enterprise, public = pages["enterprise"], pages["api"]
    link, _token = services.create_access_link(operator, enterprise, label="Acme Corp")
    revoked, _token = services.create_access_link(operator, enterprise, label="Gone")
    services.revoke_access_link(operator, revoked)
    revoked.refresh_from_db()
    other = services.save_page(operator, name="Partners", slug="partners", visibility="private")
    elsewhere, _token = services.create_access_link(operator, other, label="Partner")
    member = make_user(django_user_model, "acme-member")
    member.groups.add(acme)
    inactive = make_user(django_user_model, "acme-inactive", is_active=False)
    inactive.groups.add(acme)
    cases = [
        (enterprise, member, None, True),
        (enterprise, inactive, None, False),
        (enterprise, make_user(django_user_model, "stranger"), None, False),
        (enterprise, make_user(django_user_model, "staffer", "responder"), None, True),
        (enterprise, make_user(django_user_model, "root", is_superuser=True), None, True),
        (enterprise, make_user(django_user_model, "djstaff", is_staff=True), None, True),
        (enterprise, None, link, True),
        (enterprise, None, revoked, False),
        (enterprise, None, elsewhere, False),
        (enterprise, None, None, False),
        (other, member, None, False),
        (public, None, None, True),
    ]
    one_by_one = [access.can_view_status_page(user, page, access_link=link) for page, user, link, _ in cases]
    at_once = access.status_page_visits_allowed((page, user, link) for page, user, link, _ in cases)
    assert one_by_one == at_once == [expected for *_, expected in cases]


def test_a_revoked_links_subscribers_hear_nothing_more(pages, secret_incident, operator, publish):
    link, _token = services.create_access_link(operator, pages["enterprise"], label="Acme Corp")
    sub = email_subscriber("link@acme.example")
    Subscriber.objects.filter(pk=sub.pk).update(page=pages["enterprise"], access_link=link)
    services.revoke_access_link(operator, link)
    incident, _comm = secret_incident
    comm = publish(incident, "ENTERPRISE-BODY again.", status="identified")
    assert tasks.fan_out(comm.pk) == 0


def test_a_page_made_private_after_the_fan_out_sends_its_public_subscribers_nothing(pages, public_incident, operator):
    on_api = email_subscriber("api@example.com")
    Subscriber.objects.filter(pk=on_api.pk).update(page=pages["api"])
    _incident, comm = public_incident
    assert tasks.fan_out(comm.pk) == 1
    services.save_page(operator, pages["api"], visibility="private")
    deliver_all()
    assert "api@example.com" not in [m.to[0] for m in mail.outbox]


def test_a_public_update_reaches_the_subscribers_of_every_page_showing_it(pages, public_incident):
    on_default = email_subscriber("default@example.com")
    on_api = email_subscriber("api@example.com")
    Subscriber.objects.filter(pk=on_api.pk).update(page=pages["api"])
    _incident, comm = public_incident
    tasks.fan_out(comm.pk)
    deliver_all()
    subjects = {m.to[0]: m.subject for m in mail.outbox}
    assert set(subjects) == {on_default.email, "api@example.com"}
    assert "[API platform status]" in subjects["api@example.com"]


def test_subscribing_on_a_private_page_needs_access_and_records_it(
    client,
    pages,
    operator,
    eager_celery,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    data = {"kind": "email", "email": "ana@acme.example", "scope": "all"}
    assert client.post("/status/p/enterprise/subscribe/", data).status_code == 404
    assert not Subscriber.objects.exists()
    link, token = services.create_access_link(operator, pages["enterprise"], label="Acme Corp")
    assert client.get(f"/status/p/enterprise/subscribe/?access={token}").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post("/status/p/enterprise/subscribe/", data).status_code == 200
    sub = Subscriber.objects.get()
    assert (sub.page, sub.access_link) == (pages["enterprise"], link)


def test_the_subscribe_form_of_a_page_offers_its_components_only(client, pages):
    text = client.get("/status/p/api/subscribe/").content.decode()
    assert "Public API" in text and "Web chat" not in text and "Enterprise gateway" not in text
    text = client.get("/status/subscribe/").content.decode()
    assert "Enterprise gateway" not in text and 'value="Enterprise"' not in text


# Operators ----------------------------------------------------------------------------------------


def test_only_comms_staff_define_pages_and_links(pages, responder):
    with pytest.raises(PermissionDenied):
        services.save_page(responder, name="Mine", slug="mine")
    with pytest.raises(PermissionDenied):
        services.create_access_link(responder, pages["enterprise"], label="Mine")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("host", "https://status.example.com/"),
        ("host", API_HOST),
        ("slug", "api"),
        ("slug", "Not A Slug"),
        ("logo_url", "javascript:alert(1)"),
        ("logo_url", "https://cdn.example.com/logo.png"),
        ("logo_url", "//cdn.example.com/logo.png"),
    ],
)
def test_bad_page_input_is_refused_naming_the_field(pages, operator, field, value):
    values = {"name": "New", "slug": "new", field: value}
    with pytest.raises(ValidationError) as refused:
        services.save_page(operator, **values)
    assert field in refused.value.message_dict


def test_the_default_page_stays_public(pages, operator):
    with pytest.raises(ValidationError) as refused:
        services.save_page(operator, pages["default"], visibility="private")
    assert "visibility" in refused.value.message_dict


def test_a_logo_is_shown_as_an_image_of_this_site(client, pages, operator):
    services.save_page(operator, pages["api"], logo_url="/static/brand/api.png")
    assert '<img class="sp-logo" src="/static/brand/api.png"' in client.get("/status/p/api/").content.decode()


def test_a_pages_documents_cost_a_bounded_number_of_queries(
    client, pages, public_incident, secret_incident, settings, django_assert_max_num_queries
):
    settings.STATUSPAGE_VERSION_SECONDS = 0
    client.get("/status/p/api/")
    client.get("/status/p/api/api/v2/summary.json")
    with django_assert_max_num_queries(9):
        assert client.get("/status/p/api/").status_code == 200
    with django_assert_max_num_queries(9):
        assert client.get("/status/p/api/api/v2/summary.json").status_code == 200


def test_an_operator_with_one_page_sees_no_change(client, public_page):
    """The migration's default page shows every public component at the old addresses."""
    page = StatusPage.objects.get(is_default=True)
    assert (page.all_components, page.visibility, page.name) == (True, "public", "")
    summary = client.get("/status/api/v2/summary.json").json()
    assert summary["page"]["url"].endswith("/status/")
    assert [i["name"] for i in summary["incidents"]] == ["Chat replies time out"]


# The operators' pages ---------------------------------------------------------------------------


def page_form(**values):
    data = {"name": "China region", "slug": "china", "host": "", "logo_url": "", "language": "zh-hans"}
    data |= {"visibility": "public", "groups": ["Product"]}
    return data | values


def test_comms_staff_define_a_page_on_the_manage_page(client, pages, operator):
    client.force_login(operator)
    response = client.post("/status/manage/pages/new/", page_form())
    assert response.status_code == 302
    page = StatusPage.objects.get(slug="china")
    assert (page.name, page.language, page.groups) == ("China region", "zh-hans", ["Product"])
    assert "China region" in client.get("/status/manage/pages/").content.decode()
    summary = client.get("/status/p/china/api/v2/components.json").json()
    assert {c["name"] for c in summary["components"]} == {"Product", "Web chat"}


def test_bad_input_on_the_manage_page_is_a_form_error_keeping_the_input(client, pages, operator):
    client.force_login(operator)
    response = client.post("/status/manage/pages/new/", page_form(host="https://status.example.com/x"))
    assert response.status_code == 400
    text = response.content.decode()
    assert "Enter a host name such as status.example.com" in text
    assert 'value="China region"' in text
    assert not StatusPage.objects.filter(slug="china").exists()


def test_an_access_link_is_shown_once_and_revoked_on_the_manage_page(client, pages, operator):
    client.force_login(operator)
    enterprise = pages["enterprise"]
    response = client.post(f"/status/manage/pages/{enterprise.pk}/links/", {"label": "Acme Corp"})
    assert response.status_code == 201
    text = response.content.decode()
    token = text.split("?access=")[1].split("<")[0]
    assert token not in client.get(f"/status/manage/pages/{enterprise.pk}/").content.decode()
    visitor = Client()
    assert visitor.get(f"/status/p/enterprise/?access={token}").status_code == 200
    link = enterprise.access_links.get()
    assert client.post(f"/status/manage/pages/{enterprise.pk}/links/{link.pk}/revoke/").status_code == 302
    assert visitor.get("/status/p/enterprise/").status_code == 404


def test_only_comms_staff_reach_the_manage_pages(client, pages, commander):
    client.force_login(commander)
    assert client.get("/status/manage/pages/").status_code == 403
    assert client.post("/status/manage/pages/new/", page_form()).status_code == 403
    assert not StatusPage.objects.filter(slug="china").exists()


def test_the_manage_list_costs_a_bounded_number_of_queries(client, pages, operator, django_assert_max_num_queries):
    for n in range(5):
        page = services.save_page(operator, name=f"Page {n}", slug=f"page-{n}")
        services.create_access_link(operator, page, label=f"Customer {n}")
    client.force_login(operator)
    with django_assert_max_num_queries(10):
        assert client.get("/status/manage/pages/").status_code == 200


def test_the_confirmation_mail_names_the_page_subscribed_to(
    client,
    pages,
    eager_celery,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    data = {"kind": "email", "email": "ana@example.com", "scope": "all"}
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/status/subscribe/", data)
        client.post("/status/p/api/subscribe/", data)
    subjects = sorted(m.subject for m in mail.outbox)
    assert len(subjects) == 2
    assert subjects[0].startswith("[API platform status]")
    message = next(m for m in mail.outbox if "API platform" in m.subject)
    assert "API platform status" in message.body
    assert 'href="http://status.api.example/status/p/api/"' in message.alternatives[0][0]


def test_subscriber_mails_carry_the_list_id_of_their_own_page(
    client,
    pages,
    operator,
    settings,
    eager_celery,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    settings.STATUSPAGE_NAME = "Acme status"
    settings.SITE_URL = "https://warroom.example"
    services.save_page(operator, name="企业客户", slug="qiye", visibility="private")
    data = {"kind": "email", "email": "ana@example.com", "scope": "all"}
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/status/subscribe/", data)
        client.post("/status/p/api/subscribe/", data)
    by_page = {
        "api" if "API platform" in m.subject else "default": email.message_from_bytes(
            m.message().as_bytes(), policy=email.policy.default
        )["List-Id"]
        for m in mail.outbox
    }
    assert by_page == {
        "default": '"Acme status" <status.warroom.example>',
        "api": '"API platform status" <api.status.warroom.example>',
    }
    chinese = Subscriber(page=StatusPage.objects.get(slug="qiye"))
    header = delivery.list_id(chinese.page)
    assert header.endswith(" <qiye.status.warroom.example>") and "\n" not in header
    assert str(email.header.make_header(email.header.decode_header(header))).startswith("企业客户")


def test_the_root_api_serves_the_page_of_the_host_and_never_a_private_page(client, pages, secret_incident):
    on_host = Client(HTTP_HOST=API_HOST)
    assert on_host.get("/api/v2/status.json").json()["page"]["name"] == "API platform status"
    for visitor in (client, on_host):
        for route, _name in API_V2_DOCUMENTS:
            response = visitor.get(f"/api/v2/{route}")
            assert response.status_code == 200, route
            assert_no_secret(response.content.decode(), f"/api/v2/{route}")


# The admin, through the same services -------------------------------------------------------------


@pytest.fixture
def root_client(client, django_user_model):
    client.force_login(make_user(django_user_model, "root", is_superuser=True, is_staff=True))
    return client


def test_the_admin_makes_an_access_link_shown_once_and_revokes_it(root_client, pages):
    enterprise = pages["enterprise"]
    response = root_client.post(
        "/admin/statuspage/pageaccesslink/add/", {"page": enterprise.pk, "label": "Acme Corp"}, follow=True
    )
    text = response.content.decode()
    assert "shown this once" in text
    token = text.split("?access=")[1].split("<")[0].split(" ")[0]
    link = enterprise.access_links.get()
    assert link.token_hash != token and link.created_by.username == "root"
    assert Client().get(f"/status/p/enterprise/?access={token}").status_code == 200
    root_client.post(
        "/admin/statuspage/pageaccesslink/", {"action": "revoke", "_selected_action": [link.pk]}, follow=True
    )
    assert Client().get(f"/status/p/enterprise/?access={token}").status_code == 404


def test_the_admin_refuses_a_bad_host_naming_the_field(root_client, pages):
    api = pages["api"]
    data = {"name": "API", "slug": "api", "host": "https://x.example/", "logo_url": "", "language": ""}
    data |= {"groups": "[]", "visibility": "public", "access_links-TOTAL_FORMS": "0", "access_links-INITIAL_FORMS": "0"}
    response = root_client.post(f"/admin/statuspage/statuspage/{api.pk}/change/", data)
    assert response.status_code == 200
    assert "Enter a host name such as status.example.com" in response.content.decode()
    api.refresh_from_db()
    assert api.host == API_HOST


def test_the_admin_saves_a_page_through_the_service(root_client, pages, web_chat, acme):
    api = pages["api"]
    data = {"name": "API and chat", "slug": "api", "host": API_HOST, "logo_url": "", "language": ""}
    data |= {"groups": "[]", "visibility": "private", "services": [web_chat.pk], "allowed_groups": [acme.pk]}
    data |= {"access_links-TOTAL_FORMS": "0", "access_links-INITIAL_FORMS": "0"}  # the links inline
    response = root_client.post(f"/admin/statuspage/statuspage/{api.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    api = StatusPage.objects.get(pk=api.pk)
    assert (api.name, api.visibility, list(api.services.all()), list(api.allowed_groups.all())) == (
        "API and chat",
        "private",
        [web_chat],
        [acme],
    )
    assert Client(HTTP_HOST=API_HOST).get("/status/").status_code == 404  # private now


def test_a_subscribers_own_pages_lead_back_to_its_status_page(client, pages):
    sub = email_subscriber("api@example.com")
    Subscriber.objects.filter(pk=sub.pk).update(page=pages["api"])
    text = client.get(f"/status/subscribe/manage/{sub.token}/").content.decode()
    assert "API platform status" in text and 'href="/status/p/api/"' in text
    assert "Enterprise gateway" not in text and "Web chat" not in text  # the page's components only
