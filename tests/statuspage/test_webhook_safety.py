"""Webhooks cannot be turned against our network or third parties (issue #16): the address is
resolved once and the connection goes to the address that was checked (DNS rebinding), IPv6
forms that carry a private IPv4 address are refused, the public form does not say why an
address is unusable, and a webhook subscriber proves it controls its endpoint (a challenge it
must echo) before anything else is sent to it."""

import json
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time

import pytest
from django.core.cache import cache
from django.utils import timezone

from incidents import webhooks
from statuspage import delivery, subscriptions, tasks
from statuspage.models import Notification, Subscriber
from statuspage.views_subscribe import rate_limit_key
from tests.statuspage.page_factories import approver, author, publish  # noqa: F401
from tests.statuspage.subscription_factories import notifications, private_webhooks  # noqa: F401
from tests.webhook_receiver import webhook_receiver  # noqa: F401

pytestmark = pytest.mark.django_db

PUBLIC = "93.184.215.14"  # example.com's address: global, never a private range


class RebindingResolver:
    """A resolver under an attacker's control: a public address for the first lookup (the
    check), 127.0.0.1 for every later one (the connection)."""

    def __init__(self):
        self.lookups = []

    def __call__(self, host, port, *args, **kwargs):
        self.lookups.append(host)
        address = PUBLIC if len(self.lookups) == 1 else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]


class RecordingSocket(socket.socket):
    """Records where a connection is made, and goes nowhere (no traffic leaves the test)."""

    connections = []

    def connect(self, address):
        RecordingSocket.connections.append(address)
        raise ConnectionRefusedError("refused by the test")


def pin_to_loopback(monkeypatch):
    """Every name resolves to 127.0.0.1 (where the test's receivers listen)."""

    def resolver(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolver)


# Pinning ----------------------------------------------------------------------------------


def test_a_rebinding_resolver_cannot_make_a_webhook_reach_loopback(webhook_receiver, monkeypatch):  # noqa: F811
    receiver = webhook_receiver([200])
    port = receiver.server.server_address[1]
    resolver = RebindingResolver()
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    RecordingSocket.connections = []
    monkeypatch.setattr(socket, "socket", RecordingSocket)

    outcome = webhooks.post(f"http://hooks.attacker.example:{port}/x", b"{}", timeout=2)

    assert receiver.requests == []
    assert resolver.lookups == ["hooks.attacker.example"]  # resolved once, never again
    assert RecordingSocket.connections == [(PUBLIC, port)]  # to the checked address
    assert isinstance(outcome, webhooks.Transient) and PUBLIC in str(outcome)


def test_the_connection_sends_the_name_in_the_host_header(webhook_receiver, monkeypatch):  # noqa: F811
    receiver = webhook_receiver([200])
    port = receiver.server.server_address[1]
    pin_to_loopback(monkeypatch)

    outcome = webhooks.post(f"http://hooks.example.org:{port}/hooks/status?x=1", b"{}", allow_private=True)

    assert outcome is None
    [request] = receiver.requests
    assert request["headers"]["host"] == f"hooks.example.org:{port}"


# Addresses --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
        "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:a00:1::1",  # 6to4 of 10.0.0.1
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",  # Teredo
        "100.64.0.1",  # carrier-grade NAT
        "fd00::1",  # unique-local
        "::ffff:10.0.0.1",  # IPv4-mapped
    ],
)
def test_ipv6_and_shared_forms_of_private_addresses_are_refused(host):
    with pytest.raises(webhooks.AddressError, match="private or local"):
        webhooks.check_url(f"http://[{host}]/hook" if ":" in host else f"http://{host}/hook")


def test_a_name_resolving_to_a_nat64_form_of_loopback_is_refused(monkeypatch):
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, port, *a, **k: [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("64:ff9b::7f00:1", port, 0, 0))],
    )
    outcome = webhooks.post("https://hooks.example.org/x", b"{}")
    assert isinstance(outcome, webhooks.Permanent) and "private or local" in str(outcome)


@pytest.mark.parametrize("host", ["64:ff9b::5db8:d70e", "2002:5db8:d70e::1"])  # 93.184.215.14 inside
def test_nat64_and_6to4_forms_of_a_public_address_are_allowed(host):
    webhooks.check_url(f"http://[{host}]/hook")


