"""System timeline lines are shown in the reader's language (issue #14): a change made by
someone reading English reads in Chinese to a Chinese reader, in the war room, its live
fragments and the API's `text`, while `body` keeps the English that search and exports read.
Notes stay as typed; entries written before lines were translatable show their stored body."""

import re

import pytest
from django.urls import reverse
from django.utils import translation

from incidents import services
from incidents.entry_html import remembered
from incidents.models import TimelineEntry
from incidents.security import mitigations
from tests.conftest import HTMX

CHINESE = {"accept-language": "zh-CN,zh;q=0.9"}
# English a system line used to show a Chinese reader.
ENGLISH_WORDS = ("Declared", "Status changed", "Severity changed", "joined as", "Impact:", "partial outage",
                 "Mitigation in force", "Acknowledged by", "Affected services", "commander")  # fmt: skip


@pytest.fixture(autouse=True)
def site_language_after():
    """A request in Chinese leaves Chinese active in this thread: the next test starts in the
    site's language again."""
    yield
    translation.deactivate()


def timeline_of(response):
    return re.search(r'<ol id="timeline-list".*?</ol>', response.content.decode(), re.S).group(0)


@pytest.fixture
def changed_by_english_users(commander, responder, web_chat, declare):
    """An incident declared and worked on by people whose pages are in English."""
    with translation.override("en"):
        incident = declare(services=[web_chat])
        services.change_status(incident, "identified", commander)
        services.change_severity(incident, 1, commander)
        services.assign_role(incident, responder, "responder", commander)
        services.add_impact(incident, commander, service=web_chat, level="partial_outage", regions=["eu"])
        mitigations.add_mitigation(incident, commander, title="Sign-ups restricted", description="Bots")
        services.log_entry(incident, commander, "Bots from three ASNs")
    return incident


def test_a_change_by_an_english_user_reads_in_chinese_to_a_chinese_reader(as_user, responder, changed_by_english_users):
    incident = changed_by_english_users
    remembered.clear()
    timeline = timeline_of(as_user(responder).get(incident.get_absolute_url(), headers=CHINESE))
    assert "已宣布 INC-" in timeline and "受影响服务：Web chat" in timeline
    assert "状态已变更：调查中 → 已确定原因" in timeline
    assert "严重级别已变更：SEV2 → SEV1" in timeline
    assert "resp 以响应人员身份加入" in timeline
    assert "影响：Web chat在 eu 部分中断" in timeline
    assert "缓解措施生效：<strong>Sign-ups restricted</strong>（内部）" in timeline
    assert "Bots from three ASNs" in timeline  # a note stays as it was typed
    for english in ENGLISH_WORDS:
        assert english not in timeline, english


def test_the_same_lines_read_in_english_to_an_english_reader(as_user, commander, changed_by_english_users):
    timeline = timeline_of(as_user(commander).get(changed_by_english_users.get_absolute_url()))
    assert "Status changed: investigating → identified." in timeline
    assert "resp joined as responder." in timeline
    assert "Impact: Web chat partial outage in eu." in timeline


def test_the_api_keeps_the_english_body_and_adds_the_text_in_the_readers_language(
    api, responder, changed_by_english_users
):
    incident = changed_by_english_users
    url = f"/api/v1/incidents/{incident.key}/timeline/"
    chinese = api(responder).get(url, headers=CHINESE).json()["results"]
    status = next(e for e in chinese if e["kind"] == "status")
    assert status["body"] == "Status changed: investigating → identified."
    assert status["text"] == "状态已变更：调查中 → 已确定原因。"
    note = next(e for e in chinese if e["kind"] == "note")
    assert note["body"] == note["text"] == "Bots from three ASNs"
    english = api(responder).get(url).json()["results"]
    assert all(e["text"] == e["body"] for e in english)


