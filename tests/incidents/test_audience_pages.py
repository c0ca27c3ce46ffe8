"""Recipient lists on the comms pages and in the API (issue #13): comms staff and commanders
manage them, nobody else sees them; bad addresses are a form error or a 400 naming the field;
the draft form chooses the lists (and, for a regulator message, the clock stage it notifies);
the communication's page and the API show each recipient's delivery, in a bounded number of
queries."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from incidents.comms import recipients
from incidents.comms import services as communications
from incidents.models import AudienceDelivery, Communication, Obligation, RecipientList
from incidents.security import clocks
from tests.audience_factories import approved

pytestmark = pytest.mark.django_db


LISTS = "/comms/recipients/"


def list_url(recipient_list):
    return f"/comms/recipients/{recipient_list.pk}/"


# Pages ------------------------------------------------------------------------------------------


def test_comms_staff_create_a_list_and_add_an_email_and_a_webhook(as_user, alice, settings):
    settings.WARROOM_ALLOW_PRIVATE_WEBHOOKS = False
    client = as_user(alice)
    response = client.post(LISTS, {"name": "Regulators EU", "audience": "regulators", "active": "on"})
    created = RecipientList.objects.get(name="Regulators EU")
    assert response.status_code == 302 and response["Location"] == list_url(created)

    client.post(list_url(created), {"action": "add", "member-kind": "email", "member-email": "breach@dpa.example",
                                    "member-name": "DPA", "member-language": "de"})  # fmt: skip
    client.post(list_url(created), {"action": "add", "member-kind": "webhook",
                                    "member-webhook_url": "https://93.184.215.14/hooks/warroom"})  # fmt: skip

    page = client.get(list_url(created)).content.decode()
    assert "breach@dpa.example" in page and "https://93.184.215.14/hooks/warroom" in page
    assert [(m.kind, m.language) for m in created.members.order_by("kind")] == [("email", "de"), ("webhook", "")]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"member-kind": "email", "member-email": "not-an-address"}, "Enter a valid e-mail address."),
        ({"member-kind": "webhook", "member-webhook_url": "http://127.0.0.1/hook"}, "private or local network"),
        ({"member-kind": "webhook", "member-webhook_url": "javascript:alert(1)"}, "http:// or https://"),
    ],
)
def test_a_bad_address_is_a_form_error_and_keeps_what_was_typed(as_user, alice, customers, settings, data, message):
    settings.WARROOM_ALLOW_PRIVATE_WEBHOOKS = False
    response = as_user(alice).post(list_url(customers), {"action": "add", **data})
    assert response.status_code == 400
    page = response.content.decode()
    assert message in page
    typed = data.get("member-email") or data["member-webhook_url"]
    assert f'value="{typed}"' in page.replace("&#x27;", "'")
    assert customers.members.count() == 1


def test_a_second_list_with_the_same_name_is_a_form_error(as_user, alice, customers):
    response = as_user(alice).post(LISTS, {"name": "Enterprise customers", "audience": "customers"})
    assert response.status_code == 400
    assert "already a list named" in response.content.decode()


@pytest.mark.parametrize("who", ["responder", "viewer", "outsider"])
def test_people_outside_comms_and_command_cannot_see_the_lists(request, as_user, customers, who):
    client = as_user(request.getfixturevalue(who))
    assert client.get(LISTS).status_code == 403
    response = client.get(list_url(customers))
    assert response.status_code == 403 and "ops@acme.example" not in response.content.decode()
    assert client.post(list_url(customers), {"action": "delete"}).status_code == 403
    assert RecipientList.objects.filter(pk=customers.pk).exists()


def test_a_commander_may_manage_the_lists(as_user, commander, customers):
    assert as_user(commander).get(list_url(customers)).status_code == 200


def test_a_member_is_deactivated_and_removed_on_the_page(as_user, alice, customers):
    client = as_user(alice)
    member = customers.members.get()
    client.post(list_url(customers), {"action": "toggle", "member": member.pk})
    member.refresh_from_db()
    assert member.active is False
    client.post(list_url(customers), {"action": "remove", "member": "99999999999999999999999"})  # garbage: no 500
    client.post(list_url(customers), {"action": "remove", "member": member.pk})
    assert customers.members.count() == 0


def test_the_list_pages_queries_are_bounded(as_user, alice, customers, django_assert_max_num_queries):
    for n in range(20):
        more = recipients.create_list(alice, name=f"List {n}", audience="partners")
        recipients.add_member(more, alice, kind="email", email=f"p{n}@example.com")
        recipients.add_member(customers, alice, kind="email", email=f"c{n}@example.com")
    client = as_user(alice)
    with django_assert_max_num_queries(8):
        assert client.get(LISTS).status_code == 200
    with django_assert_max_num_queries(8):
        assert client.get(list_url(customers)).status_code == 200


def test_the_draft_form_sends_a_customer_message_to_the_chosen_list(as_user, alice, incident, customers):
    other = recipients.create_list(alice, name="Partners", audience="partners")
    url = reverse("incidents:comms:new", args=[incident.key])
    page = as_user(alice).get(url + "?audience=customers").content.decode()
    assert "Enterprise customers" in page

    response = as_user(alice).post(url, {"action": "save", "audience": "customers", "title": "Slow replies",
                                         "body": "We are on it.", "language": "en",
                                         "recipient_lists": [customers.pk]})  # fmt: skip
    comm = Communication.objects.get(incident=incident)
    assert response.status_code == 302
    assert list(comm.recipient_lists.all()) == [customers]

    response = as_user(alice).post(
        reverse("incidents:comms:edit", args=[incident.key, comm.pk]),
        {"audience": "customers", "title": "Slow replies", "body": "We are on it.", "language": "en",
         "recipient_lists": [other.pk]},
    )  # fmt: skip
    assert response.status_code == 400
    assert "is for partners and press, not this audience" in response.content.decode()
    assert list(comm.recipient_lists.all()) == [customers]


def test_a_commander_marks_a_regulator_message_as_a_clocks_notification_on_the_form(as_user, declare, commander):
    incident = declare(title="Database exposed", kind="data_exposure", severity=1)
    incident.aware_at = timezone.now() - timedelta(hours=1)
    incident.save(update_fields=["aware_at"])
    clock = clocks.start_clock(incident, Obligation.objects.get(key="gdpr-33"), commander)
    stage = clock.obligation.stages[0]["name"]
    url = reverse("incidents:comms:new", args=[incident.key])
    assert f"{clock.obligation.regime} — {stage}" in as_user(commander).get(url).content.decode()

    as_user(commander).post(url, {"action": "save", "audience": "regulators", "title": "Breach notification",
                                  "body": "We report a breach.", "language": "en",
                                  "notifies": f"{clock.pk}:{stage}"})  # fmt: skip

    comm = Communication.objects.get(incident=incident)
    assert (comm.notifies_clock_id, comm.notifies_stage) == (clock.pk, stage)


def published_to(incident, author, approver, recipient_list):
    comm = approved(incident, author, approver, lists=[recipient_list], title="Slow replies", body="We are on it.")
    communications.publish_now(comm.pk, author.pk)
    return Communication.objects.get(pk=comm.pk)


def test_the_communication_page_shows_each_recipients_delivery_to_comms_only(
    as_user, alice, bob, incident, customers, viewer, django_assert_max_num_queries
):
    for n in range(25):
        recipients.add_member(customers, alice, kind="email", email=f"c{n}@example.com")
    comm = published_to(incident, alice, bob, customers)
    AudienceDelivery.objects.filter(communication=comm, address="c3@example.com").update(
        status="failed", last_error="Address refused: c3@example.com", attempts=1
    )
    url = reverse("incidents:comms:detail", args=[incident.key, comm.pk])
    client = as_user(alice)

    with django_assert_max_num_queries(12):
        page = client.get(url).content.decode()

    assert page.count('data-testid="delivery"') == 26
    assert 'data-address="c3@example.com" data-status="failed"' in page
    assert "Address refused: c3@example.com" in page
    assert 'hx-trigger="every 2s"' in page  # the rest are still waiting: the page keeps itself current
    assert "ops@acme.example" not in as_user(viewer).get(url).content.decode()


# API ----------------------------------------------------------------------------------------------


def test_the_api_manages_lists_and_members(api, alice, settings):
    settings.WARROOM_ALLOW_PRIVATE_WEBHOOKS = False
    client = api(alice)
    created = client.post("/api/v1/recipient-lists/", {"name": "Press", "audience": "partners"}, format="json")
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    members = f"/api/v1/recipient-lists/{pk}/members/"

    email = client.post(members, {"kind": "email", "email": "desk@news.example", "language": "fr"}, format="json")
    hook = client.post(members, {"kind": "webhook", "webhook_url": "https://93.184.215.14/h"}, format="json")

    assert email.status_code == hook.status_code == 201
    assert len(hook.json()["secret"]) == 64
    assert client.get(f"/api/v1/recipient-lists/{pk}/").json()["members"] == 2
    assert client.patch(f"/api/v1/recipient-lists/{pk}/", {"active": False}, format="json").json()["active"] is False
    assert client.delete(f"{members}{email.json()['id']}/").status_code == 204
    assert client.delete(f"/api/v1/recipient-lists/{pk}/").status_code == 204


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "email", "email": "nope"}, "email"),
        ({"kind": "webhook", "webhook_url": "http://10.1.2.3/hook"}, "webhook_url"),
        ({"kind": "webhook", "webhook_url": "http://[::1]/hook"}, "webhook_url"),
        ({"kind": "webhook"}, "webhook_url"),
        ({"kind": "fax", "email": "a@example.com"}, "kind"),
        ({"kind": "email", "email": "a@example.com", "language": "english please"}, "language"),
    ],
)
def test_the_api_refuses_bad_addresses_naming_the_field(api, alice, customers, settings, body, field):
    settings.WARROOM_ALLOW_PRIVATE_WEBHOOKS = False
    response = api(alice).post(f"/api/v1/recipient-lists/{customers.pk}/members/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()


def test_the_api_keeps_the_lists_from_others(api, responder, customers):
    assert api(responder).get("/api/v1/recipient-lists/").status_code == 403
    assert api(responder).get(f"/api/v1/recipient-lists/{customers.pk}/members/").status_code == 403
    assert api(None).get("/api/v1/recipient-lists/").status_code in (401, 403)


def test_a_communication_names_its_lists_and_shows_its_deliveries_in_the_api(
    api, alice, bob, incident, customers, django_assert_max_num_queries
):
    url = f"/api/v1/incidents/{incident.key}/communications/"
    response = api(alice).post(url, {"audience": "customers", "title": "Slow replies", "body": "We are on it.",
                                     "recipient_lists": [customers.pk]}, format="json")  # fmt: skip
    assert response.status_code == 201, response.content
    assert response.json()["recipient_lists"] == [customers.pk]
    wrong = api(alice).post(url, {"audience": "status_page", "body": "x", "recipient_lists": [customers.pk]},
                            format="json")  # fmt: skip
    assert wrong.status_code == 400 and "recipient_lists" in wrong.json()

    for _ in range(3):
        published_to(incident, alice, bob, customers)
    client = api(alice)
    with django_assert_max_num_queries(12):
        listed = client.get(url).json()["results"]
    published = [c for c in listed if c["status"] == "published"]
    assert [d["address"] for d in published[0]["deliveries"]] == ["ops@acme.example"]
    assert published[0]["deliveries"][0]["status"] == "pending"


def test_the_schema_lists_the_recipient_list_operations(api, alice):
    schema = api(alice).get("/api/schema/?format=json").json()
    assert "/api/v1/recipient-lists/" in schema["paths"]
    assert "/api/v1/recipient-lists/{list_pk}/members/{id}/" in schema["paths"]


def test_comms_send_failed_deliveries_again_from_the_communications_page(
    as_user, alice, bob, incident, customers, viewer, django_capture_on_commit_callbacks
):
    comm = published_to(incident, alice, bob, customers)
    [row] = AudienceDelivery.objects.filter(communication=comm)
    AudienceDelivery.objects.filter(pk=row.pk).update(status="failed", last_error="Mail server said 550", attempts=8)
    url = reverse("incidents:comms:detail", args=[incident.key, comm.pk])
    assert 'data-action="send-again"' in as_user(alice).get(url).content.decode()
    again = reverse("incidents:comms:act", args=[incident.key, comm.pk, "send-again"])

    assert as_user(viewer).post(again).status_code == 403
    with django_capture_on_commit_callbacks(execute=False) as queued:
        assert as_user(alice).post(again).status_code == 302

    row.refresh_from_db()
    assert (row.status, row.attempts) == ("pending", 8) and len(queued) == 2  # its delivery; the live redraw
    assert incident.timeline.filter(body__contains="sent again to 1 recipient").exists()
    assert "No delivery of this communication has failed." in as_user(alice).post(again, follow=True).content.decode()


def test_send_again_names_no_address_and_no_webhook_secret_on_the_timeline(
    as_user, alice, bob, incident, customers, viewer, private_recipient_webhooks, django_capture_on_commit_callbacks
):
    """Everyone who may see the incident reads its timeline, and a webhook's path is often its
    secret: the line says which recipients, masked."""
    secret_hook = "https://hooks.example.com/services/T0001/B0002/s3cr3tT0ken"
    recipients.add_member(customers, alice, kind="webhook", webhook_url=secret_hook, name="Acme hook")
    comm = published_to(incident, alice, bob, customers)
    AudienceDelivery.objects.filter(communication=comm).update(status="failed", last_error="refused", attempts=8)
    again = reverse("incidents:comms:act", args=[incident.key, comm.pk, "send-again"])
    with django_capture_on_commit_callbacks(execute=False):
        assert as_user(alice).post(again).status_code == 302
    line = incident.timeline.get(body__contains="sent again to 2 recipient")
    assert "s3cr3tT0ken" not in line.body and "ops@acme.example" not in line.body
    assert "o•••@acme.example" in line.body and "https://hooks.example.com/•••" in line.body
    war_room = as_user(viewer).get(reverse("incidents:detail", args=[incident.key])).content.decode()
    assert "s3cr3tT0ken" not in war_room and "ops@acme.example" not in war_room


def test_without_scripts_the_member_form_says_which_fields_are_for_which_kind(as_user, alice, customers):
    page = as_user(alice).get(list_url(customers)).content.decode()
    assert 'data-shown-for="email"' in page and 'data-shown-for="webhook"' in page
    assert "For an e-mail address" in page and "For a webhook" in page
