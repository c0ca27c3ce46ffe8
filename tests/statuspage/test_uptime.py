"""Each public component's uptime over 30 and 90 days, and of each day on its history bar
(statuspage/uptime.py): a major outage counts fully as down, a partial outage as 30 %,
degraded performance as up, and time under maintenance not at all. Shown on the page, in each
day's tooltip and in the JSON, from the cached build, at no query of its own."""

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from incidents.models import Impact
from statuspage.models import Maintenance
from statuspage.public import PublicState
from tests.statuspage.page_factories import *  # noqa: F403 - fixtures
from tests.statuspage.page_factories import make_service

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


@pytest.fixture
def announced(frozen, declare, publish):
    """A public incident (declared a week ago) to hang impacts on."""
    incident = declare(title="Replies fail", severity=2, started_at=NOW - timedelta(days=20))
    publish(incident, "Replies fail for some users.", status="resolved")
    return incident


def impact(incident, service, level, starts_ago, minutes):
    start = NOW - starts_ago
    return Impact.objects.create(
        incident=incident, service=service, level=level, started_at=start, ended_at=start + timedelta(minutes=minutes)
    )


def uptime_of(client, name):
    components = client.get("/status/api/v2/components.json").json()["components"]
    return next(c["uptime"] for c in components if c["name"] == name)


def test_no_outage_is_100_percent(client, frozen, web_chat):
    assert uptime_of(client, "Web chat") == {"30d": 100.0, "90d": 100.0}


def test_major_outage_counts_fully_as_down(client, announced, web_chat, api_service):
    impact(announced, web_chat, "major_outage", timedelta(days=10), minutes=72)
    # 72 of 43,200 minutes (30 days) and of 129,600 (90 days), rounded down.
    assert uptime_of(client, "Web chat") == {"30d": 99.83, "90d": 99.94}
    assert uptime_of(client, "Public API") == {"30d": 100.0, "90d": 100.0}


def test_partial_outage_counts_as_30_percent_and_degraded_as_up(client, announced, web_chat, api_service):
    impact(announced, web_chat, "partial_outage", timedelta(days=10), minutes=100)  # 30 minutes down
    impact(announced, api_service, "degraded_performance", timedelta(days=10), minutes=600)
    assert uptime_of(client, "Web chat") == {"30d": 99.93, "90d": 99.97}
    assert uptime_of(client, "Public API") == {"30d": 100.0, "90d": 100.0}


def test_overlapping_impacts_count_the_worst_once(client, announced, web_chat):
    impact(announced, web_chat, "major_outage", timedelta(days=10), minutes=72)
    impact(announced, web_chat, "partial_outage", timedelta(days=10), minutes=72)
    impact(announced, web_chat, "major_outage", timedelta(days=10, minutes=-30), minutes=42)
    assert uptime_of(client, "Web chat") == {"30d": 99.83, "90d": 99.94}


def test_outage_older_than_30_days_counts_only_in_90(client, frozen, declare, publish, web_chat):
    old = declare(title="Old outage", started_at=NOW - timedelta(days=45))
    publish(old, "It was down.", status="resolved")
    impact(old, web_chat, "major_outage", timedelta(days=45), minutes=1296)  # 1 % of 90 days
    assert uptime_of(client, "Web chat") == {"30d": 100.0, "90d": 99.0}


def test_an_open_outage_runs_until_now(client, frozen, declare, publish, web_chat):
    incident = declare(title="Down right now", severity=1)
    publish(incident, "Everything is down.")
    Impact.objects.create(
        incident=incident, service=web_chat, level="major_outage", started_at=NOW - timedelta(hours=12)
    )
    assert uptime_of(client, "Web chat") == {"30d": 98.33, "90d": 99.44}


def test_maintenance_is_left_out_of_the_count(client, announced, web_chat, api_service):
    # An outage inside a maintenance window on the same component does not count...
    impact(announced, web_chat, "major_outage", timedelta(days=10), minutes=60)
    window = Maintenance.objects.create(
        title="Planned work",
        scheduled_for=NOW - timedelta(days=10, minutes=30),
        scheduled_until=NOW - timedelta(days=9),
    )
    window.services.set([web_chat])
    assert uptime_of(client, "Web chat") == {"30d": 100.0, "90d": 100.0}
    # ...but does on a component the window did not cover.
    impact(announced, api_service, "major_outage", timedelta(days=10), minutes=72)
    assert uptime_of(client, "Public API") == {"30d": 99.83, "90d": 99.94}


