"""The staff UI in Simplified Chinese: chosen by Accept-Language or by the language switch at
the foot of every page (Django's set_language), English by default and for anything untranslated; the
records an action writes (timeline, filled templates) stay in the site's language whichever
language the actor reads.

Catalog completeness and the compiled files are tests/test_translations.py's.
"""

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from incidents import services
from incidents.comms import services as communications
from incidents.models import CommunicationTemplate, TimelineEntry
from tests.conftest import HTMX

CHINESE = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9,en;q=0.5"}


@pytest.fixture
def signed_in():
    def _as(user):
        client = Client()
        client.force_login(user)
        return client

    return _as


def page(client, url, **headers):
    response = client.get(url, **headers)
    assert response.status_code == 200
    return response.content.decode()


def test_staff_pages_are_in_english_by_default(signed_in, commander, incident):
    client = signed_in(commander)
    listing = page(client, reverse("incidents:list"))
    assert '<html lang="en">' in listing
    assert "Declare incident" in listing and "Investigating" in listing
    war_room = page(client, incident.get_absolute_url())
    assert "Timeline" in war_room and "Commander" in war_room
    assert "时间线" not in war_room


def test_an_unknown_language_falls_back_to_english(signed_in, commander, incident):
    war_room = page(signed_in(commander), incident.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="fr-FR,fr;q=0.9")
    assert '<html lang="en">' in war_room and "Timeline" in war_room


def test_war_room_follows_accept_language(signed_in, commander, incident):
    war_room = page(signed_in(commander), incident.get_absolute_url(), **CHINESE)
    assert '<html lang="zh-hans">' in war_room
    for chinese in ("时间线", "指挥官", "严重级别", "影响", "角色", "调查中", "确认", "退出登录"):
        assert chinese in war_room, chinese
    # Names people type and test ids stay as they are.
    assert 'data-testid="status"' in war_room and incident.title in war_room


def test_incident_list_follows_accept_language(signed_in, commander, incident):
    listing = page(signed_in(commander), reverse("incidents:list"), **CHINESE)
    for chinese in ("事件", "宣布事件", "任意状态", "调查中", "可用性", "筛选"):
        assert chinese in listing, chinese
    assert "Declare incident" not in listing


def test_comms_page_follows_accept_language(signed_in, comms, incident):
    html = page(signed_in(comms), reverse("incidents:comms:index", args=[incident.key]), **CHINESE)
    for chinese in ("通报", "新建通报", "模板库", "状态页", "监管机构"):
        assert chinese in html, chinese


def test_language_switch_keeps_the_choice_over_accept_language(signed_in, commander, incident):
    client = signed_in(commander)
    listing = page(client, reverse("incidents:list"))
    assert f'action="{reverse("set_language")}"' in listing and 'name="language"' in listing
    response = client.post(reverse("set_language"), {"language": "zh-hans", "next": reverse("incidents:list")})
    assert response.status_code == 302 and response["Location"] == reverse("incidents:list")
    assert "时间线" in page(client, incident.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en")
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert "Timeline" in page(client, incident.get_absolute_url(), **CHINESE)


def test_language_switch_is_on_the_sign_in_page_too():
    html = page(Client(), reverse("login"), **CHINESE)
    assert "登录" in html and 'name="language"' in html


def test_timeline_is_written_in_the_site_language_whatever_the_actor_reads(commander, web_chat):
    with translation.override("zh-hans"):
        incident = services.declare(commander, title="Slow", severity=2, kind="availability", services=[web_chat])
        services.add_impact(incident, commander, service=web_chat, level="partial_outage")
    bodies = list(incident.timeline.order_by("id").values_list("kind", "body"))
    declared = next(body for kind, body in bodies if kind == TimelineEntry.Kind.DECLARED)
    impact = next(body for kind, body in bodies if kind == TimelineEntry.Kind.IMPACT)
    assert "(availability)" in declared
    assert "partial outage" in impact


def test_a_template_fills_status_labels_in_its_own_language(incident):
    english = CommunicationTemplate.objects.create(name="en", body="We are {status}.", language="en")
    chinese = CommunicationTemplate.objects.create(name="zh", body="状态：{status}。", language="zh-hans")
    with translation.override("zh-hans"):
        assert communications.fill_template(english, incident) == "We are investigating."
    assert communications.fill_template(chinese, incident) == "状态：调查中。"


def test_status_page_keeps_its_own_language_choice(signed_in, commander, db):
    from django.core.cache import cache

    from statuspage import views

    views.clear_cache()
    cache.clear()
    client = signed_in(commander)
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    assert "宣布事件" in page(client, reverse("incidents:list"))  # the staff pages follow the switch
    english = client.get("/status/")
    assert '<html lang="en">' in english.content.decode() and english["Content-Language"] == "en"
    chinese = client.get("/status/?lang=zh-hans")
    assert '<html lang="zh-hans">' in chinese.content.decode() and chinese["Content-Language"] == "zh-hans"
    assert client.get("/status/api/v2/status.json", HTTP_ACCEPT_LANGUAGE="zh-CN")["Content-Language"] == "zh-hans"


def test_a_refused_action_is_explained_in_the_readers_language(signed_in, commander, incident):
    client = signed_in(commander)
    response = client.post(f"/incidents/{incident.key}/log/", {"body": "/sev 9"}, headers=HTMX, **CHINESE)
    html = response.content.decode()
    assert "未知严重级别 &#x27;9&#x27;" in html
    assert "Unknown severity" not in html
    english = client.post(f"/incidents/{incident.key}/log/", {"body": "/sev 9"}, headers=HTMX).content.decode()
    assert "Unknown severity" in english


def test_durations_are_in_the_readers_language(signed_in, commander, incident):
    html = page(signed_in(commander), f"/incidents/{incident.key}/", **CHINESE)
    elapsed = html[html.index('class="elapsed"') :]
    elapsed = elapsed[: elapsed.index("</strong>")]
    assert "分钟" in elapsed and "min" not in elapsed
    english = page(signed_in(commander), f"/incidents/{incident.key}/")
    assert " min</strong>" in english
