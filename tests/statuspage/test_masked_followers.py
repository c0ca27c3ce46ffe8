"""A followed private status page's subscribers (customers' staff) are not shown to people who
may not manage the recipient lists: the incident's comms lead and the security group read the
deliveries of a message on the communication's page (and its live redraw), in the API and in
the audit trail with each subscriber's address masked (j•••@acme.example), its status, error
and attempts visible. Those who manage the lists see the addresses; a list's own members are
shown as before (docs/audiences.md)."""

import csv
import io
import json

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from incidents import services as incident_services
from incidents.comms import recipients
from incidents.models import AudienceDelivery
from statuspage import services
from statuspage.models import Subscriber
from tests.audience_factories import approved, publish
from tests.conftest import api_as, make_user

pytestmark = pytest.mark.django_db

CTO = "cto@acme.example"  # a subscriber of the private page
HOOK = "https://hooks.acme.example/warroom/s3cr3t-path"  # a subscriber's webhook
OPS = "ops@acme.example"  # the list's own member


@pytest.fixture
def enterprise(alice):
    acme = Group.objects.create(name="acme-users")
    return services.save_page(
        alice, name="Enterprise customers", slug="enterprise", visibility="private", allowed_groups=[acme]
    )


@pytest.fixture
def comms_lead(incident, commander, django_user_model):
    """The incident's comms lead, who writes its communications but may not manage the lists."""
    lead = make_user(django_user_model, "lena", "viewer")
    incident_services.assign_role(incident, lead, "comms_lead", commander)
    return lead


@pytest.fixture
def auditor(django_user_model, settings):
    """A member of the security group, who reads the incident's audit trail."""
    return make_user(django_user_model, "sue", settings.WARROOM_SECURITY_GROUP)


def subscribe(page, link, kind, address):
    return Subscriber.objects.create(
        kind=kind,
        page=page,
        email=address if kind == "email" else "",
        webhook_url=address if kind == "webhook" else "",
        access_link=link,
        confirmed_at=timezone.now(),
    )


def published_to_followers(incident, alice, bob, enterprise, capture, extra=0):
    """A customer message published to a list that follows `enterprise`: its member OPS, the
    subscribers CTO (whose delivery failed, the mail server naming the address) and HOOK, and
    `extra` more subscribers."""
    link, _token = services.create_access_link(alice, enterprise, label="Acme Corp")
    subscribe(enterprise, link, "email", CTO)
    subscribe(enterprise, link, "webhook", HOOK)
    for n in range(extra):
        subscribe(enterprise, link, "email", f"staff{n}@acme.example")
    customers = recipients.create_list(alice, name="Enterprise", audience="customers", follows_page=enterprise.pk)
    recipients.add_member(customers, alice, kind="email", email=OPS, name="Acme ops")
    comm = publish(approved(incident, alice, bob, lists=[customers]), alice, capture, deliver=False)
    AudienceDelivery.objects.filter(communication=comm, address=CTO).update(
        status="failed", attempts=3, last_error=f"550 5.1.1 <{CTO}>: Recipient address rejected"
    )
    return comm


def page_url(comm):
    return reverse("incidents:comms:detail", args=[comm.incident.key, comm.pk])


def api_url(comm):
    return f"/api/v1/incidents/{comm.incident.key}/communications/{comm.pk}/"


# The communication's page -------------------------------------------------------------------------


@pytest.mark.parametrize("live", [False, True], ids=["page", "live-redraw"])
def test_a_comms_lead_who_may_not_manage_lists_sees_no_subscriber_address_on_the_page(
    as_user, incident, alice, bob, enterprise, comms_lead, django_capture_on_commit_callbacks, live
):
    comm = published_to_followers(incident, alice, bob, enterprise, django_capture_on_commit_callbacks)
    headers = {"HX-Request": "true"} if live else {}

    page = as_user(comms_lead).get(page_url(comm), headers=headers).content.decode()

    assert page.count('data-testid="delivery"') == 3
    assert CTO not in page and "s3cr3t-path" not in page
    assert 'data-address="c•••@acme.example" data-status="failed"' in page
    assert "550 5.1.1 &lt;c•••@acme.example&gt;: Recipient address rejected" in page  # the error, without it
    assert 'data-address="https://hooks.acme.example/•••" data-status="pending"' in page
    assert f'data-address="{OPS}"' in page and "Acme ops" in page  # the list's own member, as before
    assert 'data-testid="masked-note"' in page and "status page subscriber #" in page


def test_a_list_manager_sees_the_subscribers_addresses_on_the_page(
    as_user, incident, alice, bob, enterprise, django_capture_on_commit_callbacks
):
    comm = published_to_followers(incident, alice, bob, enterprise, django_capture_on_commit_callbacks)

    page = as_user(bob).get(page_url(comm)).content.decode()

    assert f'data-address="{CTO}" data-status="failed"' in page
    assert f"&lt;{CTO}&gt;: Recipient address rejected" in page
    assert f'data-address="{HOOK}"' in page and f'data-address="{OPS}"' in page
    assert 'data-testid="masked-note"' not in page