def test_maintenance_shrinks_the_time_counted(client, announced, web_chat):
    impact(announced, web_chat, "major_outage", timedelta(days=20), minutes=432)  # 1 % of 30 days
    assert uptime_of(client, "Web chat")["30d"] == 99.0
    whole_platform = Maintenance.objects.create(  # no service: every component
        title="Datacentre move", scheduled_for=NOW - timedelta(days=5), scheduled_until=NOW - timedelta(days=2)
    )
    assert whole_platform.pk
    # 432 down of 43,200 - 4,320 counted minutes.
    assert uptime_of(client, "Web chat")["30d"] == 98.88


def test_cancelled_maintenance_and_incidents_never_announced_do_not_count(client, announced, declare, web_chat):
    impact(announced, web_chat, "major_outage", timedelta(days=10), minutes=72)
    Maintenance.objects.create(
        title="Called off",
        scheduled_for=NOW - timedelta(days=11),
        scheduled_until=NOW - timedelta(days=9),
        cancelled=True,
    )
    unannounced = declare(title="Internal only", confidential=True)
    impact(unannounced, web_chat, "major_outage", timedelta(days=5), minutes=600)
    assert uptime_of(client, "Web chat") == {"30d": 99.83, "90d": 99.94}


def bar_labels(page, component_name):
    start = page.index(f'<span class="sp-component-name">{component_name}</span>')
    bar = re.search(r'<ol class="sp-bar"[^>]*>(.*?)</ol>', page[start:], re.S).group(1)
    return [html.unescape(label) for label in re.findall(r'aria-label="([^"]+)"', bar)]


def test_page_shows_uptime_under_each_bar_and_in_each_days_tooltip(client, announced, web_chat, api_service):
    impact(announced, web_chat, "major_outage", timedelta(days=10), minutes=72)
    page = client.get("/status/").content.decode()
    assert "99.94% uptime over 90 days, 99.83% over 30" in page
    assert "100% uptime over 90 days, 100% over 30" in page  # Public API
    labels = bar_labels(page, "Web chat")
    assert len(labels) == 90
    outage_day = (NOW - timedelta(days=10)).date().isoformat()
    assert labels[-11] == f"{outage_day}: Major outage, 95% uptime – Replies fail"  # 72 of 1,440 minutes
    assert labels[-12].endswith(", 100% uptime")
    assert all("uptime" in label for label in labels)


def test_page_shows_uptime_in_chinese(client, announced, web_chat):
    impact(announced, web_chat, "major_outage", timedelta(days=10), minutes=72)
    page = client.get("/status/?lang=zh-hans").content.decode()
    assert "90 天可用率 99.94%，30 天可用率 99.83%" in page


def test_groups_carry_no_uptime_of_their_own(client, frozen):
    make_service("Chat", group="Product")
    components = client.get("/status/api/v2/components.json").json()["components"]
    group = next(c for c in components if c["group"])
    assert "uptime" not in group
    assert next(c for c in components if not c["group"])["uptime"] == {"30d": 100.0, "90d": 100.0}


def test_uptime_costs_no_query_however_many_outages(announced, web_chat, api_service):
    def build_queries():
        PublicState()  # once, to give public ids
        with CaptureQueriesContext(connection) as queries:
            state = PublicState()
        return len(queries), state

    def planned_work(days_ago):
        window = Maintenance.objects.create(
            title="Planned work", scheduled_for=NOW - timedelta(days=days_ago), scheduled_until=NOW - timedelta(days=2)
        )
        window.services.set([web_chat, api_service])

    impact(announced, web_chat, "major_outage", timedelta(days=10), minutes=72)
    planned_work(3)
    few, _state = build_queries()
    for n in range(30):
        impact(announced, web_chat, "partial_outage", timedelta(days=n + 1), minutes=30)
        impact(announced, api_service, "major_outage", timedelta(days=n + 1, hours=3), minutes=10)
        planned_work(n + 3)
    many, state = build_queries()
    assert many == few
    assert state.uptime.windows[state.by_service[web_chat.pk].id]["30d"] < 100.0


def test_an_outage_across_midnight_is_shared_between_its_two_days(client, announced, web_chat):
    impact(announced, web_chat, "major_outage", timedelta(days=10, hours=13), minutes=120)  # 23:00 to 01:00
    labels = bar_labels(client.get("/status/").content.decode(), "Web chat")
    assert labels[-12].startswith(f"{(NOW - timedelta(days=11)).date().isoformat()}: Major outage, 95.83% uptime")
    assert labels[-11].startswith(f"{(NOW - timedelta(days=10)).date().isoformat()}: Major outage, 95.83% uptime")
    assert labels[-13].endswith(", 100% uptime")
