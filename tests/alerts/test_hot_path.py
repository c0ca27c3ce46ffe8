"""The ingestion endpoint's hot path (issue #11: ingestion at >= 0.5x of /healthz's request
rate): a delivery is answered by a plain Django view, ahead of the staff middleware
(incidents/alerts/middleware.py), with the same answers and headers as through the whole stack,
and the OpenAPI schema still describes it."""

import hashlib
import hmac
import json
import time

import pytest
import redis
from django.conf import settings
from django.core.cache import cache
from django.test import Client
from redis.connection import AbstractConnection

from incidents import shared_cache
from incidents.alerts import services as alerts
from incidents.alerts.models import AlertDelivery
from tests.alerts.conftest import alertmanager_payload, am_alert
from tests.private_redis import PrivateRedis
from tests.test_cache_outage import forget_process_state, redis_cache

pytestmark = pytest.mark.django_db

EARLY = "incidents.alerts.middleware.AlertIngestMiddleware"


def post(client, source, body, secret=None, path_secret=False, **headers):
    secret = source.secret if secret is None else secret
    url = f"/api/v1/alerts/{source.pk}/" + (f"{secret}/" if path_secret else "")
    if not path_secret:
        headers.setdefault("authorization", f"Bearer {secret}")
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(url, data=data, content_type="application/json", headers=headers)


def test_a_delivery_reads_no_session_and_runs_no_staff_middleware(source):
    client = Client()
    client.force_login(source.owner)  # even a browser with a session gets the early answer
    response = post(client, source, alertmanager_payload())
    assert response.status_code == 202, response.content
    request = response.wsgi_request
    assert not hasattr(request, "session") and not hasattr(request, "user")
    assert "Cookie" not in response.get("Vary", "")
    assert not response.cookies
    assert AlertDelivery.objects.count() == 1


def without_cookie(response):
    """The headers, but `Cookie` in Vary: the whole stack's session middleware looks at the
    session (SessionLifetimeMiddleware), the early answer reads no cookie at all, and both
    answers are `private, no-store`."""
    headers = dict(response.items())
    vary = [v for v in headers.pop("Vary", "").split(", ") if v and v != "Cookie"]
    return headers | ({"Vary": ", ".join(vary)} if vary else {})


def deliveries(source, paused_source, signed_source):
    """(label, source, body, kwargs) for every answer of the endpoint."""
    good = alertmanager_payload()
    yield "stored", source, good, {}
    yield "secret in path", source, good, {"path_secret": True}
    yield "chinese", source, good, {"accept-language": "zh-Hans"}
    yield "wrong secret", source, good, {"secret": "nope"}
    yield "no secret", source, good, {"authorization": ""}
    yield "not json", source, b"{nope", {}
    yield "wrong format", source, {"alerts": [{"labels": 3}]}, {}
    yield "too large", source, alertmanager_payload(*[am_alert(fingerprint=f"f{i}") for i in range(40)]), {}
    yield "paused", paused_source, good, {"accept-language": "zh-Hans"}
    yield "unsigned", signed_source, good, {}
    body = json.dumps(good).encode()
    signature = hmac.new(signed_source.key.encode(), body, hashlib.sha256).hexdigest()
    yield "signed", signed_source, body, {"x-warroom-signature": f"sha256={signature}"}
    yield "empty key", source, good, {"idempotency-key": '""'}
    yield "key", source, good, {"idempotency-key": "k-1"}
    yield "key again", source, good, {"idempotency-key": "k-1"}
    yield "key reused", source, alertmanager_payload(am_alert(fingerprint="f9")), {"idempotency-key": "k-1"}


