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
import ipaddress
import socket
import time
import urllib.error
import urllib.request
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
    """A webhook URL we will not call. `transient` when it may work later (DNS failure)."""

    def __init__(self, message, transient=False):
        super().__init__(message)
        self.transient = transient


def _is_public(ip):
    if getattr(ip, "ipv4_mapped", None):
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_url(url, allow_private=False):
    """Raise AddressError unless `url` is an http(s) URL whose host resolves only to public
    addresses. Checked when a target is saved and again before every call, because a name can
    be pointed at an internal address after it was accepted (SSRF)."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AddressError("Enter a web address starting with http:// or https://.")
    if parts.username or parts.password:
        raise AddressError("Leave user names and passwords out of the address; the payload is signed.")
    try:
        port = parts.port
    except ValueError as exc:
        raise AddressError("The port in this address is not a number between 1 and 65535.") from exc
    if allow_private:
        return
    host = parts.hostname
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = socket.getaddrinfo(host, port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise AddressError(f"The host name {host} does not resolve.", transient=True) from exc
        addresses = [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]
    if not addresses or not all(_is_public(ip) for ip in addresses):
        raise AddressError("This address points to a private or local network; use a public address.")


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


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect could lead to an internal address the URL check never saw.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def post(url, body, headers=None, timeout=TIMEOUT, allow_private=False):
    """POST `body` (bytes) as JSON to `url`, checked first. Returns None when delivered, else
    the Transient or Permanent outcome; never raises for a network or HTTP failure."""
    try:
        check_url(url, allow_private=allow_private)
    except AddressError as exc:
        return Transient(str(exc)) if exc.transient else Permanent(str(exc))
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above (http or https only)
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT, **(headers or {})},
    )
    try:
        with _opener.open(request, timeout=timeout) as response:
            response.read(1024)
            return None if 200 <= response.status < 300 else Permanent(f"HTTP {response.status}")
    except urllib.error.HTTPError as exc:
        return classify_status(exc.code)
    except TimeoutError:
        return Transient(f"No answer within {timeout} s.")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError):
            return Transient(f"No connection within {timeout} s.")
        return Transient(f"Connection failed: {reason}")