# The public form --------------------------------------------------------------------------


def _form_error(client, url):
    response = client.post("/status/subscribe/", {"kind": "webhook", "webhook_url": url, "scope": "all"})
    assert response.status_code == 400
    return re.findall(r'<p class="error" role="alert">(.*?)</p>', response.content.decode(), re.S)


def test_the_public_form_does_not_say_whether_a_name_resolves_or_is_private(client, settings, monkeypatch):
    settings.STATUSPAGE_ALLOW_PRIVATE_WEBHOOKS = False

    def resolver(host, port, *args, **kwargs):
        if host == "nowhere.example":
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    cache.delete(rate_limit_key("127.0.0.1"))

    unresolved = _form_error(client, "https://nowhere.example/hook")
    private = _form_error(client, "https://intranet.example/hook")
    literal = _form_error(client, "http://127.0.0.1:8080/hook")

    assert unresolved == private == literal == ["This address cannot receive webhooks."]
    assert Subscriber.objects.count() == 0


# Verification -----------------------------------------------------------------------------


def subscribe_webhook(url):
    """Subscribe as the public form does; the verification request is queued, not sent."""
    sub, _ = subscriptions.subscribe(kind="webhook", webhook_url=url)
    [row] = notifications(sub)
    return sub, row


def deliver_pending():
    return delivery.deliver(Notification.objects.filter(status="pending").values_list("pk", flat=True))


@pytest.mark.parametrize("answer", ["plain", "json"])
def test_a_webhook_subscriber_is_confirmed_after_echoing_the_challenge(
    answer,
    webhook_receiver,  # noqa: F811
    private_webhooks,  # noqa: F811
):
    receiver = webhook_receiver([200])
    sub, row = subscribe_webhook(receiver.url)
    receiver.secret = sub.secret
    challenge = row.payload["challenge"]
    if answer == "json":
        receiver.echo = json.dumps({"challenge": challenge})

    deliver_pending()

    [request] = receiver.requests
    assert request["verified"]  # signed like every delivery
    assert request["json"]["type"] == "verification" and request["json"]["challenge"] == challenge
    sub.refresh_from_db()
    row.refresh_from_db()
    assert sub.is_active and row.status == "sent"


def test_webhooks_verified_in_one_batch_each_get_their_own_challenge(webhook_receiver, private_webhooks):  # noqa: F811
    first, second = webhook_receiver([200]), webhook_receiver([200])
    first_sub, first_row = subscribe_webhook(first.url)
    second_sub, second_row = subscribe_webhook(second.url)

    deliver_pending()

    assert first.requests[0]["json"]["challenge"] == first_row.payload["challenge"]
    assert second.requests[0]["json"]["challenge"] == second_row.payload["challenge"]
    assert first_row.payload["challenge"] != second_row.payload["challenge"]
    assert Subscriber.objects.filter(confirmed_at__isnull=False).count() == 2


def test_a_webhook_subscriber_stays_unconfirmed_when_the_echo_is_wrong(webhook_receiver, private_webhooks):  # noqa: F811
    receiver = webhook_receiver([200], echo="not the challenge")
    sub, row = subscribe_webhook(receiver.url)

    result = deliver_pending()

    row.refresh_from_db()
    sub.refresh_from_db()
    assert (row.status, row.attempts, sub.confirmed_at) == ("pending", 1, None)
    assert "did not echo the challenge" in row.last_error and result.retry

    Notification.objects.filter(pk=row.pk).update(attempts=7, next_attempt_at=timezone.now())
    deliver_pending()

    row.refresh_from_db()
    sub.refresh_from_db()
    assert (row.status, row.attempts, sub.confirmed_at) == ("failed", 8, None)
    assert len(receiver.requests) == 2


