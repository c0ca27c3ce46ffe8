"""Subscribing to the status page: the public form, double opt-in, unsubscribe (link and RFC
8058 one-click), managing what one follows, component and group semantics, the rate limit.

Who may use these pages: anyone; confirm, unsubscribe and manage act only on the subscriber
whose token is in the URL.
"""

import re

import pytest
from django.core import mail
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from statuspage import subscriptions, tasks
from statuspage.models import Notification, Subscriber
from statuspage.views_subscribe import rate_limit_key
from tests.conftest import cache_keys
from tests.statuspage.page_factories import approver, author, internal_service, make_service, publish  # noqa: F401
from tests.statuspage.subscription_factories import (  # noqa: F401
    eager_celery,
    email_subscriber,
    notifications,
    private_webhooks,
    webhook_subscriber,
)
from tests.webhook_receiver import webhook_receiver  # noqa: F401

pytestmark = pytest.mark.django_db

SUBSCRIBE = "/status/subscribe/"


@pytest.fixture(autouse=True)
def fresh_rate_limit():
    # Counters live in the shared cache (Redis in CI) and would outlive a test.
    keys = [rate_limit_key(addr) for addr in ("127.0.0.1", "198.51.100.7", "198.51.100.8")]
    cache.delete_many(keys)
    yield
    cache.delete_many(keys)


@pytest.fixture
def post(client, eager_celery, django_capture_on_commit_callbacks):  # noqa: F811
    """POST as the public would; what the form enqueues (the confirmation mail) runs now."""

    def _post(url, data, **extra):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(url, data, **extra)

    return _post


def text_of(response):
    return response.content.decode()


def link_in(message, name):
    pattern = {"confirm": r"/status/subscribe/confirm/([\w-]+)/", "unsubscribe": r"/status/unsubscribe/([\w-]+)/"}
    return re.search(pattern[name], message.body).group(0)


def deliver_update(comm):
    """The worker's part after a publish, run here."""
    tasks.after_publication(comm.pk)
    from statuspage import delivery

    delivery.deliver(Notification.objects.filter(status="pending").values_list("pk", flat=True))
    return [m for m in mail.outbox if "Confirm" not in m.subject]


# The form -----------------------------------------------------------------------------------


def test_anyone_sees_the_subscribe_form_with_public_components_and_groups(
    client,
    api_service,
    web_chat,
    internal_service,  # noqa: F811
    django_assert_max_num_queries,
):
    with django_assert_max_num_queries(6):
        response = client.get(SUBSCRIBE)
    assert response.status_code == 200
    page = text_of(response)
    assert 'name="csrfmiddlewaretoken"' in page
    assert "Public API" in page and "Web chat" in page
    assert 'value="Platform"' in page and 'value="Product"' in page
    assert "Billing ledger" not in page and 'value="Internal"' not in page
    assert response["Cache-Control"].startswith("max-age=0")


def test_subscribe_form_is_protected_against_cross_site_posts(api_service):
    client = Client(enforce_csrf_checks=True)
    response = client.post(SUBSCRIBE, {"kind": "email", "email": "ana@example.com", "scope": "all"})
    assert response.status_code == 403
    assert Subscriber.objects.count() == 0


def test_email_subscription_sends_a_confirmation_and_notifies_nothing_until_confirmed(post, declare, publish, web_chat):  # noqa: F811
    response = post(SUBSCRIBE, {"kind": "email", "email": "Ana@Example.COM", "scope": "all"})

    assert response.status_code == 200
    assert "Check your inbox" in text_of(response)
    sub = Subscriber.objects.get()
    assert (sub.email, sub.confirmed_at, sub.all_components) == ("Ana@example.com", None, True)
    [confirmation] = mail.outbox
    assert confirmation.to == ["Ana@example.com"]
    assert "Confirm your subscription" in confirmation.subject
    assert link_in(confirmation, "confirm") == f"/status/subscribe/confirm/{sub.token}/"
    assert confirmation.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    comm = publish(declare(title="Slow replies"), "Looking into it.")
    assert deliver_update(comm) == []
    assert [n.key for n in notifications(sub)] == [Notification.objects.get(subscriber=sub).key]  # only the confirm


def test_confirm_link_shows_a_button_and_the_post_confirms(post, client, declare, publish, web_chat):  # noqa: F811
    post(SUBSCRIBE, {"kind": "email", "email": "ana@example.com", "scope": "all"})
    confirm = link_in(mail.outbox[0], "confirm")

    page = client.get(confirm)  # what a mail scanner following the link does
    assert page.status_code == 200 and "Yes, confirm my subscription" in text_of(page)
    assert Subscriber.objects.get().confirmed_at is None

    done = client.post(confirm)
    assert done.status_code == 200 and "Subscription confirmed" in text_of(done)
    assert Subscriber.objects.get().confirmed_at is not None
    assert client.post(confirm).status_code == 200  # twice: harmless

    comm = publish(declare(title="Slow replies"), "Looking into it.")
    [update] = deliver_update(comm)
    assert update.to == ["ana@example.com"]


