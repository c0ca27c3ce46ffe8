"""Outgoing webhooks, shared by every app that calls one (the status page's subscriber
webhooks, incident reminder webhooks): signing, the address check, one POST with a timeout,
and what an answer means (delivered, worth another try, never worth another try).

Signed requests carry

    X-Warroom-Timestamp: 1732818000
    X-Warroom-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
    X-Warroom-Delivery: <id of the outbox row>   (the same on a redelivery: use it to drop duplicates)

and receivers check them with `verify_signature`, which compares in constant time and refuses
a timestamp too far from now (a captured request cannot be replayed later).
"""

import hashlib
import hmac
import http.client
import ipaddress
import socket
import ssl
import time
from urllib.parse import urlsplit

TIMEOUT = 10  # seconds, for connect and for each read
SIGNATURE_TOLERANCE = 300  # seconds between the timestamp header and the receiver's clock
USER_AGENT = "Warroom-Webhook/1.0"


# Signatures --------------------------------------------------------------------------------


def _as_bytes(value):
    return value if isinstance(value, bytes) else str(value).encode()


def sign(secret, timestamp, body):
    """The X-Warroom-Signature header for a body sent at `timestamp` (Unix seconds)."""
    message = _as_bytes(str(timestamp)) + b"." + _as_bytes(body)
    return "sha256=" + hmac.new(_as_bytes(secret), message, hashlib.sha256).hexdigest()


def verify_signature(secret, timestamp, body, signature, tolerance=SIGNATURE_TOLERANCE, now=None):
    """For webhook receivers: True if `signature` (the X-Warroom-Signature header) signs `body`
    (the raw request body, bytes or str) at `timestamp` (the X-Warroom-Timestamp header) with
    the shared secret, and the timestamp is within `tolerance` seconds of now."""
    try:
        sent_at = int(timestamp)
    except (TypeError, ValueError):
        return False
    now = time.time() if now is None else now
    if abs(now - sent_at) > tolerance:
        return False
    if not isinstance(signature, str | bytes):
        return False
    return hmac.compare_digest(_as_bytes(sign(secret, sent_at, body)), _as_bytes(signature))


def signed_headers(secret, body, delivery_id, timestamp=None):
    timestamp = str(int(time.time()) if timestamp is None else int(timestamp))
    return {
        "X-Warroom-Timestamp": timestamp,
        "X-Warroom-Signature": sign(secret, timestamp, body),
        "X-Warroom-Delivery": str(delivery_id),
    }


# Addresses ---------------------------------------------------------------------------------


class AddressError(Exception):
    """A webhook URL we will not call. `transient` when it may work later (DNS failure);
    `about_network` when the refusal is about where the name points (private, does not
    resolve) rather than how the URL is written: a public form must not tell a stranger which
    (it would map our network and DNS for them)."""

    def __init__(self, message, transient=False, about_network=False):
        super().__init__(message)
        self.transient = transient
        self.about_network = about_network


# Forms of IPv6 that carry an IPv4 address a gateway may translate to: NAT64's well-known
# prefix (RFC 6052) and 6to4 (RFC 3056). Python counts both as global whatever they carry, so
# 64:ff9b::7f00:1 would reach 127.0.0.1 through a NAT64 gateway.
NAT64 = ipaddress.ip_network("64:ff9b::/96")
SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
TEREDO = ipaddress.ip_network("2001::/32")