def test_a_webhook_subscriber_receives_nothing_before_verifying(
    declare,
    publish,  # noqa: F811
    web_chat,
    webhook_receiver,  # noqa: F811
    private_webhooks,  # noqa: F811
):
    receiver = webhook_receiver([200], echo=None)  # a stranger's URL: answers, but not the challenge
    sub, verification = subscribe_webhook(receiver.url)
    deliver_pending()
    incident = declare(title="Chat replies time out", severity=2)
    first = publish(incident, "We are looking into slow replies.", affected={"web-chat": "partial_outage"})

    tasks.after_publication(first.pk)
    deliver_pending()

    assert [r["json"]["type"] for r in receiver.requests] == ["verification"]
    assert [n.payload["type"] for n in notifications(sub)] == ["verification"]

    # The owner deploys the receiver; the retry is answered with the challenge.
    receiver.echo = True
    Notification.objects.filter(pk=verification.pk).update(next_attempt_at=timezone.now())
    deliver_pending()
    second = publish(incident, "Replies are fast again.", status="resolved")
    tasks.after_publication(second.pk)
    deliver_pending()

    sub.refresh_from_db()
    assert sub.is_active
    assert [r["json"].get("type", "update") for r in receiver.requests] == ["verification", "verification", "update"]
    assert receiver.requests[-1]["json"]["incident"]["name"] == "Chat replies time out"


def test_an_update_written_for_an_unverified_webhook_is_not_sent(webhook_receiver, private_webhooks):  # noqa: F811
    receiver = webhook_receiver([200], echo=None)
    sub, verification = subscribe_webhook(receiver.url)
    Notification.objects.filter(pk=verification.pk).update(status="failed")
    update = Notification.objects.create(subscriber=sub, key="update:1", payload={"page": {"id": "p"}})

    deliver_pending()

    update.refresh_from_db()
    assert update.status == "failed" and "verification" in update.last_error
    assert receiver.requests == []


def test_the_confirmation_link_does_not_confirm_a_webhook(client):
    sub, _ = subscribe_webhook("https://203.0.113.9/hook")  # whoever subscribed it knows the token

    response = client.post(f"/status/subscribe/confirm/{sub.token}/")

    assert response.status_code == 404
    assert subscriptions.confirm(sub.token) == sub
    sub.refresh_from_db()
    assert sub.confirmed_at is None


# TLS on a pinned connection ---------------------------------------------------------------


@pytest.fixture
def tls_receiver(tmp_path, monkeypatch):
    """tls_receiver(name) -> (port, seen): an HTTPS server on 127.0.0.1 with a certificate for
    `name`, trusted through SSL_CERT_FILE; `seen` collects the SNI name and the Host header."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    servers = []

    def _start(name):
        cert, key = tmp_path / f"{name}.pem", tmp_path / f"{name}.key"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "1"]
            + ["-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name}"],
            check=True,
            capture_output=True,
        )
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        seen = []
        context.sni_callback = lambda _sock, server_name, _ctx: seen.append(server_name)
        server = socket.create_server(("127.0.0.1", 0))
        servers.append(server)

        def serve():
            conn, _ = server.accept()
            try:
                tls = context.wrap_socket(conn, server_side=True)
                data = b""
                while b"\r\n\r\n" not in data:
                    data += tls.recv(4096)
                seen.append(re.search(rb"\r\nHost: ([^\r]+)", data).group(1).decode())
                tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                time.sleep(0.2)
                tls.close()
            except (OSError, ssl.SSLError):
                conn.close()

        threading.Thread(target=serve, daemon=True).start()
        return server.getsockname()[1], seen

    yield _start
    for server in servers:
        server.close()


def test_https_to_a_pinned_address_uses_the_name_for_sni_and_the_certificate(tls_receiver, monkeypatch):
    port, seen = tls_receiver("hooks.example.org")
    pin_to_loopback(monkeypatch)

    outcome, answer = webhooks.exchange(f"https://hooks.example.org:{port}/x", b"{}", allow_private=True, timeout=5)

    assert (outcome, answer) == (None, b"ok")
    assert seen == ["hooks.example.org", f"hooks.example.org:{port}"]


def test_https_refuses_a_certificate_for_another_name(tls_receiver, monkeypatch):
    port, seen = tls_receiver("other.example.org")
    pin_to_loopback(monkeypatch)

    outcome = webhooks.post(f"https://hooks.example.org:{port}/x", b"{}", allow_private=True, timeout=5)

    assert isinstance(outcome, webhooks.Transient) and "certificate" in str(outcome).lower()