def test_an_entry_added_later_reaches_a_chinese_reader_in_chinese_through_the_live_poll(
    as_user, commander, responder, incident
):
    client = as_user(responder)
    client.get(incident.get_absolute_url(), headers=CHINESE)
    incident.refresh_from_db()
    after = incident.timeline.order_by("-id").values_list("id", flat=True).first()
    live = f"{reverse('incidents:live', args=[incident.key])}?v={incident.version}&after={after}"
    with translation.override("en"):
        services.change_status(incident, "monitoring", commander, expected="investigating")
    patch = client.get(live, headers={**HTMX, **CHINESE}).content.decode()
    assert "状态已变更：调查中 → 监控中" in patch and "Status changed" not in patch


def test_a_remembered_entry_is_never_served_in_another_language(as_user, responder, changed_by_english_users):
    incident = changed_by_english_users
    remembered.clear()
    client = as_user(responder)
    english = timeline_of(client.get(incident.get_absolute_url()))
    chinese = timeline_of(client.get(incident.get_absolute_url(), headers=CHINESE))
    again = timeline_of(client.get(incident.get_absolute_url()))  # from memory this time
    assert "Status changed" in english and "Status changed" not in chinese and "状态已变更" in chinese
    assert again == english


def test_an_entry_written_before_lines_were_translatable_shows_its_stored_body(as_user, responder, incident):
    services.change_severity(incident, 1, incident.memberships.get(role="commander").user)
    entry = incident.timeline.get(kind=TimelineEntry.Kind.SEVERITY)
    TimelineEntry.objects.filter(pk=entry.pk).update(line={}, body="Severity changed: SEV2 → SEV1 (old row).")
    timeline = timeline_of(as_user(responder).get(incident.get_absolute_url(), headers=CHINESE))
    assert "Severity changed: SEV2 → SEV1 (old row)." in timeline


def test_a_line_whose_translation_does_not_fit_falls_back_to_the_body(incident):
    entry = incident.timeline.get(kind=TimelineEntry.Kind.DECLARED)
    entry.line = {"msg": "Declared {reference} as {missing}.", "params": {"reference": incident.reference}}
    assert entry.text == entry.body


def test_a_stored_choice_only_names_the_projects_own_classes(incident):
    entry = incident.timeline.get(kind=TimelineEntry.Kind.DECLARED)
    entry.line = {"msg": "{x}", "params": {"x": {"choice": "os:path", "value": "v"}}}
    assert entry.text == "v"


# Refusals and legal clocks in the reader's language ------------------------------------------------


def test_a_refusal_reads_in_the_readers_language(api, responder, incident):
    url = f"/api/v1/incidents/{incident.key}/"
    chinese = api(responder).patch(url, {"severity": 1}, format="json", headers=CHINESE)
    assert chinese.status_code == 403
    assert chinese.json()["detail"] == "只有该事件的指挥官可以修改它。"
    english = api(responder).patch(url, {"severity": 1}, format="json")
    assert english.json()["detail"] == "Only the incident's commanders may change it."


def test_a_clocks_obligation_note_and_its_timeline_line_read_in_chinese(as_user, commander, declare):
    from datetime import timedelta

    from django.utils import timezone

    from incidents.models import Obligation
    from incidents.security import clocks

    breach = declare(title="Chat logs exposed", kind="data_exposure", confidential=True, severity=1)
    aware = timezone.now() - timedelta(hours=1)
    services.correct_time(breach, "aware_at", aware, commander, reason="researcher e-mail")
    with translation.override("en"):
        clocks.start_clock(breach, Obligation.objects.get(key="gdpr-33"), commander, started_at=aware)
    client = as_user(commander)
    panel = client.get(reverse("incidents:security:clocks", args=[breach.key]), headers=CHINESE).content.decode()
    assert "72 小时，“不得无故拖延，在可行时”" in panel
    assert "without undue delay, where feasible" not in panel
    timeline = timeline_of(client.get(breach.get_absolute_url(), headers=CHINESE))
    assert "时限已开始：欧盟 GDPR 第 33 条（" in timeline and "已更正知悉时间" in timeline
    assert "Clock started" not in timeline and "Corrected aware time" not in timeline