def test_unknown_tokens_are_404(client):
    for url in ("/status/subscribe/confirm/nope/", "/status/unsubscribe/nope/", "/status/subscribe/manage/nope/"):
        assert client.get(url).status_code == 404
        assert client.post(url).status_code == 404


def test_unsubscribe_link_shows_a_button_and_the_post_unsubscribes(client, declare, publish, web_chat):  # noqa: F811
    sub = email_subscriber("ana@example.com")
    [message] = deliver_update(publish(declare(title="Slow replies"), "Looking into it."))
    unsubscribe = link_in(message, "unsubscribe")

    page = client.get(unsubscribe)
    assert page.status_code == 200 and "Stop sending status updates to" in text_of(page)
    sub.refresh_from_db()
    assert sub.unsubscribed_at is None

    done = client.post(unsubscribe)
    assert done.status_code == 200 and "receives no more updates" in text_of(done)
    sub.refresh_from_db()
    assert sub.unsubscribed_at is not None

    mail.outbox.clear()
    assert deliver_update(publish(declare(title="Sign-in fails"), "Looking into it.")) == []


def test_one_click_unsubscribe_from_the_mail_client_works_without_csrf(declare, publish, web_chat):  # noqa: F811
    sub = email_subscriber("ana@example.com")
    [message] = deliver_update(publish(declare(title="Slow replies"), "Looking into it."))
    target = message.extra_headers["List-Unsubscribe"].strip("<>").replace("http://localhost:8000", "")

    # RFC 8058: the mail provider POSTs this body to the List-Unsubscribe URL, with no cookies.
    mail_client = Client(enforce_csrf_checks=True)
    response = mail_client.post(target, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")

    assert response.status_code == 200
    sub.refresh_from_db()
    assert sub.unsubscribed_at is not None


def test_an_address_can_subscribe_again_after_unsubscribing(post):
    old = email_subscriber("ana@example.com")
    subscriptions.unsubscribe(old.token)

    post(SUBSCRIBE, {"kind": "email", "email": "ana@example.com", "scope": "all"})

    new = Subscriber.objects.exclude(pk=old.pk).get()
    assert new.confirmed_at is None and new.token != old.token


def test_subscribing_an_existing_address_changes_nothing_and_mails_its_owner(post, web_chat, api_service):
    sub = email_subscriber("ana@example.com", all_components=False, components=[web_chat])

    response = post(
        SUBSCRIBE, {"kind": "email", "email": "ana@example.com", "scope": "some", "components": [api_service.pk]}
    )

    assert "Check your inbox" in text_of(response)  # the same answer: nobody learns who subscribed
    assert Subscriber.objects.count() == 1
    sub.refresh_from_db()
    assert list(sub.components.all()) == [web_chat]
    [message] = mail.outbox
    assert "already subscribed" in message.body
    assert f"/status/subscribe/manage/{sub.token}/" in message.body


def test_confirmation_mails_to_one_address_are_limited_to_one_an_hour(post):
    for _ in range(3):
        post(SUBSCRIBE, {"kind": "email", "email": "victim@example.com", "scope": "all"})
    assert len(mail.outbox) == 1


def test_a_bad_email_address_is_refused_with_a_clear_message_keeping_what_was_typed(post):
    response = post(SUBSCRIBE, {"kind": "email", "email": "ana@@example", "scope": "all"})

    assert response.status_code == 400
    page = text_of(response)
    assert "is not an e-mail address we can write to" in page
    assert 'value="ana@@example"' in page
    assert Subscriber.objects.count() == 0


def test_only_the_address_for_the_chosen_kind_is_checked(post, private_webhooks):  # noqa: F811
    response = post(
        SUBSCRIBE,
        {"kind": "webhook", "webhook_url": "http://127.0.0.1:9/hook", "email": "not-an-address", "scope": "all"},
    )
    assert response.status_code == 200
    assert Subscriber.objects.get().email == ""


def test_a_missing_address_is_refused(post):
    response = post(SUBSCRIBE, {"kind": "email", "email": "", "scope": "all"})
    assert response.status_code == 400
    assert "Enter the e-mail address" in text_of(response)


@pytest.mark.parametrize(
    "url,message",
    [
        ("ftp://example.com/hook", "starting with http:// or https://"),
        ("javascript:alert(1)", "starting with http:// or https://"),
        ("http://127.0.0.1:8080/hook", "This address cannot receive webhooks."),
        ("http://localhost/hook", "This address cannot receive webhooks."),
        ("http://10.1.2.3/hook", "This address cannot receive webhooks."),
        ("http://169.254.169.254/latest/meta-data", "This address cannot receive webhooks."),
        ("http://[::1]/hook", "This address cannot receive webhooks."),
        ("http://[::ffff:127.0.0.1]/hook", "This address cannot receive webhooks."),
        ("https://user:pw@203.0.113.9/hook", "Leave user names and passwords out"),
    ],
)
def test_a_bad_webhook_url_is_refused_with_a_clear_message(post, settings, url, message):
    settings.STATUSPAGE_ALLOW_PRIVATE_WEBHOOKS = False
    response = post(SUBSCRIBE, {"kind": "webhook", "webhook_url": url, "scope": "all"})

    assert response.status_code == 400
    page = text_of(response)
    assert message in page
    assert Subscriber.objects.count() == 0


def test_a_webhook_on_this_machine_is_allowed_when_the_setting_says_so(post, private_webhooks, webhook_receiver):  # noqa: F811
    receiver = webhook_receiver([200])
    response = post(SUBSCRIBE, {"kind": "webhook", "webhook_url": receiver.url, "scope": "all"})
    assert response.status_code == 200
    assert Subscriber.objects.get().webhook_url == receiver.url


def test_webhook_subscription_shows_its_secret_once_and_waits_for_verification(
    post,
    client,
    private_webhooks,  # noqa: F811
    webhook_receiver,  # noqa: F811
):
    receiver = webhook_receiver([200], echo=None)  # answers, but not with the challenge
    response = post(SUBSCRIBE, {"kind": "webhook", "webhook_url": receiver.url, "scope": "all"})

    assert response.status_code == 200
    sub = Subscriber.objects.get()
    assert sub.kind == "webhook" and not sub.is_active
    assert [r["json"]["type"] for r in receiver.requests][:1] == ["verification"]
    page = text_of(response)
    assert sub.secret in page and f"/status/subscribe/manage/{sub.token}/" in page
    assert "challenge" in page
    assert mail.outbox == []
    assert sub.secret not in text_of(client.get(f"/status/subscribe/manage/{sub.token}/"))


def test_the_subscribe_form_is_rate_limited_per_client_address(post, settings):
    settings.STATUSPAGE_SUBSCRIBE_RATE_LIMIT = 3
    settings.STATUSPAGE_SUBSCRIBE_RATE_WINDOW = 600
    for n in range(3):
        response = post(SUBSCRIBE, {"kind": "email", "email": f"a{n}@example.com", "scope": "all"})
        assert response.status_code == 200

    response = post(SUBSCRIBE, {"kind": "email", "email": "a9@example.com", "scope": "all"})

    assert response.status_code == 429
    assert response["Retry-After"] == "600"
    assert "Too many subscription requests" in text_of(response)
    assert "10 minutes" in text_of(response)
    assert Subscriber.objects.count() == 3
    other = post(SUBSCRIBE, {"kind": "email", "email": "b@example.com", "scope": "all"}, REMOTE_ADDR="198.51.100.7")
    assert other.status_code == 200  # another address is not affected


def test_the_rate_limit_counts_the_client_address_without_keeping_it_in_the_cache(post, clear_cache):
    response = post(SUBSCRIBE, {"kind": "email", "email": "a@example.com", "scope": "all"}, REMOTE_ADDR="198.51.100.7")

    assert response.status_code == 200
    keys = cache_keys()
    assert any("subscribe:addr:" in key for key in keys)
    assert not [key for key in keys if "198.51.100.7" in key]


def test_a_bot_filling_the_hidden_field_is_told_nothing_and_subscribes_nothing(post):
    response = post(SUBSCRIBE, {"kind": "email", "email": "bot@example.com", "scope": "all", "website": "spam"})
    assert response.status_code == 200
    assert Subscriber.objects.count() == 0 and mail.outbox == []


def test_choosing_some_without_picking_any_is_refused(post):
    response = post(SUBSCRIBE, {"kind": "email", "email": "ana@example.com", "scope": "some"})
    assert response.status_code == 400
    assert "Choose at least one component or group" in text_of(response)


def test_an_internal_service_cannot_be_chosen_even_by_a_forged_post(post, internal_service):  # noqa: F811
    response = post(
        SUBSCRIBE,
        {"kind": "email", "email": "eve@example.com", "scope": "some", "components": [internal_service.pk]},
    )
    assert response.status_code == 400
    assert Subscriber.objects.count() == 0


# What a subscriber follows --------------------------------------------------------------------


def test_component_subscriber_hears_about_their_component_only(declare, publish, api_service, web_chat):  # noqa: F811
    api_fan = email_subscriber("api@example.com", all_components=False, components=[api_service])
    everyone = email_subscriber("all@example.com")

    chat_update = publish(declare(title="Slow replies"), "Chat is slow.", affected={"web-chat": "degraded_performance"})
    told = deliver_update(chat_update)
    assert [m.to[0] for m in told] == ["all@example.com"]

    mail.outbox.clear()
    api_update = publish(declare(title="API errors"), "API errors.", affected={"public-api": "partial_outage"})
    told = deliver_update(api_update)
    assert sorted(m.to[0] for m in told) == ["all@example.com", "api@example.com"]
    assert len(notifications(api_fan)) == 1 and len(notifications(everyone)) == 2


def test_group_subscription_includes_components_added_to_the_group_later(declare, publish, api_service):  # noqa: F811
    platform_fan = email_subscriber("ops@example.com", all_components=False, groups=["Platform"])
    product_fan = email_subscriber("pm@example.com", all_components=False, groups=["Product"])
    make_service("Object storage", group="Platform")  # added after they subscribed

    comm = publish(declare(title="Uploads fail"), "Uploads fail.", affected={"object-storage": "major_outage"})
    told = deliver_update(comm)

    assert [m.to[0] for m in told] == ["ops@example.com"]
    assert notifications(product_fan) == []
    assert len(notifications(platform_fan)) == 1


def test_an_update_reaches_followers_of_the_incidents_public_impacts(declare, publish, api_service, web_chat):  # noqa: F811
    from incidents.models import Impact

    incident = declare(title="Slow replies")
    Impact.objects.create(incident=incident, service=web_chat, level="partial_outage")
    chat_fan = email_subscriber("chat@example.com", all_components=False, components=[web_chat])

    comm = publish(incident, "Still looking.")  # the update itself names no service

    assert [m.to[0] for m in deliver_update(comm)] == ["chat@example.com"]
    assert len(notifications(chat_fan)) == 1


def test_the_subscriber_changes_what_they_follow_with_their_link(client, api_service, web_chat):
    sub = email_subscriber("ana@example.com")
    url = f"/status/subscribe/manage/{sub.token}/"

    page = client.get(url)
    assert page.status_code == 200 and "Your subscription" in text_of(page)
    response = client.post(url, {"scope": "some", "components": [web_chat.pk], "groups": ["Platform"]})

    assert response.status_code == 200 and "Saved." in text_of(response)
    sub.refresh_from_db()
    assert (sub.all_components, sub.groups, list(sub.components.all())) == (False, ["Platform"], [web_chat])
    client.post(url, {"scope": "all"})
    sub.refresh_from_db()
    assert (sub.all_components, sub.groups, list(sub.components.all())) == (True, [], [])


def test_confidential_incidents_never_notify_subscribers(declare, publish, api_service):  # noqa: F811
    email_subscriber("ana@example.com")
    webhook_subscriber("https://203.0.113.9/hook")
    secret = declare(title="Database exposed", kind="data_exposure", confidential=True, severity=1)

    comm = publish(secret, "The logs bucket was public.", affected={"public-api": "major_outage"})

    assert deliver_update(comm) == []
    assert Notification.objects.count() == 0


def test_service_reverse_names_are_stable():
    assert reverse("statuspage:subscribe") == SUBSCRIBE
    assert reverse("statuspage:confirm", args=["t"]) == "/status/subscribe/confirm/t/"
    assert reverse("statuspage:unsubscribe", args=["t"]) == "/status/unsubscribe/t/"
    assert reverse("statuspage:manage", args=["t"]) == "/status/subscribe/manage/t/"


def test_confirming_an_unsubscribed_token_does_not_revive_it():
    sub = email_subscriber("ana@example.com", confirmed=False)
    subscriptions.unsubscribe(sub.token)
    assert subscriptions.confirm(sub.token) is None
    sub.refresh_from_db()
    assert sub.confirmed_at is None


def test_a_new_webhook_subscriber_is_unconfirmed_with_one_verification_request_queued():
    sub, created = subscriptions.subscribe(kind="webhook", webhook_url="https://203.0.113.9/hook")
    assert created and not sub.is_active
    [row] = notifications(sub)
    assert (row.key, row.status, row.payload["type"]) == (f"verification:{sub.pk}", "pending", "verification")
    assert len(row.payload["challenge"]) >= 32
