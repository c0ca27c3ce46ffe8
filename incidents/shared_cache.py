"""The shared cache (Django's default cache: Redis with CACHE_URL) as something that may be down.

Nothing kept there is the only copy of anything: built status-page documents can be built again
from the database, and rate-limit counters are also counted by each process
(incidents.ratelimit). So a Redis outage must cost speed, never a 500 on the public page or the
sign-in. `run` calls the cache and, on a Redis error, answers a default instead; after a failure
the process leaves the cache alone for WARROOM_CACHE_RETRY_SECONDS, so an outage costs one
refused (or timed-out) connection per process every few seconds rather than one per call. The
outage is logged once when it starts and once when it ends, not per request.

Only Redis errors count: the embedded default keeps the cache in the database, and a database
error there is the database's outage, handled (or not) where the database is.
"""

import logging
import threading
import time

from django.conf import settings
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

CACHE_ERRORS = (RedisError,)


class _Breaker:
    """Whether this process believes the shared cache is up, and when to ask again."""

    def __init__(self):
        self.down_since = None  # time.monotonic() of the first failure of this outage
        self.retry_at = 0.0
        self.lock = threading.Lock()

    def available(self):
        if self.down_since is None:  # the common case, read without the lock
            return True
        with self.lock:
            return self.down_since is None or time.monotonic() >= self.retry_at

    def failed(self, exc):
        now = time.monotonic()
        with self.lock:
            first = self.down_since is None
            if first:
                self.down_since = now
            self.retry_at = now + settings.WARROOM_CACHE_RETRY_SECONDS
        if first:
            log.warning(
                "The shared cache is unreachable (%s: %s). Until it is back, each web process counts "
                "rate limits itself and builds status-page documents without it.",
                exc.__class__.__name__,
                exc,
            )

    def succeeded(self):
        if self.down_since is None:
            return
        with self.lock:
            down_since, self.down_since = self.down_since, None
        if down_since is not None:
            log.warning("The shared cache is reachable again after %.0f s.", time.monotonic() - down_since)

    def reset(self):
        with self.lock:
            self.down_since = None
            self.retry_at = 0.0


breaker = _Breaker()


def is_shared():
    """Whether the cache is Redis (CACHE_URL), shared by every web and worker process, rather
    than the database (the embedded default), where a cache command costs queries."""
    return not settings.CACHES["default"]["BACKEND"].endswith("db.DatabaseCache")


def run(function, *args, default=None):
    """function(*args), an operation on the shared cache; `default` if the cache is down (now,
    or recently enough that this process is not asking again yet)."""
    if not breaker.available():
        return default
    try:
        result = function(*args)
    except CACHE_ERRORS as exc:
        breaker.failed(exc)
        return default
    breaker.succeeded()
    return result
