"""Shared fixtures: one cast of people, so every access rule is tested from every side.

- commander: in the commander group (declares, commands any incident)
- responder: in the responder group (logs and works on any visible incident)
- viewer: in the viewer group (reads non-confidential incidents)
- outsider: signed in, no group and no role (like viewer, never sees confidential ones)
- security: in the security group (sees every confidential incident)
- comms and comms2, alice, bob and carol: in the comms group (write, approve and publish
  communications; two of them where one writes and another approves)

the recipient list `customers` ("Enterprise customers", one member: ops@acme.example) and
`private_recipient_webhooks` (recipient webhooks may point at the test receivers on 127.0.0.1),
and the helpers of the HTML tests: `as_user(user)` (a browser client signed in as the user, or
anonymous for None), HTMX (the headers htmx sends) and `clear_cache` (a cold cache).
"""

import threading

import pytest
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.db import connection, connections
from django.test import Client
from django.utils import translation
from rest_framework.test import APIClient

from incidents import services
from incidents.comms import recipients
from incidents.models import Incident, Service
from incidents.ratelimit import local_counts
from incidents.signin import throttle_memory as signin_throttle_memory

# The headers htmx sends with each request it makes.
HTMX = {"HX-Request": "true"}

# Tests of two writers at once: SQLite serialises them, so they need PostgreSQL.
needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="two writers at once need PostgreSQL (SQLite runs one at a time)"
)


def in_thread(target, results, name):
    """Run `target` in a thread with its own database connection, its result in results[name]."""

    def run():
        try:
            results[name] = target()
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def make_user(django_user_model, username, *groups, **extra):
    user = django_user_model.objects.create_user(username=username, password="pw-" + username, **extra)
    for name in groups:
        # get_or_create: transactional tests flush the groups the data migration made
        user.groups.add(Group.objects.get_or_create(name=name)[0])
    return user


@pytest.fixture
def commander(django_user_model):
    return make_user(django_user_model, "cmdr", "commander")


@pytest.fixture
def responder(django_user_model):
    return make_user(django_user_model, "resp", "responder")


@pytest.fixture
def viewer(django_user_model):
    return make_user(django_user_model, "view", "viewer")


@pytest.fixture
def outsider(django_user_model):
    return make_user(django_user_model, "outsider")


@pytest.fixture
def security(django_user_model):
    return make_user(django_user_model, "sec", "security")


@pytest.fixture
def comms(django_user_model):
    return make_user(django_user_model, "comms", "comms")


@pytest.fixture
def comms2(django_user_model):
    return make_user(django_user_model, "comms2", "comms")


@pytest.fixture
def alice(django_user_model):
    return make_user(django_user_model, "alice", "comms")


@pytest.fixture
def bob(django_user_model):
    return make_user(django_user_model, "bob", "comms")


@pytest.fixture
def carol(django_user_model):
    return make_user(django_user_model, "carol", "comms")


@pytest.fixture
def customers(alice):
    """A customer recipient list alice made, with one e-mail member (ops@acme.example)."""
    big = recipients.create_list(alice, name="Enterprise customers", audience="customers")
    recipients.add_member(big, alice, kind="email", email="ops@acme.example", name="Acme ops")
    return big


@pytest.fixture
def private_recipient_webhooks(settings):
    """Recipient-list webhooks may point at 127.0.0.1, where the test receivers listen and
    which production refuses (WARROOM_ALLOW_PRIVATE_WEBHOOKS; the status page's subscribers
    have their own switch, tests.statuspage.subscription_factories.private_webhooks)."""
    settings.WARROOM_ALLOW_PRIVATE_WEBHOOKS = True


@pytest.fixture
def api_service(db):
    return Service.objects.create(name="Public API", slug="public-api", group="Platform")


@pytest.fixture
def web_chat(db):
    return Service.objects.create(name="Web chat", slug="web-chat", group="Product")


@pytest.fixture
def declare(commander):
    """Declare an incident as the commander fixture; keyword arguments override defaults. The
    incident is given a public title as test data (by default its title, so status-page updates
    may go out); `public_title=""` declares one without, as a freshly declared incident is."""

    def _declare(**kwargs):
        by = kwargs.pop("by", commander)
        kwargs.setdefault("title", "API errors")
        kwargs.setdefault("severity", 2)
        public_title = kwargs.pop("public_title", kwargs["title"])
        incident = services.declare(by, **kwargs)
        if public_title:
            Incident.objects.filter(pk=incident.pk).update(public_title=public_title)
            incident.public_title = public_title
        return incident

    return _declare


@pytest.fixture
def incident(declare):
    return declare()


@pytest.fixture
def confidential(declare):
    return declare(title="Database exposed", kind="data_exposure", confidential=True, severity=1)


def api_as(user):
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


@pytest.fixture
def api():
    return api_as


@pytest.fixture
def as_user():
    """as_user(user) -> a browser client signed in as `user` (anonymous for None)."""

    def _as(user):
        client = Client()
        if user is not None:
            client.force_login(user)
        return client

    return _as


def cache_keys():
    """Every key in the caches the rate limits count in: the shared one (Redis with CACHE_URL,
    else the database cache's table), this process's own counts and the API throttles' memory.
    What a dump of the cache would show."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        shared = [key.decode() for key in backend._cache.get_client().keys("*")]
    else:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT cache_key FROM {connection.ops.quote_name(backend._table)}")
            shared = [row[0] for row in cursor.fetchall()]
    return shared + list(local_counts.entries) + list(signin_throttle_memory._cache)


@pytest.fixture
def clear_cache(db):
    """A cold cache before and after the test: rate-limit counters and built pages live there,
    and with CACHE_URL (Redis) they outlive a test."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def site_language_after_each_test():
    """Each test starts and ends in the site's language: a request or an override left active
    in this thread (a Chinese request, a test's translation.activate) must not make the next
    test's gettext answer in Chinese."""
    translation.activate(settings.LANGUAGE_CODE)
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def fresh_api_throttles():
    """The API throttles' per-process memory (incidents.signin) starts empty in each test: ids
    repeat across tests, and one test's requests must not count against the next."""
    signin_throttle_memory.clear()
    yield