def test_answered_early_or_not_every_answer_has_the_same_status_headers_and_body(
    source, commander, settings, clear_cache
):
    """The early answer leaves out only work: with AlertIngestMiddleware taken out of
    MIDDLEWARE, the same requests get the same status, headers (security, caching, language;
    only `Vary: Cookie` is left out, as no cookie is read) and body (but the delivery's id)."""
    settings.WARROOM_ALERT_MAX_BYTES = 4000
    paused, secret, _key = alerts.create_source(commander, name="Paused", kind="alertmanager")
    paused.secret = secret
    alerts.set_paused(paused, commander, True)
    signed, secret, key = alerts.create_source(commander, name="Signed", kind="alertmanager", require_signature=True)
    signed.secret, signed.key = secret, key
    early = Client()
    early.get("/healthz")  # loads the middleware as it is now
    everything = list(settings.MIDDLEWARE)
    settings.MIDDLEWARE = [m for m in everything if m != EARLY]
    assert len(settings.MIDDLEWARE) == len(everything) - 1
    whole = Client()
    statuses = set()
    for label, to, body, kwargs in deliveries(source, paused, signed):
        kwargs = dict(kwargs)
        options = {k: kwargs.pop(k) for k in ("secret", "path_secret") if k in kwargs}
        a = post(early, to, body, **options, **kwargs)
        if label == "key":  # the second client's first use of the key must not be a replay
            kwargs["idempotency-key"] = "k-2"
        b = post(whole, to, body, **options, **kwargs)
        assert not hasattr(a.wsgi_request, "session") and hasattr(b.wsgi_request, "session"), label
        assert a.status_code == b.status_code, (label, a.content, b.content)
        assert a["Content-Length"] == str(len(a.content)), label
        a_headers, b_headers = dict(a.items()), without_cookie(b)
        if a.status_code == 202:  # the delivery ids differ, and so may their length
            del a_headers["Content-Length"], b_headers["Content-Length"]
        assert sorted(a_headers.items()) == sorted(b_headers.items()), label
        a_body, b_body = a.json(), b.json()
        if a.status_code == 202:
            a_body.pop("delivery"), b_body.pop("delivery")
        assert a_body == b_body, label
        statuses.add(a.status_code)
    assert statuses == {202, 400, 401, 413, 422, 423}
    assert early.post("/api/v1/alerts/1/", headers={"host": "evil.example"}).status_code == 400


def test_other_methods_are_refused_with_the_method_allowed():
    response = Client().get("/api/v1/alerts/1/")
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert "GET" in response.json()["detail"]


def test_the_openapi_schema_still_describes_both_ways_of_posting_a_delivery(client):
    schema = client.get("/api/schema/", headers={"accept": "application/json"}).json()
    bearer = schema["paths"]["/api/v1/alerts/{source_id}/"]["post"]
    in_path = schema["paths"]["/api/v1/alerts/{source_id}/{secret}/"]["post"]
    assert in_path["operationId"] == "alerts_ingest_secret_in_path"
    for operation in (bearer, in_path):
        assert operation["tags"] == ["alerts"]
        assert {"202", "401", "409", "413", "422", "423", "429"} <= set(operation["responses"])
        assert {"Idempotency-Key", "X-Warroom-Signature"} <= {p["name"] for p in operation["parameters"]}


@pytest.fixture
def private_redis(settings):
    """A redis-server of this test's own as the shared cache (tests/private_redis.py)."""
    server = PrivateRedis()
    server.start()
    settings.CACHES = redis_cache(server.url())
    forget_process_state()
    yield server
    server.stop()
    forget_process_state()


@pytest.fixture
def round_trips(monkeypatch):
    """Counts what redis-py sends to any Redis server: one call per round trip (a pipeline's
    commands go out together). The real method still sends them."""
    sent = []
    real = AbstractConnection.send_packed_command

    def counted(connection, command, check_health=True):
        sent.append(command)
        return real(connection, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counted)
    return sent