def test_the_page_with_masked_subscribers_takes_the_same_queries_for_few_or_many(
    as_user, incident, alice, bob, enterprise, comms_lead, django_capture_on_commit_callbacks,
    django_assert_max_num_queries,
):  # fmt: skip
    comm = published_to_followers(incident, alice, bob, enterprise, django_capture_on_commit_callbacks, extra=30)
    client = as_user(comms_lead)
    with django_assert_max_num_queries(14):
        page = client.get(page_url(comm)).content.decode()
    assert page.count('data-testid="delivery"') == 33
    assert "staff7@acme.example" not in page and 'data-address="s•••@acme.example"' in page


# The API ------------------------------------------------------------------------------------------


def test_the_api_masks_the_subscribers_for_a_comms_lead_and_not_for_a_list_manager(
    incident, alice, bob, enterprise, comms_lead, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    comm = published_to_followers(incident, alice, bob, enterprise, django_capture_on_commit_callbacks, extra=30)

    with django_assert_max_num_queries(12):
        masked = api_as(comms_lead).get(api_url(comm))
    clear = api_as(bob).get(api_url(comm)).json()["deliveries"]

    assert masked.status_code == 200
    body = masked.content.decode()
    assert CTO not in body and "s3cr3t-path" not in body and "staff7@acme.example" not in body
    shown = {d["address"]: d for d in masked.json()["deliveries"]}
    failed = shown["c•••@acme.example"]
    assert (failed["status"], failed["attempts"], failed["name"]) == ("failed", 3, "")
    assert failed["error"] == "550 5.1.1 <c•••@acme.example>: Recipient address rejected"
    assert "https://hooks.acme.example/•••" in shown and shown[OPS]["name"] == "Acme ops"
    assert {CTO, HOOK, OPS} <= {d["address"] for d in clear}


def test_the_api_lists_communications_with_masked_subscribers_in_bounded_queries(
    incident, alice, bob, enterprise, comms_lead, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    published_to_followers(incident, alice, bob, enterprise, django_capture_on_commit_callbacks, extra=30)
    with django_assert_max_num_queries(12):
        listed = api_as(comms_lead).get(f"/api/v1/incidents/{incident.key}/communications/")
    assert listed.status_code == 200 and CTO not in listed.content.decode()


def test_the_schema_says_the_delivery_address_may_be_masked(alice):
    schema = api_as(alice).get("/api/schema/?format=json").json()
    address = schema["components"]["schemas"]["AudienceDelivery"]["properties"]["address"]
    assert "masked" in address["description"]


# The audit trail ----------------------------------------------------------------------------------


def audit(client, comm, fmt=""):
    url = reverse("incidents:security:audit", args=[comm.incident.key])
    return client.get(url + (f"?format={fmt}" if fmt else ""))


def test_the_security_group_reads_the_audit_trail_with_the_subscribers_masked(
    as_user, incident, alice, bob, enterprise, auditor, django_capture_on_commit_callbacks,
    django_assert_max_num_queries,
):  # fmt: skip
    comm = published_to_followers(incident, alice, bob, enterprise, django_capture_on_commit_callbacks, extra=30)
    client = as_user(auditor)

    with django_assert_max_num_queries(12):
        exported = json.loads(audit(client, comm, "json").content)
    table = list(csv.DictReader(io.StringIO(audit(client, comm, "csv").content.decode())))
    page = audit(client, comm).content.decode()

    for text in (json.dumps(exported, ensure_ascii=False), str(table), page):
        assert CTO not in text and "s3cr3t-path" not in text
    sent = {r["new"]["to"]: r["new"] for r in exported["changes"] if r["kind"] == "delivery"}
    assert {"c•••@acme.example", "https://hooks.acme.example/•••", OPS} <= set(sent)
    assert not any("staff" in to for to in sent)
    assert (sent["c•••@acme.example"]["status"], sent["c•••@acme.example"]["attempts"]) == ("failed", 3)
    assert sent["c•••@acme.example"]["subscriber"] and sent[OPS]["subscriber"] is None
    assert sum(1 for r in table if r["kind"] == "delivery") == 33


def test_a_list_manager_reads_the_subscribers_addresses_in_the_audit_trail(
    as_user, incident, alice, bob, enterprise, commander, django_capture_on_commit_callbacks
):
    comm = published_to_followers(incident, alice, bob, enterprise, django_capture_on_commit_callbacks)
    exported = json.loads(audit(as_user(commander), comm, "json").content)
    assert {r["new"]["to"] for r in exported["changes"] if r["kind"] == "delivery"} == {CTO, HOOK, OPS}


# The timeline -------------------------------------------------------------------------------------


def test_sending_again_names_a_subscriber_on_the_timeline_by_its_masked_address(
    as_user, incident, alice, bob, enterprise, comms_lead, django_capture_on_commit_callbacks
):
    comm = published_to_followers(incident, alice, bob, enterprise, django_capture_on_commit_callbacks)
    again = reverse("incidents:comms:act", args=[incident.key, comm.pk, "send-again"])
    with django_capture_on_commit_callbacks(execute=False):
        assert as_user(comms_lead).post(again).status_code == 302
    entry = incident.timeline.get(body__contains="sent again to 1 recipient")
    assert CTO not in entry.body and "c•••@acme.example" in entry.body
