"""The public HTML pages under /status/ (no login): the page itself, history, one incident,
one maintenance; their caching (ETag, Cache-Control, 304, query counts); language; and that
confidential incidents and internal services never show."""

import gzip
import html
import re
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from incidents.models import Impact
from incidents.security import mitigations as security
from statuspage import views
from statuspage.models import Maintenance, PublicComponent, PublicIncident
from statuspage.public import PublicState
from tests.statuspage.page_factories import *  # noqa: F403 - fixtures

CACHE_CONTROL = "public, max-age=30, stale-while-revalidate=30, stale-if-error=86400"


def text(response):
    return response.content.decode()


def incident_id(incident):
    PublicState()  # public ids are given when the page is first built
    return PublicIncident.objects.get(incident=incident).public_id


def public_urls(incident=None, maintenance=None, component=None):
    urls = [
        "/status/",
        "/status/history/",
        "/status/feed.atom",
        *(f"/status/{path}" for path in views.JSON_DOCUMENTS),
    ]
    if incident:
        urls.append(f"/status/incidents/{incident}/")
    if maintenance:
        urls.append(f"/status/maintenance/{maintenance}/")
    if component:
        urls.append(f"/status/components/{component}/feed.atom")
    return urls


def window(title, starts_in, hours=2, services=()):
    now = timezone.now()
    m = Maintenance.objects.create(
        title=title,
        body="We upgrade the **database**.",
        scheduled_for=now + starts_in,
        scheduled_until=now + starts_in + timedelta(hours=hours),
    )
    m.services.set(services)
    return m


# The page -------------------------------------------------------------------------------------------


def test_status_page_needs_no_login(client, public_page):
    response = client.get("/status/")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert "Set-Cookie" not in response, "a public, cacheable page sets no cookie"


def test_status_page_says_the_overall_state_in_one_sentence(client, public_page):
    page = text(client.get("/status/"))
    # A SEV2 (major impact) outweighs its degraded component.
    assert re.search(r'<section class="sp-overall indicator-major"[^>]*>\s*<h1>Partial System Outage</h1>', page)


def test_status_page_groups_components_with_their_status(client, public_page):
    page = text(client.get("/status/"))
    page = page[page.index('id="components"') :]
    product = page.index("Product")
    assert product < page.index("Degraded performance") < page.index("Web chat")
    api = page.index("Public API")
    assert page.index("Platform") < api < page.index("Operational", api)


def test_status_page_shows_active_incidents_with_every_update_newest_first(client, public_page):
    page = text(client.get("/status/"))
    assert "Active incidents" in page and "Chat replies time out" in page
    assert page.index("A fix is rolling out.") < page.index("We are looking into slow replies.")
    times = re.findall(r'<time datetime="([^"]+)">', page)
    assert times and all(re.match(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2})?$", t) for t in times)


def test_times_are_rendered_in_the_server_zone_for_every_visitor(client, public_page, settings):
    settings.TIME_ZONE = "Europe/Berlin"
    plain = text(client.get("/status/"))
    client.cookies["tz"] = "Asia/Tokyo"  # the war-room's zone cookie must not leak into a shared page
    views.clear_cache()
    tokyo = text(client.get("/status/"))
    assert re.sub(r"[0-9a-f]{10}", "", plain) == re.sub(r"[0-9a-f]{10}", "", tokyo)
    assert "+01:00" in plain or "+02:00" in plain
    # The zone as an offset, never an abbreviation ("CST" is three zones).
    assert "UTC+01:00" in plain or "UTC+02:00" in plain
    assert "CET" not in plain and "CEST" not in plain


def test_resolved_incidents_are_not_active_but_recently_resolved(client, declare, publish):
    incident = declare(title="Yesterday's blip")
    publish(incident, "Looking.")
    publish(incident, "Fixed.", status="resolved")
    page = text(client.get("/status/"))
    assert "Active incidents" not in page
    assert "All Systems Operational" in page
    # For STATUSPAGE_RESOLVED_HOURS it stays on the front page with its last update only.
    resolved = page.split("Recently resolved", 1)[1]
    assert "Yesterday&#x27;s blip" in resolved and "Fixed." in resolved and "Looking." not in resolved
    assert "Yesterday&#x27;s blip" in text(client.get("/status/history/"))