def counter(server, source):
    """The source's count in the current window, as the private Redis holds it."""
    window = int(time.time() // settings.WARROOM_ALERT_RATE_WINDOW)
    client = redis.Redis.from_url(server.url())
    try:
        found = client.keys(f"*{alerts.rate_key(source.pk)}:{window}")
        return int(client.get(found[0])) if found else 0
    finally:
        client.close()


def mark_exists(server, source, delete=False):
    client = redis.Redis.from_url(server.url())
    try:
        found = client.keys(f"*{alerts.routing_queued_key(source.pk)}")
        if delete and found:
            client.delete(*found)
        return bool(found)
    finally:
        client.close()


def wait_until(condition, seconds=5):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_burst_of_deliveries_costs_one_redis_round_trip_per_interval(
    source,
    private_redis,
    round_trips,
    django_capture_on_commit_callbacks,
    settings,
):
    """The first delivery is counted, and its routing task queued, at once; those that follow
    it within the interval cost no round trip each: the flusher counts them together at its
    end. (An interval of 1.5 s here, so that a slow test machine posts the five within it.)"""
    settings.WARROOM_ALERT_COUNT_MS = 1500
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, source, alertmanager_payload()).status_code == 202  # queues the routing task
    assert counter(private_redis, source) == 1
    assert mark_exists(private_redis, source)
    round_trips.clear()
    for n in range(5):
        with django_capture_on_commit_callbacks(execute=True):
            assert post(client, source, alertmanager_payload(am_alert(fingerprint=f"f{n}"))).status_code == 202
    assert AlertDelivery.objects.count() == 6
    wait_until(lambda: counter(private_redis, source) == 6)
    # The timer's one round trip (its script counts the five); the task queued first routes them.
    # (What the test's own client sent to look, and connections' handshakes, are left out.)
    sent = [b"".join(command) for command in round_trips]
    assert len([c for c in sent if b"EVALSHA" in c]) == 1
    assert not [c for c in sent if b"INCR" in c or b"MULTI" in c]


def test_deliveries_counted_later_get_a_routing_task_when_the_first_one_ran_already(
    source,
    private_redis,
    django_capture_on_commit_callbacks,
):
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, source, alertmanager_payload()).status_code == 202
    mark_exists(private_redis, source, delete=True)  # the task ran: route_source lifts the mark before it looks
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, source, alertmanager_payload(am_alert(fingerprint="f2"))).status_code == 202
    assert not mark_exists(private_redis, source)  # not counted yet
    wait_until(lambda: mark_exists(private_redis, source))  # counted by the timer, which queued a task
    assert counter(private_redis, source) == 2


def test_deliveries_counted_by_other_processes_close_the_source_here_after_one_more(
    source,
    private_redis,
    settings,
    django_capture_on_commit_callbacks,
    time_machine,
):
    """Each process checks a request against the count it last heard from Redis: once others
    filled the window, it lets at most one more delivery in, hears the count, and refuses."""
    settings.WARROOM_ALERT_RATE_LIMIT, settings.WARROOM_ALERT_RATE_WINDOW = 5, 60
    time_machine.move_to("2026-03-02T09:00:10Z", tick=False)
    window = int(time.time() // 60)
    cache.set(f"{alerts.rate_key(source.pk)}:{window}", 5, 120)  # five deliveries elsewhere
    client, answers = Client(), []
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            answers.append(post(client, source, alertmanager_payload()))
    assert [a.status_code for a in answers] == [202, 429, 429]
    assert answers[1]["Retry-After"] == "60"
    assert AlertDelivery.objects.count() == 1
    time_machine.move_to("2026-03-02T09:01:00Z", tick=False)  # the next window
    with django_capture_on_commit_callbacks(execute=True):
        assert post(client, source, alertmanager_payload()).status_code == 202


def test_a_redis_that_refuses_scripts_still_counts_and_marks(
    source, private_redis, django_capture_on_commit_callbacks, caplog
):
    """Managed Redis often refuses Lua (an ACL without @scripting): the count and the routing
    mark then go in one MULTI, and the cache is not taken for down."""
    client = redis.Redis.from_url(private_redis.url())
    try:
        client.execute_command("ACL", "SETUSER", "default", "-@scripting")
    finally:
        client.close()
    alerts._count_script.clear()
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert post(Client(), source, alertmanager_payload()).status_code == 202
        assert counter(private_redis, source) == 1
        assert mark_exists(private_redis, source)
        assert shared_cache.breaker.available()
        assert "refuses Lua scripts" in caplog.text
    finally:
        alerts._count_script.clear()