def _is_public(ip):
    if ip.version == 6:
        if ip.ipv4_mapped:
            return _is_public(ip.ipv4_mapped)
        if ip in NAT64:
            return _is_public(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        if ip in SIX_TO_FOUR:
            return _is_public(ip.sixtofour)
        if ip in TEREDO:
            # A tunnel endpoint whose server and client addresses we cannot vouch for.
            return False
    # is_global leaves out private, loopback, link-local, reserved, unique-local and shared
    # (CGNAT, 100.64/10) ranges; multicast can be "global" and is refused apart.
    return ip.is_global and not ip.is_multicast


def _split(url):
    """(scheme, host, port, path with query) of a usable http(s) URL, or AddressError."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AddressError("Enter a web address starting with http:// or https://.")
    if parts.username or parts.password:
        raise AddressError("Leave user names and passwords out of the address; the payload is signed.")
    try:
        port = parts.port
    except ValueError as exc:
        raise AddressError("The port in this address is not a number between 1 and 65535.") from exc
    port = port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.scheme, parts.hostname, port, path


def resolve(host, port, allow_private=False):
    """The addresses to connect to for `host`, resolved once and each one checked. The caller
    connects to these and never resolves the name again: a second lookup could answer
    differently (DNS rebinding) and reach an address nobody checked."""
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise AddressError(f"The host name {host} does not resolve.", transient=True, about_network=True) from exc
        addresses = []
        for info in infos:
            ip = ipaddress.ip_address(info[4][0].split("%")[0])
            if ip not in addresses:
                addresses.append(ip)
    if not addresses:
        raise AddressError(f"The host name {host} does not resolve.", transient=True, about_network=True)
    if not allow_private and not all(_is_public(ip) for ip in addresses):
        raise AddressError(
            "This address points to a private or local network; use a public address.", about_network=True
        )
    return addresses


def check_url(url, allow_private=False):
    """Raise AddressError unless `url` is an http(s) URL whose host resolves only to public
    addresses. Checked when a target is saved; `post` checks again, on the very addresses it
    then connects to, because a name can be pointed at an internal address after it was
    accepted (SSRF)."""
    _scheme, host, port, _path = _split(url)
    if allow_private:
        return
    resolve(host, port)


# Outcomes ----------------------------------------------------------------------------------


class Transient(Exception):
    """Worth another try later: 5xx, 408, 429, timeouts, connection errors."""


class Permanent(Exception):
    """Never worth another try: a 4xx, a refused address. `gone` for 410: the receiver asked
    never to be called again."""

    def __init__(self, message, gone=False):
        super().__init__(message)
        self.gone = gone


def classify_status(code):
    """None (delivered), Transient or Permanent for an HTTP status code."""
    if 200 <= code < 300:
        return None
    if code == 410:
        return Permanent("HTTP 410 Gone: the receiver asked to stop.", gone=True)
    if code in (408, 429) or code >= 500:
        # 408 and 429 say "not now", not "never".
        return Transient(f"HTTP {code}")
    if 300 <= code < 400:
        return Permanent(f"HTTP {code}: redirects are not followed; use the final address.")
    return Permanent(f"HTTP {code}")


# Sending -----------------------------------------------------------------------------------

ANSWER_LIMIT = 4096  # bytes of an answer read (a verification echo); the rest is dropped


class _NoConnection(OSError):
    pass


def _connect(addresses, port, timeout):
    """A TCP connection to the first of `addresses` that answers. Sockets are made and
    connected by number: socket.create_connection would look the address up again."""
    error = None
    for ip in addresses:
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect((str(ip), port))
        except OSError as exc:
            sock.close()
            error = exc
            continue
        return sock
    tried = ", ".join(map(str, addresses))
    if isinstance(error, TimeoutError):
        raise _NoConnection(f"No connection within {timeout} s ({tried}).")
    raise _NoConnection(f"Connection failed ({tried}): {error}")


class _PinnedHTTP(http.client.HTTPConnection):
    """http.client with the name in the Host header and the connection to checked addresses."""

    def __init__(self, host, port, addresses, timeout):
        super().__init__(host, port, timeout=timeout)
        self.addresses = addresses

    def connect(self):
        self.sock = _connect(self.addresses, self.port, self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """As _PinnedHTTP, with TLS: SNI and the certificate check use the name, not the address."""

    def __init__(self, host, port, addresses, timeout):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self.addresses = addresses

    def connect(self):
        sock = _connect(self.addresses, self.port, self.timeout)
        try:
            self.sock = self._context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


def exchange(url, body, headers=None, timeout=TIMEOUT, allow_private=False):
    """POST `body` (bytes) as JSON to `url`; returns (outcome, answer): the outcome None when
    delivered, else Transient or Permanent, and the first ANSWER_LIMIT bytes of the answer's
    body. Never raises for a network or HTTP failure.

    The host is resolved once and every address checked, and the connection goes to those
    addresses (pinned) while Host and TLS use the name. Redirects are never followed: one
    could lead to an internal address the check never saw."""
    try:
        scheme, host, port, path = _split(url)
        addresses = resolve(host, port, allow_private=allow_private)
    except AddressError as exc:
        return (Transient(str(exc)) if exc.transient else Permanent(str(exc))), b""
    connection_class = _PinnedHTTPS if scheme == "https" else _PinnedHTTP
    conn = connection_class(host, port, addresses, timeout)
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT, **(headers or {})}
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        answer = response.read(ANSWER_LIMIT)
        return classify_status(response.status), answer
    except _NoConnection as exc:
        return Transient(str(exc)), b""
    except TimeoutError:
        return Transient(f"No answer within {timeout} s."), b""
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return Transient(f"Connection failed: {exc}"), b""
    finally:
        conn.close()


def post(url, body, headers=None, timeout=TIMEOUT, allow_private=False):
    """POST `body` (bytes) as JSON to `url`, checked first (see `exchange`). Returns None when
    delivered, else the Transient or Permanent outcome; never raises for a network or HTTP
    failure."""
    return exchange(url, body, headers, timeout=timeout, allow_private=allow_private)[0]