def test_status_page_links_subscribe(client, db):
    assert 'href="/status/subscribe/"' in text(client.get("/status/"))


def test_status_page_makes_no_third_party_requests_and_no_inline_code(client, public_page):
    response = client.get("/status/")
    page = text(response)
    for url in re.findall(r'(?:src|href)="([^"]*)"', page):
        assert url.startswith(("/", "#", "?")), url
    assert "style=" not in page
    assert not re.search(r"<script(?![^>]*\bsrc=)", page), "no inline script"
    assert "<style" not in page
    assert "script-src 'self'" in response["Content-Security-Policy"]
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', page):
        assert client.get(asset).status_code == 200, asset


def test_markdown_in_updates_is_sanitised(client, declare, publish):
    publish(declare(title="Odd"), "**Bold** <script>alert(1)</script> [x](javascript:alert(1))")
    page = text(client.get("/status/"))
    assert "<strong>Bold</strong>" in page
    assert "<script>alert" not in page and "javascript:" not in page


# History bars ------------------------------------------------------------------------------------------


def bar_of(page, component_name):
    start = page.index(f'<span class="sp-component-name">{component_name}</span>')
    bar = re.search(r'<ol class="sp-bar"[^>]*>(.*?)</ol>', page[start:], re.S).group(1)
    return re.findall(r"<li[^>]*>(?:<a[^>]*></a>)?</li>", bar)


def test_every_component_has_a_90_day_bar_of_focusable_days(client, public_page, api_service):
    page = text(client.get("/status/"))
    days = bar_of(page, "Public API")
    assert len(days) == 90
    for day in days:
        assert 'tabindex="0"' in day or "<a href=" in day, "each day can take focus"
        assert re.search(r'aria-label="\d{4}-\d{2}-\d{2}: ', day)
    assert days[0].startswith('<li class="op"')
    assert (timezone.localdate() - timedelta(days=89)).isoformat() in days[0]
    assert timezone.localdate().isoformat() in days[-1]


def test_a_day_with_an_incident_shows_its_worst_level_and_links_its_incidents(client, public_page):
    page = text(client.get("/status/"))
    today = bar_of(page, "Web chat")[-1]
    assert today.startswith('<li class="po"'), "the worst level of the day: partial outage beat degraded"
    label = html.unescape(re.search(r'aria-label="([^"]+)"', today).group(1))
    assert re.fullmatch(
        rf"{timezone.localdate().isoformat()}: Partial outage, [\d.]+% uptime – Chat replies time out", label
    ), label
    href = re.search(r'href="([^"]+)"', today).group(1)
    assert href == f"/status/history/#d{timezone.localdate().isoformat()}"
    history = text(client.get("/status/history/"))
    day = history.index(f'id="d{timezone.localdate().isoformat()}"')
    assert history.index("Chat replies time out", day) > day
    assert f"/status/incidents/{incident_id(public_page)}/" in history


def test_bar_reaches_back_90_days(client, declare, publish, web_chat):
    incident = declare(title="Long ago", started_at=timezone.now() - timedelta(days=40))
    publish(incident, "It was down.", status="resolved")
    Impact.objects.create(
        incident=incident,
        service=web_chat,
        level="major_outage",
        started_at=timezone.now() - timedelta(days=40),
        ended_at=timezone.now() - timedelta(days=39, hours=23),
    )
    days = bar_of(text(client.get("/status/")), "Web chat")
    assert sum('class="mo"' in d for d in days) in (1, 2)
    assert days[-1].startswith('<li class="op"')


# Incident, history and maintenance pages -----------------------------------------------------------------


def test_incident_page_shows_the_incident_with_every_update(client, public_page):
    response = client.get(f"/status/incidents/{incident_id(public_page)}/")
    assert response.status_code == 200
    page = text(response)
    assert "<h1>Chat replies time out</h1>" in page
    assert page.index("A fix is rolling out.") < page.index("We are looking into slow replies.")
    assert "Web chat" in page and "Identified" in page


def test_unknown_incident_is_404(client, db):
    assert client.get("/status/incidents/aaaaaaaaaaaa/").status_code == 404
    assert client.get("/status/incidents/not-an-id/").status_code == 404


