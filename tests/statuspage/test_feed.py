"""The Atom feeds: /status/feed.atom and one per component (or group). They must parse as XML
and carry what RFC 4287 requires of a feed and its entries."""

import xml.etree.ElementTree as ET
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from statuspage import views
from statuspage.models import Maintenance, PublicComponent
from statuspage.public import PublicState, stable_id
from tests.statuspage.page_factories import *  # noqa: F403 - fixtures

ATOM = "{http://www.w3.org/2005/Atom}"


def parse(response):
    assert response.status_code == 200
    assert response["Content-Type"] == "application/atom+xml; charset=utf-8"
    root = ET.fromstring(response.content)
    assert root.tag == f"{ATOM}feed"
    return root


def rfc3339(value):
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert moment.tzinfo is not None, value
    return moment


def check_atom(feed, self_url):
    """RFC 4287 4.1.1 and 4.1.2: what a feed and each entry must have."""
    for name in ("id", "title", "updated"):
        assert len(feed.findall(f"{ATOM}{name}")) == 1, name
        assert feed.find(f"{ATOM}{name}").text
    rfc3339(feed.find(f"{ATOM}updated").text)
    links = {link.get("rel", "alternate"): link.get("href") for link in feed.findall(f"{ATOM}link")}
    assert links["self"] == self_url
    assert links["alternate"].endswith("/status/")
    feed_has_author = feed.find(f"{ATOM}author/{ATOM}name") is not None
    ids = []
    for entry in feed.findall(f"{ATOM}entry"):
        for name in ("id", "title", "updated"):
            assert len(entry.findall(f"{ATOM}{name}")) == 1, name
            assert entry.find(f"{ATOM}{name}").text
        rfc3339(entry.find(f"{ATOM}updated").text)
        content = entry.find(f"{ATOM}content")
        alternate = [link for link in entry.findall(f"{ATOM}link") if link.get("rel", "alternate") == "alternate"]
        assert content is not None or alternate, "an entry needs content or an alternate link"
        assert content is None or content.get("type") == "html"
        assert alternate and alternate[0].get("href").startswith("http")
        assert feed_has_author or entry.find(f"{ATOM}author") is not None
        ids.append(entry.find(f"{ATOM}id").text)
    assert len(ids) == len(set(ids)), "entry ids are unique"
    return feed.findall(f"{ATOM}entry")


def component_id(service):
    PublicState()
    return PublicComponent.objects.get(service=service).public_id


def test_feed_is_valid_atom_with_one_entry_per_update_newest_first(client, public_page, settings):
    settings.SITE_URL = "https://status.example.com"
    entries = check_atom(parse(client.get("/status/feed.atom")), "https://status.example.com/status/feed.atom")
    titles = [e.find(f"{ATOM}title").text for e in entries]
    assert titles == ["Chat replies time out: Identified", "Chat replies time out: Investigating"]
    updated = [rfc3339(e.find(f"{ATOM}updated").text) for e in entries]
    assert updated == sorted(updated, reverse=True)
    assert "A fix is rolling out." in entries[0].find(f"{ATOM}content").text
    link = entries[0].find(f"{ATOM}link").get("href")
    assert link.startswith("https://status.example.com/status/incidents/")
    assert client.get(link.removeprefix("https://status.example.com")).status_code == 200


def test_feed_of_an_empty_page_is_valid(client, db):
    assert check_atom(parse(client.get("/status/feed.atom")), "http://localhost:8000/status/feed.atom") == []


def test_feed_includes_maintenance(client, db, web_chat):
    now = timezone.now()
    m = Maintenance.objects.create(
        title="Database upgrade",
        scheduled_for=now + timedelta(days=1),
        scheduled_until=now + timedelta(days=1, hours=1),
    )
    m.services.set([web_chat])
    entries = check_atom(parse(client.get("/status/feed.atom")), "http://localhost:8000/status/feed.atom")
    assert [e.find(f"{ATOM}title").text for e in entries] == ["Maintenance: Database upgrade (Scheduled)"]
    assert entries[0].find(f"{ATOM}link").get("href").endswith(f"/status/maintenance/{m.public_id}/")


def test_feed_follows_the_visitors_language(client, declare, publish):
    publish(declare(title="Slow"), "Replies are slow.", translations={"zh-hans": "回复变慢。"})
    feed = parse(client.get("/status/feed.atom", headers={"accept-language": "zh-hans"}))
    assert "回复变慢" in feed.find(f"{ATOM}entry/{ATOM}content").text


def test_component_feed_has_only_that_components_incidents(
    client, public_page, declare, publish, api_service, web_chat
):
    publish(declare(title="API errors"), "Errors on the API.", affected={"public-api": "partial_outage"})
    chat = component_id(web_chat)
    url = f"/status/components/{chat}/feed.atom"
    entries = check_atom(parse(client.get(url)), f"http://localhost:8000{url}")
    assert {e.find(f"{ATOM}title").text.split(":")[0] for e in entries} == {"Chat replies time out"}
    api = component_id(api_service)
    entries = check_atom(
        parse(client.get(f"/status/components/{api}/feed.atom")),
        f"http://localhost:8000/status/components/{api}/feed.atom",
    )
    assert {e.find(f"{ATOM}title").text.split(":")[0] for e in entries} == {"API errors"}


def test_group_feed_has_its_components_incidents(client, public_page, web_chat):
    group = stable_id("group", "Product")
    url = f"/status/components/{group}/feed.atom"
    entries = check_atom(parse(client.get(url)), f"http://localhost:8000{url}")
    assert len(entries) == 2


def test_unknown_component_feed_is_404(client, db):
    assert client.get("/status/components/aaaaaaaaaaaa/feed.atom").status_code == 404


def test_feed_is_cacheable_with_etag(client, public_page):
    first = client.get("/status/feed.atom")
    assert first["Cache-Control"] == views.CACHE_CONTROL
    assert client.get("/status/feed.atom", headers={"if-none-match": first["ETag"]}).status_code == 304


@pytest.mark.parametrize("which", ["all", "component", "internal component"])
def test_confidential_incidents_and_internal_services_never_appear_in_feeds(
    client, leak, api_service, internal_service, which
):
    if which == "all":
        url = "/status/feed.atom"
    elif which == "component":
        url = f"/status/components/{component_id(api_service)}/feed.atom"  # the confidential incident hit it
    else:
        hidden = PublicComponent.objects.create(service=internal_service).public_id
        views.clear_cache()
        assert client.get(f"/status/components/{hidden}/feed.atom").status_code == 404
        return
    body = client.get(url).content.decode()
    for word in leak["words"]:
        assert word not in body, (url, word)
    ET.fromstring(body)
