"""What a warm request to the public status page costs, counted rather than timed (issue #15:
the page at >= 0.9x of /healthz while responders write; `make bench` times it).

A warm anonymous request reads no session, runs no query, and when the content version is due
to be read again only one request of the process reads it: the others answer at once with the
version read a moment ago, instead of every gunicorn thread running the same queries together
(which, each second and worse while a writer held SQLite's lock, cost the page more than all
its other work)."""

import threading

import pytest
from django.test import Client

from statuspage import views
from statuspage.models import PublicComponent, PublicIncident
from tests.conftest import in_thread
from tests.statuspage.page_factories import *  # noqa: F403 - fixtures

URLS = ["/status/", "/status/api/v2/summary.json"]


def test_a_warm_anonymous_request_runs_no_query_and_no_staff_middleware(
    client, public_page, settings, django_assert_num_queries
):
    settings.STATUSPAGE_VERSION_SECONDS = 3600
    browser = {"accept-encoding": "gzip", "accept-language": "en"}
    for url in URLS:
        client.get(url, headers=browser)
    for url in URLS:
        with django_assert_num_queries(0):
            response = client.get(url, headers=browser)
        assert response.status_code == 200, url
        # Answered before the session, sign-in, CSRF, two-factor, audit and message middleware
        # (statuspage.middleware): none of them left its mark on the request.
        request = response.wsgi_request
        assert not hasattr(request, "session") and not hasattr(request, "user"), url
        assert "Cookie" not in response["Vary"], url
        assert not response.cookies, url


def test_signed_in_staff_get_the_same_documents_through_the_whole_stack(
    client, public_page, commander, settings, django_assert_max_num_queries
):
    settings.STATUSPAGE_VERSION_SECONDS = 3600
    public = {url: client.get(url) for url in URLS}
    client.force_login(commander)
    for url in URLS:
        with django_assert_max_num_queries(2):  # the session and the user, nothing of the page
            response = client.get(url)
        assert response.wsgi_request.user == commander  # the whole stack ran
        assert response.content == public[url].content, url
        assert response["Cache-Control"] == public[url]["Cache-Control"], url
        assert "Cookie" not in response["Vary"], url


def public_requests(every_path):
    """(path, headers) of requests that exercise every answer of the documents: 200, gzip,
    another language, 304, 404, and the pages that are no documents."""
    for path in every_path:
        yield path, {}
        yield path, {"accept-encoding": "gzip, br", "accept-language": "zh-Hans"}
        yield path, {"if-none-match": "*"}
    yield "/status/incidents/aaaaaaaaaaaa/", {"accept-language": "zh-Hans"}
    yield "/status/incidents/aaaaaaaaaaaa", {}
    yield "/status/no-such-page/", {}
    yield "/healthz", {}


def test_answered_early_or_not_every_response_has_the_same_status_headers_and_body(
    public_page, api_service, settings, client
):
    """The early answer leaves out only work: with PublicDocumentsMiddleware taken out of
    MIDDLEWARE, the same requests get the same status, headers (security and caching alike) and
    body."""
    settings.STATUSPAGE_VERSION_SECONDS = 3600
    client.get("/status/")  # public ids
    component = PublicComponent.objects.get(service=api_service).public_id
    paths = [
        "/status/",
        "/status/history/",
        "/status/feed.atom",
        f"/status/incidents/{PublicIncident.objects.get(incident=public_page).public_id}/",
        f"/status/components/{component}/feed.atom",
        *(f"/status/{path}" for path in views.JSON_DOCUMENTS),
    ]
    early = Client()
    early.get("/healthz")  # loads the middleware as it is now
    everything = list(settings.MIDDLEWARE)
    settings.MIDDLEWARE = [m for m in everything if m != "statuspage.middleware.PublicDocumentsMiddleware"]
    assert len(settings.MIDDLEWARE) == len(everything) - 1
    whole = Client()
    for path, headers in public_requests(paths):
        for method in ("get", "head"):
            a = getattr(early, method)(path, headers=headers)
            b = getattr(whole, method)(path, headers=headers)
            assert a.status_code == b.status_code, (method, path, headers)
            assert sorted(a.items()) == sorted(b.items()), (method, path, headers)
            assert a.content == b.content, (method, path, headers)


class SlowRead:
    """The real content_version, held back after it is called until `release` is set: a read
    that takes a while, as under load or behind a writer's lock."""

    def __init__(self, monkeypatch):
        self.real = views.content_version
        self.started = threading.Event()
        self.release = threading.Event()
        self.calls = 0
        monkeypatch.setattr(views, "content_version", self)

    def __call__(self):
        self.calls += 1
        self.started.set()
        self.release.wait(5)
        return self.real()


@pytest.mark.django_db(transaction=True)
def test_while_one_request_reads_the_version_again_the_others_answer_without_a_query(
    client, public_page, settings, monkeypatch, django_assert_num_queries
):
    settings.STATUSPAGE_VERSION_SECONDS = 0  # every request finds the version due
    before = {url: client.get(url) for url in URLS}
    read = SlowRead(monkeypatch)
    results = {}
    reader = in_thread(views.recent_version.get, results, "reader")
    try:
        assert read.started.wait(5)
        with django_assert_num_queries(0):
            during = {url: client.get(url) for url in URLS}
    finally:
        read.release.set()
        reader.join(10)
    assert read.calls == 1
    for url in URLS:
        assert during[url].status_code == 200
        assert during[url].content == before[url].content
    assert views.recent_version.value == results["reader"]


@pytest.mark.django_db(transaction=True)
def test_a_read_begun_before_a_public_change_is_not_kept(client, public_page, web_chat, settings, monkeypatch):
    settings.STATUSPAGE_VERSION_SECONDS = 3600
    client.get("/status/")
    views.recent_version.forget()
    read = SlowRead(monkeypatch)
    reader = in_thread(views.recent_version.get, {}, "reader")
    try:
        assert read.started.wait(5)
        web_chat.name = "Web chat and voice"
        web_chat.save()  # a public change in this process forgets the version
    finally:
        read.release.set()
        reader.join(10)
    # What the reader read may predate the change: the next request reads the version again.
    assert views.recent_version.value is None
    assert "Web chat and voice" in client.get("/status/").content.decode()


def test_a_host_not_in_allowed_hosts_is_refused_as_before(client, public_page):
    client.get("/status/")
    assert client.get("/status/", headers={"host": "status.example.com"}).status_code == 400
    assert client.get("/status/api/v2/summary.json", headers={"host": "evil.example"}).status_code == 400