def test_history_lists_past_incidents(client, declare, publish):
    incident = declare(title="Login failures")
    publish(incident, "Logins fail.")
    publish(incident, "Logins work again.", status="resolved")
    page = text(client.get("/status/history/"))
    assert "Login failures" in page and "Logins work again." in page and "Resolved" in page


def test_maintenance_is_shown_ahead_and_while_in_progress(client, db, api_service, web_chat):
    upcoming = window("Database upgrade", timedelta(days=1), services=[api_service])
    window("Network change", -timedelta(minutes=5), services=[web_chat])
    page = text(client.get("/status/"))
    assert "Scheduled maintenance" in page and "Database upgrade" in page
    assert "Maintenance in progress" in page and "Network change" in page
    assert "Under maintenance" in page
    detail = text(client.get(f"/status/maintenance/{upcoming.public_id}/"))
    assert "<h1>Database upgrade</h1>" in detail and "<strong>database</strong>" in detail and "Public API" in detail


def test_public_mitigations_of_shown_incidents_are_explained(client, public_page, commander):
    security.add_mitigation(
        public_page,
        commander,
        title="Sign-ups limited",
        description="Only +86 numbers",
        public=True,
        public_explanation="New registrations are temporarily limited to some countries.",
    )
    security.add_mitigation(public_page, commander, title="WAF rule 42", description="Block bad ASNs")
    page = text(client.get("/status/"))
    assert "Temporary measures in force" in page
    assert "New registrations are temporarily limited to some countries." in page
    assert "WAF rule 42" not in page and "Block bad ASNs" not in page


def test_the_chinese_page_explains_measures_in_chinese_falling_back_to_the_default(client, public_page, commander):
    security.add_mitigation(
        public_page,
        commander,
        title="Sign-ups limited",
        description="Only +86 numbers",
        public=True,
        public_explanation="New registrations are temporarily limited to some countries.",
        public_explanations={"zh-hans": "新用户注册暂时仅限部分国家。"},
    )
    security.add_mitigation(
        public_page,
        commander,
        title="Uploads off",
        description="x",
        public=True,
        public_explanation="File uploads are paused.",
    )
    english = text(client.get("/status/"))
    chinese = text(client.get("/status/", headers={"accept-language": "zh-CN,zh;q=0.9"}))
    assert "New registrations are temporarily limited" in english and "新用户注册" not in english
    assert "新用户注册暂时仅限部分国家。" in chinese and "New registrations are temporarily limited" not in chinese
    assert "File uploads are paused." in chinese


def test_mitigations_of_confidential_incidents_never_show(client, leak, commander):
    security.add_mitigation(
        leak["secret"],
        commander,
        title="Bucket closed",
        description="x",
        public=True,
        public_explanation="SECRET-MITIGATION explained",
    )
    assert "SECRET-MITIGATION" not in text(client.get("/status/"))


# Language ------------------------------------------------------------------------------------------------


def test_page_shows_the_visitors_language_with_fallback_to_the_original(client, declare, publish):
    incident = declare(title="Slow replies")
    publish(incident, "Replies are slow.", translations={"zh-hans": "回复变慢。"})
    publish(incident, "Only in English.", status="identified")
    english = text(client.get("/status/"))
    assert "Replies are slow." in english and "回复变慢" not in english
    chinese = text(client.get("/status/", headers={"accept-language": "zh-CN,zh;q=0.9"}))
    assert "回复变慢。" in chinese and "Only in English." in chinese
    assert '<html lang="zh-hans">' in chinese
    assert 'lang="zh-hans"' in chinese[chinese.index("回复变慢") - 400 :]
    switched = text(client.get("/status/?lang=zh-hans"))
    assert "回复变慢。" in switched
    assert "Replies are slow." in text(client.get("/status/?lang=fr"))


