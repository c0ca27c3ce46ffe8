"""A customer message reaches its recipients: comms (sam) drafts a customer message to a
recipient list on the page, a second person (kim) approves it, sam publishes it; the
communication's page shows each recipient's delivery as sent, and the mail server (aiosmtpd on
loopback) received one e-mail per recipient, with the subject as written.

Celery runs eagerly here (the live server's thread does the publishing and the delivery tasks):
tests/test_audience_worker.py covers the real worker."""

import re

import pytest
from playwright.sync_api import expect

from incidents import services
from incidents.comms import recipients
from incidents.models import AudienceDelivery, Communication
from tests.statuspage.subscription_factories import eager_celery  # noqa: F401
from tests.statuspage.test_smtp_delivery import smtp_server  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_comms_drafts_a_customer_message_to_a_list_another_approves_and_each_recipient_gets_it(
    new_page,
    cast,
    smtp_server,  # noqa: F811
    eager_celery,  # noqa: F811
):
    incident = services.declare(cast["commander"], title="Chat and API time-outs worldwide", severity=1)
    customers = recipients.create_list(cast["author"], name="Enterprise customers", audience="customers")
    recipients.add_member(customers, cast["author"], kind="email", email="ops@acme.example", name="Acme")
    recipients.add_member(customers, cast["author"], kind="email", email="it@globex.example")
    recipients.create_list(cast["author"], name="Press desks", audience="partners")

    author = new_page("sam", "pw-sam")
    author.goto(f"/incidents/{incident.key}/comms/new/?audience=customers")
    author.fill("#id_title", "Errors and time-outs on chat")
    author.fill("#id_body", "We are working on errors and time-outs. Your data is safe.")
    author.get_by_label("Enterprise customers (Customers (e-mail))").check()
    expect(author.get_by_label("Press desks (Partners and press)")).to_be_visible()
    author.locator("#comm-form button.primary[value=save]").click()
    expect(author.get_by_test_id("comm-state")).to_have_text("Draft")
    expect(author.get_by_test_id("recipient-list")).to_have_text("Enterprise customers")
    author.click("button[data-action=submit]")
    expect(author.get_by_test_id("comm-state")).to_have_text("In review")
    comm = Communication.objects.get(incident=incident)

    approver = new_page("kim", "pw-kim")
    approver.goto(f"/incidents/{incident.key}/comms/{comm.pk}/")
    approver.click("button[data-action=approve]")
    expect(approver.get_by_test_id("comm-state")).to_have_text("Approved")

    author.reload()
    author.click("button[data-action=publish]")
    expect(author.get_by_test_id("comm-state")).to_have_text("Published")
    deliveries = author.get_by_test_id("delivery")
    expect(deliveries).to_have_count(2)
    for address in ("ops@acme.example", "it@globex.example"):
        row = author.locator(f"[data-testid=delivery][data-address='{address}']")
        expect(row).to_have_attribute("data-status", "sent")
        expect(row).to_contain_text("Sent")

    received = sorted((to[0], message["Subject"]) for to, message in smtp_server.messages)
    assert received == [
        ("it@globex.example", "Errors and time-outs on chat"),
        ("ops@acme.example", "Errors and time-outs on chat"),
    ]
    ids = {str(d.pk) for d in AudienceDelivery.objects.filter(communication=comm)}
    assert {message["X-Warroom-Notification"] for _, message in smtp_server.messages} == ids
    assert author.js_errors == [] and approver.js_errors == []


def test_the_member_form_shows_the_chosen_kinds_fields_and_keeps_what_was_typed(new_page, cast, settings):
    settings.WARROOM_ALLOW_PRIVATE_WEBHOOKS = False
    press = recipients.create_list(cast["author"], name="Press desks", audience="partners")
    page = new_page("sam", "pw-sam")
    page.goto(f"/comms/recipients/{press.pk}/")
    email_fields, webhook_fields = page.get_by_test_id("email-fields"), page.get_by_test_id("webhook-fields")
    expect(email_fields).to_be_visible()
    expect(webhook_fields).to_be_hidden()
    page.fill("#id_member-email", "desk@news.example")
    page.select_option("#id_member-kind", "webhook")
    expect(webhook_fields).to_be_visible()
    expect(email_fields).to_be_hidden()
    page.fill("#id_member-webhook_url", "http://127.0.0.1/hook")
    page.locator("#add-member button[value=add]").click()

    expect(page.locator("#add-member")).to_contain_text("private or local network")
    expect(webhook_fields).to_be_visible()
    expect(email_fields).to_be_hidden()
    expect(page.locator("#id_member-webhook_url")).to_have_value("http://127.0.0.1/hook")
    page.select_option("#id_member-kind", "email")
    expect(page.locator("#id_member-email")).to_have_value("desk@news.example")
    page.locator("#add-member button[value=add]").click()
    expect(page.get_by_test_id("member")).to_have_text(re.compile("desk@news.example"))
    # The refused form's answer is a 400, which the console reports; no script failed.
    assert [e for e in page.js_errors if "status of 400" not in e] == []
