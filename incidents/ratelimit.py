"""Rate limits of the sign-in and the public forms: attempts counted per key (client address,
username) in the shared cache, so every web process behind the load balancer counts alike.

Each process also counts the attempts it sees itself. While the shared cache is down
(incidents.shared_cache), that count decides, with the same limits: sign-in keeps working and
guessing stays limited, and attempts made just before the outage still count. With several web
processes each one counts only what reaches it, so an outage can at worst multiply the limit by
the number of processes, never lift it.
"""

import contextlib
import threading
import time
from collections import OrderedDict

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.core.exceptions import ValidationError
from django.utils.crypto import salted_hmac
from django.utils.ipv6 import clean_ipv6_address

from incidents import shared_cache


def client_address(request):
    # Behind a proxy, REMOTE_ADDR is the proxy; deployments that set BEHIND_PROXY trust the
    # X-Forwarded-For hop their proxy writes: the last one. Earlier hops are whatever the
    # client sent (a proxy that appends, like nginx's $proxy_add_x_forwarded_for, keeps them),
    # so trusting the first would let anyone dodge the limits by sending a new one each time.
    if settings.SECURE_PROXY_SSL_HEADER and request.headers.get("X-Forwarded-For"):
        return _written_one_way(request.headers["X-Forwarded-For"].split(",")[-1].strip())
    return _written_one_way(request.META.get("REMOTE_ADDR", ""))


def _written_one_way(address):
    """An IPv6 address as Django's forms write it (the unlock form's address field), so that
    2001:DB8:0::1 from a proxy and 2001:db8::1 typed by a person name the same client."""
    if ":" not in address:
        return address
    try:
        return clean_ipv6_address(address)
    except ValidationError:
        return address


def key_part(text):
    """A client address or a username as the rate limits' cache keys hold it: a digest keyed with
    SECRET_KEY, so a dump of the cache shows neither (and hashing every IPv4 address does not
    undo it), and a typed username that is long, holds spaces, control characters or any script
    still makes a key every cache accepts (memcached's rules, which Django's caches check: 250
    characters, no whitespace). The same text gives the same part in every web process."""
    return salted_hmac("warroom.ratelimit.key", text, algorithm="sha256").hexdigest()[:32]


class _LocalCounts:
    """Attempts per key seen by this process, each key in its own window from its first attempt
    (as the shared counters). Bounded: beyond `size` keys the oldest go first, and an attacker
    spreading guesses over many keys is stopped by the per-address key long before."""

    def __init__(self, size=50_000):
        self.size = size
        self.entries = OrderedDict()  # key -> [count, expires (monotonic)], oldest first
        self.lock = threading.Lock()

    def count(self, key, window):
        """Count one attempt; the number of attempts in the key's current window."""
        now = time.monotonic()
        with self.lock:
            entry = self.entries.get(key)
            if entry is None or entry[1] <= now:
                self.entries.pop(key, None)
                entry = self.entries[key] = [0, now + window]
                self._trim(now)
            entry[0] += 1
            return entry[0]

    def give_back(self, key):
        with self.lock:
            entry = self.entries.get(key)
            if entry is not None and entry[0] > 0:
                entry[0] -= 1

    def forget(self, key):
        with self.lock:
            self.entries.pop(key, None)

    def clear(self):
        with self.lock:
            self.entries.clear()

    def _trim(self, now):
        while self.entries:
            _key, (_count, expires) = next(iter(self.entries.items()))
            if expires > now and len(self.entries) <= self.size:
                break
            self.entries.popitem(last=False)


local_counts = _LocalCounts()


def _incr_renews_expiry():
    # Django's database cache increments with get + set, and the set starts the key's timeout
    # afresh: every attempt would renew the window, so a guesser could keep an account paused.
    # Redis and local memory keep the expiry on incr.
    return settings.CACHES["default"]["BACKEND"].endswith("db.DatabaseCache")


def _count_shared(key, window):
    if cache.add(key, 1, window):
        if _incr_renews_expiry():
            cache.set(f"{key}:ends", time.time() + window, window)
        return 1
    try:
        counted = cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, window)
        return 1
    if _incr_renews_expiry():
        ends = cache.get(f"{key}:ends")
        if ends is None or ends <= time.time():
            cache.delete(key)  # the window is over: this attempt opens a new one
            return _count_shared(key, window)
        cache.touch(key, ends - time.time())
    return counted


def _give_back_shared(key):
    with contextlib.suppress(ValueError):  # expired meanwhile: nothing to give back
        cache.decr(key)


def count(key, window):
    """Count one attempt against `key`; the number of attempts in its current window."""
    seen_here = local_counts.count(key, window)
    counted = shared_cache.run(_count_shared, key, window)
    if counted is None:  # the shared cache is down: this process's own count decides
        counted = seen_here
    return counted


def over_limit(key, limit, window):
    """Count one attempt against `key`; True once more than `limit` happened in the window."""
    return count(key, window) > limit


def _count_in_window(key, window):
    # The window's number is in the key, so nothing has to remember when it ends: a counter
    # that renews its expiry on every increment (the database cache does) is harmless, and a
    # request costs one increment (the first of a window, an add as well).
    bucket = f"{key}:{int(time.time() // window)}"
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        return _count_in_redis(backend, backend.make_and_validate_key(bucket), window * 2)
    try:
        return cache.incr(bucket)
    except ValueError:  # the window's first request (or its counter was evicted)
        if cache.add(bucket, 1, window * 2):
            return 1
        return cache.incr(bucket)


def _count_in_redis(backend, key, timeout):
    # One round trip: create the counter with its expiry if it is new, then increment it.
    # (Django's RedisCache.incr asks whether the key exists first: two.) Django's Redis cache
    # stores integers as they are, so cache.get and cache.incr read this counter as usual.
    client = backend._cache.get_client(key, write=True)
    pipeline = client.pipeline(transaction=True)
    pipeline.set(key, 0, ex=timeout, nx=True)
    pipeline.incr(key)
    return pipeline.execute()[1]


def over_rate(key, limit, window):
    """Count one request against `key` in fixed windows of `window` seconds (aligned on the
    clock); True once more than `limit` happened in the current one. Cheaper than over_limit
    (one cache operation per request instead of three or four) for limits on a hot path such as
    alert ingestion; a burst across a window's end may pass up to twice the limit, which is
    fine for a rate, not for counting password guesses (over_limit)."""
    seen_here = local_counts.count(key, window)
    counted = shared_cache.run(_count_in_window, key, window)
    if counted is None:  # the shared cache is down: this process's own count decides
        counted = seen_here
    return counted > limit


def give_back(key):
    """Undo one counted attempt (it turned out to be a successful sign-in)."""
    local_counts.give_back(key)
    shared_cache.run(_give_back_shared, key)


def reset(key):
    """Forget every attempt counted against `key` (an admin's unlock)."""
    local_counts.forget(key)
    shared_cache.run(cache.delete_many, [key, f"{key}:ends"])