def test_language_switch_names_each_language_as_its_readers_write_it(client, declare, publish):
    incident = declare(title="Slow replies")
    publish(incident, "Replies are slow.", translations={"zh-hans": "回复变慢。", "de": "Antworten sind langsam."})
    page = text(client.get("/status/"))
    switch = page[page.index('class="sp-langs"') :]
    switch = switch[: switch.index("</p>")]
    assert '<a href="?lang=zh-hans" hreflang="zh-hans" lang="zh-hans">简体中文</a>' in switch
    assert '<a href="?lang=de" hreflang="de" lang="de">Deutsch</a>' in switch
    assert ">English</a>" in switch
    assert ">zh-hans<" not in switch and ">de<" not in switch


def test_page_strings_in_simplified_chinese(client, public_page):
    page = text(client.get("/status/", headers={"accept-language": "zh-CN"}))
    assert "部分系统中断" in page  # Partial System Outage
    assert "进行中的事件" in page and "订阅" in page
    english = text(client.get("/status/"))
    assert "Partial System Outage" in english and "部分系统" not in english
    summary = client.get("/status/api/v2/status.json", headers={"accept-language": "zh-CN"}).json()
    assert summary["status"]["description"] == "Partial System Outage", "JSON keeps Statuspage's strings"


def test_long_incidents_show_the_latest_updates_and_fold_the_rest(client, declare, publish):
    incident = declare(title="Long one")
    for n in range(5):
        publish(incident, f"Update number {n}.")
    page = text(client.get("/status/"))
    folded = page.index('<details class="sp-earlier">')
    assert page.index("Update number 4.") < page.index("Update number 2.") < folded < page.index("Update number 1.")
    assert "2 earlier updates" in page


# Caching -------------------------------------------------------------------------------------------------


@pytest.fixture
def every_url(client, public_page, api_service):
    m = window("Database upgrade", timedelta(days=1), services=[api_service])
    client.get("/status/")  # the first build gives components their public ids
    component = PublicComponent.objects.get(service=api_service).public_id
    return public_urls(incident_id(public_page), m.public_id, component)


def test_every_public_response_carries_etag_and_cache_control(client, every_url):
    for url in every_url:
        response = client.get(url)
        assert response.status_code == 200, url
        assert re.match(r'^"[0-9a-f]{32}"$', response["ETag"]), url
        assert response["Cache-Control"] == CACHE_CONTROL, url


def test_if_none_match_gets_304(client, every_url):
    for url in every_url:
        first = client.get(url)
        again = client.get(url, headers={"if-none-match": first["ETag"]})
        assert again.status_code == 304, url
        assert again.content == b""
        assert again["ETag"] == first["ETag"]
        assert again["Cache-Control"] == CACHE_CONTROL
        other = client.get(url, headers={"if-none-match": '"0123456789abcdef0123456789abcdef"'})
        assert other.status_code == 200, url


def test_etag_changes_when_an_update_is_published(client, public_page, publish):
    before = client.get("/status/")
    publish(public_page, "Monitoring the fix.", status="monitoring")
    after = client.get("/status/", headers={"if-none-match": before["ETag"]})
    assert after.status_code == 200
    assert after["ETag"] != before["ETag"]
    assert "Monitoring the fix." in text(after)


def test_changes_made_elsewhere_show_once_the_version_is_read_again(client, public_page, settings):
    settings.STATUSPAGE_VERSION_SECONDS = 0  # another process published: this one reads the version each time
    client.get("/status/api/v2/summary.json")
    Impact.objects.filter(incident=public_page).update(ended_at=timezone.now())  # no signal reaches this process
    body = text(client.get("/status/api/v2/summary.json"))
    assert '"Web chat","status":"operational"' in body


def test_gzip_for_clients_that_accept_it(client, public_page):
    plain = client.get("/status/")
    packed = client.get("/status/", headers={"accept-encoding": "gzip, br"})
    assert packed["Content-Encoding"] == "gzip"
    assert gzip.decompress(packed.content) == plain.content
    assert packed["ETag"] != plain["ETag"]
    assert "Accept-Encoding" in packed["Vary"]
    assert (
        client.get("/status/", headers={"accept-encoding": "gzip", "if-none-match": packed["ETag"]}).status_code == 304
    )


# The content version is a digest of the public content, read with this many queries whatever
# the number of incidents, updates or services (statuspage.public.content_digest).
VERSION_QUERIES = 9  # 7 of content, 2 of the status pages themselves
# What a process that has not read the status pages yet (or forgot them: views.clear_cache) adds:
# the pages and the services each shows (statuspage.pages).
PAGE_QUERIES = 2


