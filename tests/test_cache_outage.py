"""Redis, as the shared cache, goes down and comes back (issue #15): the public status page keeps
answering with current content, sign-in works, and the rate limits still hold.

Each test runs its own redis-server (tests/private_redis.py) as the cache and stops it; the
suite's shared Redis is never touched.
"""

import logging

import pytest
from django.test import Client

from incidents import shared_cache
from incidents.ratelimit import local_counts
from statuspage import views
from statuspage.models import Subscriber
from tests.private_redis import PrivateRedis
from tests.statuspage.page_factories import approver, author, publish  # noqa: F401
from tests.statuspage.test_public_pages import PAGE_QUERIES, VERSION_QUERIES

pytestmark = pytest.mark.django_db

PAGES = ("/status/", "/status/api/v2/summary.json", "/status/?lang=zh-hans")


def redis_cache(url):
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
        }
    }


def forget_process_state():
    """What a process remembers of the cache: built pages, its own counts, the outage."""
    views.clear_cache()
    local_counts.clear()
    shared_cache.breaker.reset()


@pytest.fixture
def redis(settings):
    """A private Redis as the default cache; every call after a failure asks it again (no wait)."""
    server = PrivateRedis()
    server.start()
    settings.CACHES = redis_cache(server.url())
    settings.WARROOM_CACHE_RETRY_SECONDS = 0
    forget_process_state()
    yield server
    server.stop()
    forget_process_state()


@pytest.fixture
def page(declare, publish, web_chat):  # noqa: F811
    incident = declare(title="Chat replies time out", severity=2)
    publish(
        incident,
        "We are looking into slow replies.",
        affected={"web-chat": "partial_outage"},
        translations={"zh-hans": "我们正在调查回复变慢的问题。"},
    )
    return incident


def body(response):
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


def test_status_page_answers_with_current_content_while_the_cache_is_down(redis, page, publish):  # noqa: F811
    client = Client()
    for path in PAGES:
        body(client.get(path))
    assert redis.keys("*statuspage:*")  # the pages went through the shared cache

    redis.stop()
    publish(page, "A fix is rolling out.", status="identified", translations={"zh-hans": "修复正在上线。"})

    assert "A fix is rolling out." in body(client.get("/status/"))
    assert "A fix is rolling out." in body(client.get("/status/api/v2/summary.json"))
    assert "修复正在上线。" in body(client.get("/status/?lang=zh-hans"))
    # Built once during the outage, then served from this process's memo.
    assert "A fix is rolling out." in body(client.get("/status/"))


def test_status_page_uses_the_cache_again_once_redis_is_back(redis, page, django_assert_max_num_queries):
    client = Client()
    body(client.get("/status/"))
    redis.stop()
    views.clear_cache()  # not built in this process yet: the cache is asked, and is down
    body(client.get("/status/"))
    assert shared_cache.breaker.down_since is not None

    redis.start()  # empty: no persistence
    views.clear_cache()  # as a process that has not built the page yet
    body(client.get("/status/"))
    assert redis.keys("*statuspage:*")

    views.clear_cache()
    # Only the content version's queries (and the status pages, as in a fresh process): the page
    # itself comes from Redis, not rebuilt.
    with django_assert_max_num_queries(VERSION_QUERIES + PAGE_QUERIES):
        assert "We are looking into slow replies." in body(client.get("/status/"))


def test_a_process_leaves_a_down_cache_alone_until_the_retry_time(redis, page, settings):
    settings.WARROOM_CACHE_RETRY_SECONDS = 60
    client = Client()
    redis.stop()
    body(client.get("/status/"))

    redis.start()
    views.clear_cache()
    body(client.get("/status/"))
    assert redis.keys() == []  # not asked again yet: an outage costs no connection per request

    shared_cache.breaker.retry_at = 0.0  # the retry time has come
    views.clear_cache()
    body(client.get("/status/"))
    assert redis.keys("*statuspage:*")


def test_user_signs_in_while_the_cache_is_down_and_guessing_stays_limited(commander, settings, redis):
    settings.LOGIN_RATE_LIMIT = 3
    settings.LOGIN_RATE_WINDOW = 60
    redis.stop()

    signed_in = Client()
    response = signed_in.post("/login/", {"username": "cmdr", "password": "pw-cmdr"})
    assert response.status_code == 302
    assert signed_in.get("/incidents/").status_code == 200

    guesser = Client()
    for _ in range(3):
        assert guesser.post("/login/", {"username": "cmdr", "password": "guess"}).status_code == 200
    assert guesser.post("/login/", {"username": "cmdr", "password": "guess"}).status_code == 429
    assert guesser.post("/login/", {"username": "cmdr", "password": "pw-cmdr"}).status_code == 429
    assert "_auth_user_id" not in guesser.session


def test_guesses_made_just_before_the_outage_still_count(commander, settings, redis):
    settings.LOGIN_RATE_LIMIT = 3
    settings.LOGIN_RATE_WINDOW = 60
    guesser = Client()
    for _ in range(2):
        assert guesser.post("/login/", {"username": "cmdr", "password": "guess"}).status_code == 200

    redis.stop()

    assert guesser.post("/login/", {"username": "cmdr", "password": "guess"}).status_code == 200
    assert guesser.post("/login/", {"username": "cmdr", "password": "guess"}).status_code == 429


def test_subscribe_form_answers_while_the_cache_is_down_and_stays_limited(redis, settings):
    settings.STATUSPAGE_SUBSCRIBE_RATE_LIMIT = 1
    redis.stop()
    client = Client()

    assert client.get("/status/subscribe/").status_code == 200
    response = client.post("/status/subscribe/", {"kind": "email", "email": "ana@example.com", "scope": "all"})
    assert response.status_code == 200
    response = client.post("/status/subscribe/", {"kind": "email", "email": "bo@example.com", "scope": "all"})
    assert response.status_code == 429
    assert list(Subscriber.objects.values_list("email", flat=True)) == ["ana@example.com"]


def test_an_outage_is_logged_once_when_it_starts_and_once_when_it_ends(redis, page, commander, caplog):
    caplog.set_level(logging.WARNING, logger="incidents.shared_cache")
    client = Client()
    redis.stop()
    for _ in range(3):
        body(client.get("/status/api/v2/summary.json"))
        client.post("/login/", {"username": "cmdr", "password": "guess"})
    redis.start()
    views.clear_cache()
    body(client.get("/status/api/v2/summary.json"))

    messages = [r.getMessage() for r in caplog.records if r.name == "incidents.shared_cache"]
    assert len(messages) == 2, messages
    assert messages[0].startswith("The shared cache is unreachable (ConnectionError")
    assert messages[1].startswith("The shared cache is reachable again")


def test_readyz_reports_a_down_cache_and_stays_ready(client, settings, db):
    settings.CACHES = redis_cache("redis://127.0.0.1:1/0")  # nothing listens on port 1
    response = client.get("/readyz")
    assert response.status_code == 200
    checks = response.json()
    assert (checks["status"], checks["database"], checks["cache"]) == ("ok", "ok", "down")
