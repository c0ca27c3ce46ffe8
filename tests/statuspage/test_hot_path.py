"""What a warm request to the public status page costs, counted rather than timed (issue #15:
the page at >= 0.9x of /healthz while responders write; `make bench` times it).

A warm anonymous request reads no session, runs no query, and when the content version is due
to be read again only one request of the process reads it: the others answer at once with the
version read a moment ago, instead of every gunicorn thread running the same queries together
(which, each second and worse while a writer held SQLite's lock, cost the page more than all
its other work)."""

import threading

import pytest

from statuspage import views
from tests.conftest import in_thread
from tests.statuspage.page_factories import *  # noqa: F403 - fixtures

URLS = ["/status/", "/status/api/v2/summary.json"]


def test_a_warm_anonymous_request_runs_no_query_and_never_reads_the_session(
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
        assert not response.wsgi_request.session.accessed, url
        assert "Cookie" not in response["Vary"], url
        assert not response.cookies, url


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