def test_a_hot_request_costs_only_the_content_versions_queries(
    client, public_page, settings, django_assert_max_num_queries
):
    settings.STATUSPAGE_VERSION_SECONDS = 0
    client.get("/status/")
    client.get("/status/api/v2/summary.json")
    with django_assert_max_num_queries(VERSION_QUERIES):
        assert client.get("/status/").status_code == 200
    with django_assert_max_num_queries(VERSION_QUERIES):
        assert client.get("/status/api/v2/summary.json").status_code == 200


def test_a_hot_request_within_the_trusted_time_costs_no_query(client, public_page, settings, django_assert_num_queries):
    settings.STATUSPAGE_VERSION_SECONDS = 3600
    client.get("/status/")
    with django_assert_num_queries(0):
        assert client.get("/status/").status_code == 200


def build_queries(client, url):
    views.clear_cache()
    from django.core.cache import cache

    cache.clear()
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize("url", ["/status/", "/status/api/v2/summary.json", "/status/history/", "/status/feed.atom"])
def test_uncached_query_count_does_not_grow_with_incidents(client, declare, publish, web_chat, api_service, url):
    def add_incidents(n):
        for i in range(n):
            incident = declare(title=f"Incident {i}", severity=i % 4 + 1)
            publish(incident, f"Update on {i}.", affected={"web-chat": "partial_outage"})
            publish(incident, f"More on {i}.", status="identified", translations={"zh-hans": "更多"})
        window(f"Window {n}", timedelta(days=1), services=[api_service])

    add_incidents(2)
    client.get(url)  # the first build also gives the new incidents their public ids
    few = build_queries(client, url)
    add_incidents(18)
    client.get(url)
    many = build_queries(client, url)
    assert few == many, f"{few} queries with 2 incidents, {many} with 20"
    # The version's 9, the status pages (2, read again after clear_cache), the page's ~8
    # queries, and the database cache (a get and 5 queries a set).
    assert many <= VERSION_QUERIES + PAGE_QUERIES + 21


def test_database_outage_serves_the_last_good_copy(client, public_page, settings, monkeypatch):
    settings.STATUSPAGE_VERSION_SECONDS = 0
    good = client.get("/status/api/v2/summary.json")

    def down():
        raise DatabaseError("connection refused")

    monkeypatch.setattr(views, "content_version", down)
    response = client.get("/status/api/v2/summary.json")
    assert response.status_code == 200
    assert response.content == good.content
    assert client.get("/status/incidents/aaaaaaaaaaaa/").status_code == 404


# What never appears ------------------------------------------------------------------------------------------


def test_confidential_incidents_and_internal_services_never_appear_on_any_page(client, leak, internal_service):
    window("Ledger migration", timedelta(days=1), services=[internal_service])
    shown = incident_id(leak["shown"])
    pages = ["/status/", "/status/history/", f"/status/incidents/{shown}/"]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        for word in [*leak["words"], "Ledger migration"]:
            assert word not in text(response), (url, word)
    assert "Slow sign-in" in text(client.get("/status/"))
    assert not PublicIncident.objects.filter(incident=leak["secret"]).exists()
    # Even a guessed or leaked public id of a confidential incident leads nowhere.
    secret_id = PublicIncident.objects.create(incident=leak["secret"]).public_id
    views.clear_cache()
    assert client.get(f"/status/incidents/{secret_id}/").status_code == 404
    assert "Ledger migration" not in text(client.get("/status/"))


def test_internal_service_moved_to_public_appears(client, db, internal_service):
    assert "Billing ledger" not in text(client.get("/status/"))
    internal_service.public = True
    internal_service.save()
    assert "Billing ledger" in text(client.get("/status/"))


def test_maintenance_of_internal_services_only_is_internal(client, db, internal_service, web_chat):
    window("Ledger migration", timedelta(days=1), services=[internal_service])
    window("Chat and ledger", timedelta(days=2), services=[internal_service, web_chat])
    page = text(client.get("/status/"))
    assert "Ledger migration" not in page
    assert "Chat and ledger" in page
    assert "Billing ledger" not in page
