"""Times carry an unambiguous zone: a UTC offset ("UTC+08:00"), never an abbreviation such as
"CST" (China, US Central or Cuba?), and one page shows all its times in one zone: the viewer's
(the `tz` cookie static/warroom/app.js sets) on staff pages, the site's in the status page's
server-rendered text (its script then shows the visitor's, with the offset too)."""

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.test import Client, override_settings
from django.utils import timezone

from incidents import services, slash_commands
from incidents.durations import zone_label, zoned
from incidents.models import Service

ZONE = re.compile(r"\bUTC(?:[+-]\d\d:\d\d)?(?![\w:+-])")
ABBREVIATIONS = re.compile(r"\b(?:CST|CDT|EST|EDT|PST|PDT|CET|CEST|BST|IST|JST|HKT|GMT)\b")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def viewer_in(user, zone):
    client = Client()
    client.force_login(user)
    client.cookies["tz"] = zone
    return client


def page_in(client, url):
    response = client.get(url)
    assert response.status_code == 200, url
    return response.content.decode()


def test_a_zone_is_named_by_its_utc_offset():
    moment = datetime(2025, 1, 28, 1, 30, tzinfo=UTC)
    assert zoned(moment, "Y-m-d H:i", UTC) == "2025-01-28 01:30 UTC"
    assert zoned(moment, "Y-m-d H:i", SHANGHAI) == "2025-01-28 09:30 UTC+08:00"
    assert zoned(moment, "H:i", ZoneInfo("America/St_Johns")) == "22:00 UTC-03:30"
    assert zone_label(timezone.localtime(moment, ZoneInfo("America/Chicago"))) == "UTC-06:00"


@pytest.mark.django_db
def test_staff_pages_show_every_time_with_the_viewers_offset_and_no_abbreviation(commander, incident):
    client = viewer_in(commander, "Asia/Shanghai")
    services.log_entry(incident, commander, "Edge filtering on")
    for url in (
        "/incidents/",
        f"/incidents/{incident.key}/",
        f"/incidents/{incident.key}/security/",
        f"/incidents/{incident.key}/security/audit/",
        f"/incidents/{incident.key}/review/",
    ):
        html = page_in(client, url)
        assert ABBREVIATIONS.findall(html) == [], url
        assert zones_on(html) <= {"UTC+08:00"}, url
    assert zones_on(page_in(client, f"/incidents/{incident.key}/")) == {"UTC+08:00"}


@pytest.mark.django_db
def test_a_chicago_viewer_sees_an_offset_where_cst_was(commander, incident):
    html = page_in(viewer_in(commander, "America/Chicago"), f"/incidents/{incident.key}/")
    expected = zone_label(timezone.localtime(incident.declared_at, ZoneInfo("America/Chicago")))
    assert zones_on(html) == {expected}
    assert "CST" not in html and "CDT" not in html


@pytest.mark.django_db
def test_slash_command_refusal_names_the_offset(commander, incident):
    services.acknowledge(incident, commander)
    with timezone.override(SHANGHAI), pytest.raises(ValidationError) as refused:
        slash_commands.run(incident, commander, "/ack")
    assert "UTC+08:00" in refused.value.messages[0]
    assert "CST" not in refused.value.messages[0]


@pytest.mark.django_db
@override_settings(TIME_ZONE="Asia/Shanghai")
def test_status_page_writes_its_times_with_the_sites_offset(clear_cache):
    Service.objects.create(name="Web chat", slug="web-chat", group="Product")
    html = page_in(Client(), "/status/")
    assert "UTC+08:00" in html
    assert zones_on(html) == {"UTC+08:00"}
    assert "CST" not in html


def zones_on(html):
    return set(ZONE.findall(html))
