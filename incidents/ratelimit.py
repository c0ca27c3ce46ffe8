"""Rate limits of the sign-in and the public forms: attempts counted per key (client address,
username) in the shared cache, so every web process behind the load balancer counts alike."""

import contextlib

from django.conf import settings
from django.core.cache import cache


def client_address(request):
    # Behind a proxy, REMOTE_ADDR is the proxy; deployments that set BEHIND_PROXY trust the
    # X-Forwarded-For hop their proxy writes: the last one. Earlier hops are whatever the
    # client sent (a proxy that appends, like nginx's $proxy_add_x_forwarded_for, keeps them),
    # so trusting the first would let anyone dodge the limits by sending a new one each time.
    if settings.SECURE_PROXY_SSL_HEADER and request.headers.get("X-Forwarded-For"):
        return request.headers["X-Forwarded-For"].split(",")[-1].strip()
    return request.META.get("REMOTE_ADDR", "")


def over_limit(key, limit, window):
    """Count one attempt against `key`; True once more than `limit` happened in the window."""
    added = cache.add(key, 1, window)
    if added:
        return False
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, window)
        return False
    return count > limit


def give_back(key):
    """Undo one counted attempt (it turned out to be a successful sign-in)."""
    with contextlib.suppress(ValueError):  # expired meanwhile: nothing to give back
        cache.decr(key)
