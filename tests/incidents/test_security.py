"""Security incidents: mitigations (and what the status page gets of them), the data-exposure
assessment, confidential-by-default, the legal-clocks panel, the audit trail and its export,
reminder points, and the REST API for all of it.

Every access rule is tried from each side: the incident's commander, a responder, a viewer,
an outsider, the security group and a superuser.
"""

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from incidents import services
from incidents.comms.services import placeholders
from incidents.models import Communication, ExposureAssessment, Incident, Mitigation, Obligation, TimelineEntry
from incidents.security import clocks as regulatory
from incidents.security import mitigations as sec
from statuspage.public import public_mitigations
from tests.conftest import HTMX, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser(django_user_model):
    return make_user(django_user_model, "root", is_superuser=True, is_staff=True)


@pytest.fixture
def breach(declare):
    """A data-exposure incident, confidential by default, commanded by `cmdr`."""
    return declare(title="Chat logs database exposed", kind="data_exposure", severity=1)


def aware(incident, by, hours_ago=2):
    when = timezone.now() - timedelta(hours=hours_ago)
    services.correct_time(incident, "aware_at", when, by, reason="researcher e-mail")
    incident.refresh_from_db()
    return incident.aware_at


def start(incident, key, by, **kwargs):
    return regulatory.start_clock(incident, Obligation.objects.get(key=key), by, **kwargs)


def published_update(incident):
    return Communication.objects.create(
        incident=incident,
        audience=Communication.Audience.STATUS_PAGE,
        body="We are investigating.",
        status=Communication.Status.PUBLISHED,
        published_at=timezone.now(),
    )


def mitigation(incident, by, **kwargs):
    kwargs.setdefault("title", "Sign-ups limited to +86 numbers")
    kwargs.setdefault("description", "Phone verification accepts only +86 numbers.")
    return sec.add_mitigation(incident, by, **kwargs)


def last_entry(incident):
    return incident.timeline.order_by("-id").first()


# Mitigations ----------------------------------------------------------------------------------


def test_commander_records_a_mitigation_and_the_timeline_says_so(incident, commander):
    m = mitigation(
        incident,
        commander,
        affects="New users outside China",
        public=True,
        public_explanation="Sign-ups are limited for now.",
    )
    entry = last_entry(incident)
    assert entry.kind == TimelineEntry.Kind.MITIGATION and entry.author == commander
    assert "Sign-ups limited" in entry.body and "public" in entry.body
    assert entry.data["mitigation"] == m.pk
    new = {c["field"]: c["new"] for c in entry.data["changes"]}
    assert new["public"] is True and new["affects"] == "New users outside China"
    assert all(c["old"] is None for c in entry.data["changes"])


def test_public_mitigation_needs_a_plain_language_explanation(incident, commander):
    with pytest.raises(ValidationError) as exc:
        mitigation(incident, commander, public=True, public_explanation="  ")
    assert "public_explanation" in exc.value.message_dict
    assert not Mitigation.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"title": " "}, "title"),
        ({"description": ""}, "description"),
        ({"started_at": "in the future"}, "started_at"),
        ({"review_by": "before start"}, "review_by"),
    ],
)
def test_mitigation_input_is_checked(incident, commander, changes, field):
    now = timezone.now()
    if changes.get("started_at") == "in the future":
        changes["started_at"] = now + timedelta(hours=1)
    if changes.get("review_by") == "before start":
        changes["started_at"], changes["review_by"] = now - timedelta(hours=1), now - timedelta(hours=2)
    with pytest.raises(ValidationError) as exc:
        mitigation(incident, commander, **changes)
    assert field in exc.value.message_dict


def test_updating_a_mitigation_logs_each_field_old_and_new(incident, commander):
    m = mitigation(incident, commander)
    review = timezone.now() + timedelta(hours=6)
    sec.update_mitigation(m, commander, public=True, public_explanation="Sign-ups are limited.", review_by=review)
    entry = last_entry(incident)
    changes = {c["field"]: (c["old"], c["new"]) for c in entry.data["changes"]}
    assert changes == {
        "review_by": (None, review.isoformat()),
        "public": (False, True),
        "public_explanation": ("", "Sign-ups are limited."),
    }
    count = incident.timeline.count()
    sec.update_mitigation(m, commander, public=True)  # no change: nothing logged
    assert incident.timeline.count() == count


def test_lifting_is_one_logged_action(incident, commander):
    m = mitigation(incident, commander, public=True, public_explanation="Sign-ups are limited.")
    lifted = sec.lift_mitigation(m, commander, note="Bot traffic gone.")
    assert lifted.ended_at is not None and not lifted.in_force
    entry = last_entry(incident)
    assert entry.kind == TimelineEntry.Kind.MITIGATION and entry.author == commander
    assert entry.body.startswith("Mitigation lifted: **Sign-ups limited") and "Bot traffic gone." in entry.body
    assert entry.data["changes"] == [{"field": "ended_at", "old": None, "new": lifted.ended_at.isoformat()}]
    with pytest.raises(ValidationError):
        sec.lift_mitigation(m, commander)


def test_only_commanders_and_security_manage_mitigations(breach, incident, commander, responder, viewer, security):
    for user in (responder, viewer):
        with pytest.raises(PermissionDenied):
            mitigation(incident, user)
    m = mitigation(incident, commander)
    for user in (responder, viewer):
        with pytest.raises(PermissionDenied):
            sec.lift_mitigation(m, user)
        with pytest.raises(PermissionDenied):
            sec.update_mitigation(m, user, title="x")
    assert mitigation(breach, security).created_by == security


def test_security_group_member_manages_mitigations_of_any_incident(breach, django_user_model):
    member = make_user(django_user_model, "sec2", "security")
    m = mitigation(breach, member)
    lifted = sec.lift_mitigation(m, member)
    assert lifted.ended_at is not None


def test_status_page_gets_mitigations_only_when_public_and_while_active(declare, commander):
    shown = declare(title="Sign-up flood", kind="availability")
    published_update(shown)
    public = mitigation(shown, commander, title="Public one", public=True, public_explanation="New sign-ups limited.")
    mitigation(shown, commander, title="Internal one")
    lifted = mitigation(shown, commander, title="Lifted one", public=True, public_explanation="Was limited.")
    sec.lift_mitigation(lifted, commander)
    hidden = declare(title="Keys leaked", kind="security")  # confidential by default
    published_update(hidden)
    mitigation(hidden, commander, title="Hidden one", public=True, public_explanation="Keys rotated.")
    unannounced = declare(title="Not on the status page yet")
    mitigation(unannounced, commander, title="Unannounced", public=True, public_explanation="Limited.")

    result = public_mitigations()
    assert result == [
        {
            "id": public.pk,
            "explanation": "New sign-ups limited.",
            "started_at": public.started_at,
            "incident_title": "Sign-up flood",
        }
    ]
    sec.update_mitigation(public, commander, public=False)
    assert public_mitigations() == []


def test_communication_templates_offer_public_mitigations_in_force(incident, commander):
    mitigation(incident, commander, public=True, public_explanation="New sign-ups limited to +86 numbers.")
    mitigation(incident, commander, title="Internal")
    assert placeholders(incident)["mitigations"] == "- New sign-ups limited to +86 numbers."


def test_in_force_page_lists_visible_mitigations_oldest_first_with_overdue_reviews(
    as_user, declare, commander, viewer, outsider, django_assert_max_num_queries
):
    now = timezone.now()
    a = declare(title="Flood A")
    b = declare(title="Flood B")
    newer = mitigation(a, commander, title="Newer", started_at=now - timedelta(hours=1))
    older = mitigation(
        b, commander, title="Older", started_at=now - timedelta(hours=5), review_by=now - timedelta(hours=1)
    )
    gone = mitigation(a, commander, title="Gone", started_at=now - timedelta(hours=9))
    sec.lift_mitigation(gone, commander)
    secret = declare(title="Secret breach", kind="security")
    mitigation(secret, commander, title="Secret measure")

    response = as_user(viewer).get(reverse("mitigations:in_force"))
    page = response.content.decode()
    assert response.status_code == 200
    assert page.index("Older") < page.index("Newer")
    assert "Gone" not in page and "Secret measure" not in page and "Secret breach" not in page
    rows = page.split('data-testid="in-force-')[1:]
    assert rows[0].startswith(str(older.pk)) and 'class="overdue"' in rows[0]
    assert rows[1].startswith(str(newer.pk)) and "overdue" not in rows[1]
    assert "Secret measure" in as_user(commander).get(reverse("mitigations:in_force")).content.decode()

    for i in range(10):
        mitigation(declare(title=f"x{i}"), commander, title=f"m{i}")
    client = as_user(outsider)
    with django_assert_max_num_queries(6):
        assert client.get(reverse("mitigations:in_force")).status_code == 200


def test_in_force_page_needs_sign_in(client):
    assert client.get(reverse("mitigations:in_force")).status_code == 302


# Exposure assessment ----------------------------------------------------------------------------


def test_first_assessment_logs_every_field_set(breach, commander):
    sec.assess_exposure(
        breach, commander, certainty="suspected", categories=["chat", "credentials"], jurisdictions=["DE", "CN"]
    )
    entry = last_entry(breach)
    assert entry.kind == TimelineEntry.Kind.EXPOSURE and entry.author == commander
    changes = {c["field"]: (c["old"], c["new"]) for c in entry.data["changes"]}
    assert changes["categories"] == (None, ["chat", "credentials"])
    assert changes["jurisdictions"] == (None, ["DE", "CN"])
    assert changes["certainty"] == (None, "suspected")
    assert ExposureAssessment.objects.get(incident=breach).updated_by == commander


def test_assessment_change_logs_each_changed_field_with_who_and_when(breach, commander, security):
    security_user = security
    sec.assess_exposure(breach, commander, categories=["chat"], people_affected=1000)
    before = timezone.now()
    sec.assess_exposure(
        breach,
        security_user,
        certainty="confirmed",
        categories=["chat", "credentials"],
        people_affected=1200000,
        confidence="high",
    )
    entry = last_entry(breach)
    assert entry.author == security_user and entry.recorded_at >= before
    changes = {c["field"]: (c["old"], c["new"]) for c in entry.data["changes"]}
    assert changes == {
        "certainty": ("suspected", "confirmed"),
        "categories": (["chat"], ["chat", "credentials"]),
        "people_affected": (1000, 1200000),
        "confidence": ("low", "high"),
    }
    assert "people affected: 1,000 → 1,200,000" in entry.body
    count = breach.timeline.count()
    sec.assess_exposure(breach, commander, certainty="confirmed")  # no change: nothing logged
    assert breach.timeline.count() == count


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"categories": ["bogus"]}, "categories"),
        ({"categories": "chat"}, "categories"),
        ({"jurisdictions": ["de"]}, "jurisdictions"),
        ({"jurisdictions": ["DEU"]}, "jurisdictions"),
        ({"jurisdictions": "DE"}, "jurisdictions"),
        ({"people_affected": -1}, "people_affected"),
        ({"records_affected": True}, "records_affected"),
        ({"records_affected": 2**63}, "records_affected"),
        ({"certainty": "maybe"}, "certainty"),
        ({"confidence": "very"}, "confidence"),
        ({"found_by": "psychic"}, "found_by"),
        ({"encrypted": "yes"}, "encrypted"),
        ({"updated_by": 1}, "updated_by"),
    ],
)
def test_assessment_input_is_validated(breach, commander, changes, field):
    with pytest.raises(ValidationError) as exc:
        sec.assess_exposure(breach, commander, **changes)
    assert field in exc.value.message_dict
    assert not ExposureAssessment.objects.exists()


def test_only_commanders_and_security_assess(incident, responder, viewer):
    for user in (responder, viewer):
        with pytest.raises(PermissionDenied):
            sec.assess_exposure(incident, user, certainty="confirmed")


# Confidential by default -------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "expected"), [("security", True), ("data_exposure", True), ("availability", False)])
def test_security_and_data_exposure_incidents_are_confidential_by_default(declare, kind, expected):
    assert declare(title="x", kind=kind).confidential is expected


def test_declarer_may_still_choose_either_way(declare):
    assert declare(title="x", kind="security", confidential=False).confidential is False
    assert declare(title="y", kind="availability", confidential=True).confidential is True


def test_declare_form_defaults_to_confidential_for_security_kinds(as_user, commander, viewer):
    client = as_user(commander)
    form = client.get(reverse("incidents:declare")).content.decode()
    assert 'name="confidential"' in form and "As the kind suggests" in form
    client.post(reverse("incidents:declare"), {"title": "Keys leaked", "severity": "1", "kind": "data_exposure"})
    client.post(
        reverse("incidents:declare"), {"title": "Bots", "severity": "2", "kind": "security", "confidential": "no"}
    )
    client.post(reverse("incidents:declare"), {"title": "Slow", "severity": "3", "kind": "performance"})
    client.post(
        reverse("incidents:declare"), {"title": "Quiet", "severity": "3", "kind": "performance", "confidential": "yes"}
    )
    got = dict(Incident.objects.values_list("title", "confidential"))
    assert got == {"Keys leaked": True, "Bots": False, "Slow": False, "Quiet": True}
    assert not Incident.objects.visible_to(viewer).filter(title="Keys leaked").exists()


def test_api_declares_security_kinds_confidential_when_the_field_is_omitted(api, commander):
    client = api(commander)
    leaked = client.post(
        "/api/v1/incidents/", {"title": "Keys leaked", "severity": 1, "kind": "security"}, format="json"
    )
    open_ = client.post(
        "/api/v1/incidents/", {"title": "Bots", "severity": 2, "kind": "security", "confidential": False}, format="json"
    )
    down = client.post("/api/v1/incidents/", {"title": "Down", "severity": 2}, format="json")
    assert leaked.json()["confidential"] is True
    assert open_.json()["confidential"] is False
    assert down.json()["confidential"] is False


# Reminder points -------------------------------------------------------------------------------


def test_reminder_points_are_half_window_an_hour_before_and_the_deadline():
    start_ = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    stage = regulatory.StageState(
        name="Notification", recipient="DPA", due_at=start_ + timedelta(hours=72), submission=None, starts_at=start_
    )
    points = regulatory.reminder_points(stage)
    assert points.half_window == start_ + timedelta(hours=36)
    assert points.hour_before == start_ + timedelta(hours=71)
    assert points.missed == start_ + timedelta(hours=72)


def test_reminder_points_of_real_clocks(breach, commander):
    aware_at = aware(breach, commander, hours_ago=1)
    gdpr = start(breach, "gdpr-33", commander)
    (stage,) = regulatory.stages_of(gdpr)
    points = regulatory.reminder_points(stage)
    assert (points.half_window, points.hour_before, points.missed) == (
        aware_at + timedelta(hours=36),
        aware_at + timedelta(hours=71),
        aware_at + timedelta(hours=72),
    )
    cii = start(breach, "cn-incident-cii", commander)  # a one-hour window: "an hour before" is its start
    (stage,) = regulatory.stages_of(cii)
    assert regulatory.reminder_points(stage).hour_before == aware_at
    pipl = start(breach, "pipl-57", commander)
    assert regulatory.reminder_points(regulatory.stages_of(pipl)[0]) is None  # no due time, nothing to count to


# The clocks panel ---------------------------------------------------------------------------------


def clocks_url(incident):
    return reverse("incidents:security:clocks", args=[incident.key])


def test_clock_panel_disclaimer_is_in_the_readers_language(as_user, breach, commander):
    aware(breach, commander)
    start(breach, "gdpr-33", commander)
    page = as_user(commander).get(clocks_url(breach), headers={"accept-language": "zh-CN"}).content.decode()
    assert "不构成法律意见" in page
    assert "not legal advice" not in page


def test_clock_panel_names_the_seeded_obligations_in_the_readers_language(as_user, breach, commander):
    aware(breach, commander)
    start(breach, "nis2-23", commander)
    page = as_user(commander).get(clocks_url(breach), headers={"accept-language": "zh-CN"}).content.decode()
    assert "欧盟 NIS2 第 23 条" in page and "CSIRT 或主管机关" in page and "知悉重大事件" in page
    assert "早期预警" in page and "最终报告" in page
    assert ">EU NIS2 Art. 23" not in page and ">Early warning<" not in page
    english = as_user(commander).get(clocks_url(breach)).content.decode()
    assert "EU NIS2 Art. 23" in english and "Early warning" in english


def test_clock_panel_shows_countdowns_due_now_and_the_disclaimer(as_user, breach, commander):
    aware_at = aware(breach, commander, hours_ago=2)
    start(breach, "gdpr-33", commander)
    start(breach, "pipl-57", commander, target_hours=24)
    response = as_user(commander).get(clocks_url(breach))
    page = response.content.decode()
    assert response.status_code == 200
    assert str(regulatory.DISCLAIMER) in page
    due = timezone.localtime(aware_at + timedelta(hours=72)).isoformat()
    assert f'<time datetime="{due}" data-testid="due-at">' in page
    assert "2 d 21 h</span> left" in page  # 72 h from awareness two hours ago
    assert 'data-testid="due-now">due now' in page and "team target" in page
    assert "Record a submission" in page
    assert "<script" not in page and " onclick" not in page


def test_overdue_stage_is_marked_in_red(as_user, breach, commander):
    aware(breach, commander, hours_ago=80)
    start(breach, "gdpr-33", commander)
    page = as_user(commander).get(clocks_url(breach)).content.decode()
    assert 'class="stage overdue"' in page and "overdue by 8 h" in page


def test_clock_times_are_shown_in_the_viewers_time_zone(as_user, breach, commander):
    aware(breach, commander)
    start(breach, "gdpr-33", commander)
    client = as_user(commander)
    client.cookies["tz"] = "Asia/Shanghai"
    page = client.get(clocks_url(breach)).content.decode()
    assert "UTC+08:00" in page and "CST" not in page


def test_panel_starts_suggested_clock_in_one_click_and_returns_the_fresh_panel(as_user, breach, commander):
    aware(breach, commander)
    sec.assess_exposure(breach, commander, categories=["chat"], jurisdictions=["DE", "CN"])
    client = as_user(commander)
    page = client.get(clocks_url(breach)).content.decode()
    assert 'aria-label="Start EU GDPR Art. 33"' in page and 'aria-label="Start China PIPL Art. 57"' in page
    response = client.post(
        reverse("incidents:security:start_clock", args=[breach.key]), {"obligation": "gdpr-33"}, headers=HTMX
    )
    assert response.status_code == 200 and response["HX-Trigger"] == "warroom-changed"
    assert 'data-testid="clock-gdpr-33"' in response.content.decode()
    assert 'aria-label="Start EU GDPR Art. 33"' not in response.content.decode()
    assert breach.clocks.get().obligation.key == "gdpr-33"


def test_panel_records_awareness_submissions_and_not_required(as_user, breach, commander):
    client = as_user(commander)
    when = timezone.localtime(timezone.now() - timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        reverse("incidents:security:awareness", args=[breach.key]), {"value": when, "reason": "SOC alert"}, headers=HTMX
    )
    assert response.status_code == 200 and 'data-testid="aware-at">' in response.content.decode()
    breach.refresh_from_db()
    assert breach.aware_at is not None and last_entry(breach).data["field"] == "aware_at"
    gdpr = start(breach, "gdpr-33", commander)
    hipaa = start(breach, "hipaa", commander)
    response = client.post(
        reverse("incidents:security:submit", args=[breach.key, gdpr.pk]),
        {"stage": "Notification", "reference": "DPA-2026-118"},
        headers=HTMX,
    )
    assert 'data-testid="reference">DPA-2026-118' in response.content.decode()
    response = client.post(
        reverse("incidents:security:not_required", args=[breach.key, hipaa.pk]), {"reason": ""}, headers=HTMX
    )
    assert 'role="alert"' in response.content.decode()
    response = client.post(
        reverse("incidents:security:not_required", args=[breach.key, hipaa.pk]), {"reason": "No US health data"}
    )
    assert response.status_code == 302
    hipaa.refresh_from_db()
    assert hipaa.status == "not_required"


def test_panel_refuses_a_communication_of_another_incident(as_user, breach, incident, commander):
    aware(breach, commander)
    gdpr = start(breach, "gdpr-33", commander)
    other = published_update(incident)
    response = as_user(commander).post(
        reverse("incidents:security:submit", args=[breach.key, gdpr.pk]),
        {"stage": "Notification", "communication": other.pk},
        headers=HTMX,
    )
    assert 'role="alert"' in response.content.decode()
    assert not gdpr.submissions.exists()


def test_viewer_reads_the_panel_of_a_visible_incident_without_forms(as_user, incident, commander, viewer):
    aware(incident, commander)
    start(incident, "in-certin", commander)
    page = as_user(viewer).get(clocks_url(incident)).content.decode()
    assert "CERT-In" in page and "Record a submission" not in page and "<form" not in page
    response = as_user(viewer).post(
        reverse("incidents:security:start_clock", args=[incident.key]), {"obligation": "gdpr-33"}, headers=HTMX
    )
    assert (
        'role="alert"' in response.content.decode() and not incident.clocks.filter(obligation__key="gdpr-33").exists()
    )


def test_outsiders_get_404_for_every_security_page_of_a_confidential_incident(
    as_user, breach, commander, outsider, viewer, responder
):
    aware(breach, commander)
    clock = start(breach, "gdpr-33", commander)
    m = mitigation(breach, commander)
    pages = [
        ("get", reverse("incidents:security:page", args=[breach.key])),
        ("get", clocks_url(breach)),
        ("get", reverse("incidents:security:audit", args=[breach.key])),
        ("get", reverse("incidents:security:audit", args=[breach.key]) + "?format=csv"),
        ("get", reverse("incidents:security:edit_mitigation", args=[breach.key, m.pk])),
        ("post", reverse("incidents:security:start_clock", args=[breach.key])),
        ("post", reverse("incidents:security:awareness", args=[breach.key])),
        ("post", reverse("incidents:security:submit", args=[breach.key, clock.pk])),
        ("post", reverse("incidents:security:not_required", args=[breach.key, clock.pk])),
        ("post", reverse("incidents:security:correct_start", args=[breach.key, clock.pk])),
        ("post", reverse("incidents:security:add_mitigation", args=[breach.key])),
        ("post", reverse("incidents:security:lift_mitigation", args=[breach.key, m.pk])),
        ("post", reverse("incidents:security:exposure", args=[breach.key])),
    ]
    for user in (outsider, viewer, responder):
        client = as_user(user)
        for method, path in pages:
            response = getattr(client, method)(path)
            assert response.status_code == 404, (user, path)
            assert b"Chat logs" not in response.content
    m.refresh_from_db()
    assert m.in_force


def test_clock_panel_queries_are_bounded(as_user, breach, commander, django_assert_max_num_queries):
    aware(breach, commander)
    sec.assess_exposure(breach, commander, categories=["chat"], jurisdictions=["DE", "CN", "US"])
    for key in ("gdpr-33", "pipl-57", "nis2-23", "dora-19", "hipaa", "sec-8k-105"):
        clock = start(breach, key, commander)
        regulatory.record_submission(clock, regulatory.stages_of(clock)[0].name, commander, reference="r")
    client = as_user(commander)
    with django_assert_max_num_queries(14):
        assert client.get(clocks_url(breach)).status_code == 200
    with django_assert_max_num_queries(20):
        assert client.get(reverse("incidents:security:page", args=[breach.key])).status_code == 200


# The security page: mitigations and assessment forms ------------------------------------------------


def test_security_page_records_a_mitigation_and_an_assessment(as_user, breach, commander, viewer):
    client = as_user(commander)
    response = client.post(
        reverse("incidents:security:add_mitigation", args=[breach.key]),
        {"title": "Sign-ups limited", "description": "Only +86 numbers", "public": "on", "public_explanation": ""},
    )
    assert response.status_code == 400 and "plain-language explanation" in response.content.decode()
    response = client.post(
        reverse("incidents:security:add_mitigation", args=[breach.key]),
        {
            "title": "Sign-ups limited",
            "description": "Only +86 numbers",
            "public": "on",
            "public_explanation": "Limited for now.",
        },
    )
    assert response.status_code == 302
    response = client.post(
        reverse("incidents:security:exposure", args=[breach.key]),
        {
            "certainty": "confirmed",
            "categories": ["chat", "credentials"],
            "people_affected": "1200000",
            "confidence": "medium",
            "jurisdictions": "de, cn",
            "encrypted": "false",
            "found_by": "researcher",
        },
    )
    assert response.status_code == 302
    assessment = ExposureAssessment.objects.get(incident=breach)
    assert assessment.jurisdictions == ["DE", "CN"] and assessment.encrypted is False
    response = client.post(
        reverse("incidents:security:exposure", args=[breach.key]),
        {
            "certainty": "confirmed",
            "confidence": "medium",
            "found_by": "researcher",
            "jurisdictions": "Germany",
            "people_affected": "-3",
        },
    )
    assert response.status_code == 400
    page = client.get(reverse("incidents:security:page", args=[breach.key])).content.decode()
    assert "Sign-ups limited" in page and "1200000" in page and "Audit trail" in page


def test_editing_a_mitigation_keeps_untouched_times(as_user, incident, commander):
    m = mitigation(incident, commander, started_at=timezone.now() - timedelta(minutes=30, seconds=17))
    client = as_user(commander)
    form = client.get(reverse("incidents:security:edit_mitigation", args=[incident.key, m.pk]))
    assert form.status_code == 200
    started = timezone.localtime(m.started_at).strftime("%Y-%m-%dT%H:%M")
    client.post(
        reverse("incidents:security:edit_mitigation", args=[incident.key, m.pk]),
        {"title": m.title, "description": m.description, "started_at": started, "affects": "Everyone outside CN"},
    )
    entry = last_entry(incident)
    assert [c["field"] for c in entry.data["changes"]] == ["affects"]


def test_lift_button_lifts(as_user, incident, commander, viewer):
    m = mitigation(incident, commander)
    response = as_user(viewer).post(reverse("incidents:security:lift_mitigation", args=[incident.key, m.pk]))
    assert response.status_code == 302
    m.refresh_from_db()
    assert m.in_force  # a viewer may not
    as_user(commander).post(reverse("incidents:security:lift_mitigation", args=[incident.key, m.pk]), {"note": "done"})
    m.refresh_from_db()
    assert not m.in_force


# Audit trail and export ------------------------------------------------------------------------


@pytest.fixture
def eventful(breach, commander, responder, security):
    """A breach with one change of every kind."""
    services.assign_role(breach, responder, "responder", commander)
    note = services.log_entry(breach, responder, "Bucket was public since Monday")
    services.edit_entry(note, responder, "Bucket was public since Sunday")
    services.change_severity(breach, 2, commander)
    aware(breach, commander, hours_ago=5)
    m = mitigation(breach, commander, public=True, public_explanation="Sign-ups limited.")
    sec.update_mitigation(m, security, review_by=timezone.now() + timedelta(hours=4))
    sec.lift_mitigation(m, commander)
    sec.assess_exposure(breach, security, categories=["chat"], jurisdictions=["DE"])
    sec.assess_exposure(breach, security, people_affected=5000)
    gdpr = start(breach, "gdpr-33", commander)
    regulatory.record_submission(gdpr, "Notification", commander, reference="DPA-1")
    regulatory.correct_clock_start(gdpr, gdpr.started_at - timedelta(hours=1), security, "earlier alert")
    return breach


def audit_url(incident, fmt=""):
    return reverse("incidents:security:audit", args=[incident.key]) + (f"?format={fmt}" if fmt else "")


def test_audit_json_lists_every_change_with_actor_time_old_and_new(as_user, eventful, commander):
    response = as_user(commander).get(audit_url(eventful, "json"))
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="INC-{eventful.pk}-audit.json"'
    data = json.loads(response.content)
    rows = data["changes"]
    assert data["incident"]["reference"] == eventful.reference
    # Every timeline entry is in the export...
    assert {r["entry"] for r in rows} == set(eventful.timeline.values_list("id", flat=True))
    by_field = {}
    for r in rows:
        by_field.setdefault(r["field"], []).append(r)
    # ...with old and new values of each kind of change.
    assert by_field["severity"][0]["old"] == 1 and by_field["severity"][0]["new"] == 2
    assert by_field["aware_at"][0]["actor"] == "cmdr" and by_field["aware_at"][0]["new"]
    assert by_field["mitigation.review_by"][0]["actor"] == "sec"
    assert by_field["mitigation.ended_at"][0]["old"] is None and by_field["mitigation.ended_at"][0]["new"]
    assert (
        by_field["exposure.people_affected"][0]["old"] is None
        and by_field["exposure.people_affected"][0]["new"] == 5000
    )
    assert by_field["exposure.jurisdictions"][0]["new"] == ["DE"]
    assert by_field["submission"][0]["object"] == "clock gdpr-33 / Notification"
    assert by_field["clock.started_at"][0]["actor"] == "sec"
    edit = by_field["body"][0]
    assert (edit["old"], edit["new"], edit["actor"], edit["kind"]) == (
        "Bucket was public since Monday",
        "Bucket was public since Sunday",
        "resp",
        "edit",
    )
    times = [r["recorded_at"] for r in rows]
    assert times == sorted(times) and all(r["recorded_at"] for r in rows)


def test_audit_csv_parses_and_matches_the_json(as_user, eventful, security):
    client = as_user(security)
    response = client.get(audit_url(eventful, "csv"))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment;")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    json_rows = json.loads(client.get(audit_url(eventful, "json")).content)["changes"]
    assert len(rows) == len(json_rows) > 15
    assert list(rows[0]) == [
        "recorded_at",
        "occurred_at",
        "actor",
        "kind",
        "object",
        "field",
        "old",
        "new",
        "summary",
        "entry",
    ]
    jurisdictions = next(r for r in rows if r["field"] == "exposure.jurisdictions")
    assert json.loads(jurisdictions["new"]) == ["DE"]


def test_audit_csv_neutralises_spreadsheet_formulas(as_user, incident, commander):
    services.log_entry(incident, commander, '=HYPERLINK("http://evil")')
    rows = list(csv.DictReader(io.StringIO(as_user(commander).get(audit_url(incident, "csv")).content.decode())))
    note = next(r for r in rows if r["field"] == "note")
    assert note["new"].startswith("'=")


@pytest.mark.parametrize("who", ["commander", "security", "superuser"])
def test_audit_is_for_commanders_security_and_superusers(as_user, request, eventful, who):
    client = as_user(request.getfixturevalue(who))
    assert client.get(audit_url(eventful)).status_code == 200
    assert client.get(audit_url(eventful, "csv")).status_code == 200


def test_audit_is_refused_to_other_readers_and_hidden_from_outsiders(
    as_user, eventful, incident, responder, viewer, outsider
):
    # A responder on the confidential incident sees it, but not its audit trail.
    for fmt in ("", "csv", "json"):
        assert as_user(responder).get(audit_url(eventful, fmt)).status_code == 403
        assert as_user(outsider).get(audit_url(eventful, fmt)).status_code == 404
        assert as_user(viewer).get(audit_url(eventful, fmt)).status_code == 404
        assert as_user(viewer).get(audit_url(incident, fmt)).status_code == 403
    assert Client().get(audit_url(eventful, "csv")).status_code == 302


def test_audit_rejects_unknown_formats(as_user, incident, commander):
    assert as_user(commander).get(audit_url(incident, "xml")).status_code == 400


def test_audit_queries_are_bounded(as_user, eventful, commander, responder, django_assert_max_num_queries):
    client = as_user(commander)
    # One more than the timeline alone: the audience deliveries (who received which message).
    for fmt in ("", "csv", "json"):
        with django_assert_max_num_queries(9):
            client.get(audit_url(eventful, fmt))
    for i in range(30):
        entry = services.log_entry(eventful, responder, f"note {i}")
        services.edit_entry(entry, responder, f"note {i} (fixed)")
    for fmt in ("", "csv", "json"):
        with django_assert_max_num_queries(9):
            assert client.get(audit_url(eventful, fmt)).status_code == 200


# REST API -------------------------------------------------------------------------------------------


def api_url(incident, tail):
    return f"/api/v1/incidents/{incident.key}/{tail}"


def assert_field_error(response, field):
    assert response.status_code == 400, response.content
    body = response.json()
    assert field in body, body
    assert all(isinstance(m, str) and m for m in body[field]), body


def test_api_mitigations_list_create_patch_and_lift(api, incident, commander):
    client = api(commander)
    response = client.post(
        api_url(incident, "mitigations/"),
        {"title": "Sign-ups limited", "description": "+86 only", "public": True, "public_explanation": "Limited."},
        format="json",
    )
    assert response.status_code == 201, response.content
    mid = response.json()["id"]
    assert response.json()["in_force"] is True and response.json()["created_by"] == "cmdr"
    response = client.patch(
        api_url(incident, f"mitigations/{mid}/"), {"owner": "cmdr", "affects": "New users"}, format="json"
    )
    assert response.status_code == 200 and response.json()["owner"] == "cmdr"
    listed = client.get(api_url(incident, "mitigations/")).json()["results"]
    assert [m["id"] for m in listed] == [mid]
    response = client.post(api_url(incident, f"mitigations/{mid}/lift/"), {"note": "Gone"}, format="json")
    assert response.status_code == 200 and response.json()["in_force"] is False
    assert client.post(api_url(incident, f"mitigations/{mid}/lift/"), {}, format="json").status_code == 400
    other = mitigation(incident, commander, title="Second", started_at=timezone.now() - timedelta(hours=1))
    ended = (timezone.now() - timedelta(minutes=1)).isoformat()
    response = client.patch(api_url(incident, f"mitigations/{other.pk}/"), {"ended_at": ended}, format="json")
    assert response.status_code == 200 and response.json()["in_force"] is False
    assert last_entry(incident).body.startswith("Mitigation lifted")


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"description": "x"}, "title"),
        ({"title": "x"}, "description"),
        ({"title": "x", "description": "y", "public": True}, "public_explanation"),
        ({"title": "x", "description": "y", "public": "maybe"}, "public"),
        ({"title": "x", "description": "y", "owner": "nobody"}, "owner"),
        ({"title": "x", "description": "y", "owner": 5}, "owner"),
        ({"title": "x", "description": "y", "started_at": "2999-01-01T00:00:00Z"}, "started_at"),
        ({"title": "x", "description": "y", "started_at": "yesterday"}, "started_at"),
        ({"title": "x", "description": "y", "review_by": "0001-01-01T00:00:00Z"}, "review_by"),
        ({"title": "x", "description": "y", "review_by": "2000-01-01T00:00:00Z"}, "review_by"),
        ({"title": "x", "description": "y", "ended_at": "2020-01-01T00:00:00Z"}, "ended_at"),
        ({"title": "x\x00", "description": "y"}, "title"),
        ({"title": "x" * 201, "description": "y"}, "title"),
        ({"title": ["x"], "description": "y"}, "title"),
    ],
)
def test_api_mitigation_bad_input_is_400_keyed_by_field(api, incident, commander, payload, field):
    assert_field_error(api(commander).post(api_url(incident, "mitigations/"), payload, format="json"), field)
    assert not Mitigation.objects.exists()


def test_api_mitigations_access(api, breach, incident, commander, viewer, outsider, responder, security):
    m = mitigation(breach, commander)
    for user in (viewer, outsider):
        assert api(user).get(api_url(breach, "mitigations/")).status_code == 404
        assert (
            api(user).patch(api_url(breach, f"mitigations/{m.pk}/"), {"title": "x"}, format="json").status_code == 404
        )
    assert api(viewer).get(api_url(incident, "mitigations/")).status_code == 200
    response = api(viewer).post(api_url(incident, "mitigations/"), {"title": "x", "description": "y"}, format="json")
    assert response.status_code == 403 and "security group" in response.json()["detail"]
    assert api(responder).post(api_url(incident, "mitigations/"), {}, format="json").status_code == 403
    assert api(security).get(api_url(breach, "mitigations/")).status_code == 200
    assert api(None).get(api_url(incident, "mitigations/")).status_code in (401, 403)


def test_api_exposure_get_put_patch(api, breach, commander):
    client = api(commander)
    response = client.get(api_url(breach, "exposure/"))
    assert response.status_code == 200 and response.json()["assessed"] is False
    response = client.put(
        api_url(breach, "exposure/"),
        {
            "certainty": "confirmed",
            "categories": ["chat", "credentials"],
            "jurisdictions": ["DE", "CN"],
            "people_affected": 10,
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["assessed"] is True and response.json()["updated_by"] == "cmdr"
    response = client.patch(api_url(breach, "exposure/"), {"people_affected": 12, "encrypted": False}, format="json")
    assert response.json()["people_affected"] == 12 and response.json()["categories"] == ["chat", "credentials"]
    response = client.put(api_url(breach, "exposure/"), {"certainty": "confirmed"}, format="json")
    assert response.json()["categories"] == [] and response.json()["people_affected"] is None
    assert breach.timeline.filter(kind="exposure").count() == 3


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"categories": ["bogus"]}, "categories"),
        ({"categories": "chat"}, "categories"),
        ({"jurisdictions": ["de"]}, "jurisdictions"),
        ({"jurisdictions": ["Germany"]}, "jurisdictions"),
        ({"jurisdictions": [None]}, "jurisdictions"),
        ({"people_affected": -1}, "people_affected"),
        ({"people_affected": "many"}, "people_affected"),
        ({"records_affected": 2**64}, "records_affected"),
        ({"encrypted": "perhaps"}, "encrypted"),
        ({"certainty": "maybe"}, "certainty"),
        ({"found_by": 3}, "found_by"),
    ],
)
def test_api_exposure_bad_input_is_400_keyed_by_field(api, breach, commander, payload, field):
    assert_field_error(api(commander).patch(api_url(breach, "exposure/"), payload, format="json"), field)
    assert not ExposureAssessment.objects.exists()


def test_api_exposure_access(api, breach, incident, viewer, outsider, responder):
    assert api(outsider).get(api_url(breach, "exposure/")).status_code == 404
    assert api(outsider).patch(api_url(breach, "exposure/"), {"certainty": "x"}, format="json").status_code == 404
    assert api(viewer).get(api_url(incident, "exposure/")).status_code == 200
    assert api(viewer).patch(api_url(incident, "exposure/"), {"certainty": "bad"}, format="json").status_code == 403
    assert api(responder).put(api_url(incident, "exposure/"), {}, format="json").status_code == 403


def test_api_obligations_are_read_by_all_and_written_by_admins(api, viewer, commander, superuser, breach):
    listed = api(viewer).get("/api/v1/obligations/").json()
    assert {o["key"] for o in listed} >= {"gdpr-33", "pipl-57"}
    assert api(viewer).get("/api/v1/obligations/gdpr-33/").json()["stages"][0]["amount"] == 72
    new = {
        "key": "br-lgpd",
        "regime": "Brazil LGPD Art. 48",
        "recipient": "ANPD",
        "clock_starts": "Knowledge of the incident",
        "stages": [{"name": "Notification", "amount": 3, "unit": "business_days", "after": "start"}],
        "jurisdictions": ["BR"],
    }
    assert api(commander).post("/api/v1/obligations/", new, format="json").status_code == 403
    response = api(superuser).post("/api/v1/obligations/", new, format="json")
    assert response.status_code == 201, response.content
    aware(breach, superuser)
    start(breach, "gdpr-33", superuser)
    response = api(superuser).delete("/api/v1/obligations/gdpr-33/")
    assert_field_error(response, "key")
    response = api(superuser).patch(
        "/api/v1/obligations/gdpr-33/",
        {"stages": [{"name": "Notification", "amount": 48, "unit": "hours"}]},
        format="json",
    )
    assert_field_error(response, "stages")
    assert api(superuser).patch("/api/v1/obligations/gdpr-33/", {"notes": "Checked"}, format="json").status_code == 200
    assert api(superuser).delete("/api/v1/obligations/br-lgpd/").status_code == 204


@pytest.mark.parametrize(
    "stages",
    [
        [],
        "72h",
        [{"name": "x", "amount": 72}],
        [{"name": "x", "amount": 72, "unit": "weeks"}],
        [{"name": "x", "amount": -1, "unit": "hours"}],
        [{"name": "x", "amount": 1, "unit": "hours", "cap_hours": "soon"}],
        [{"name": "x", "amount": 1, "unit": "hours", "after": "y"}],
        [{"name": "x\x00", "amount": 1, "unit": "hours"}],
        [{"name": "x", "amount": 1, "unit": "hours"}, {"name": "x", "amount": 2, "unit": "hours"}],
        [{"name": "x", "amount": 10**9, "unit": "months"}],
        [{"name": "x", "amount": 1, "unit": "hours", "colour": "red"}],
        [{"name": 5, "amount": 1, "unit": "hours"}],
    ],
)
def test_api_obligation_with_bad_stages_is_400(api, superuser, stages):
    payload = {"key": "bad", "regime": "r", "recipient": "r", "clock_starts": "c", "stages": stages}
    assert_field_error(api(superuser).post("/api/v1/obligations/", payload, format="json"), "stages")


def test_api_clocks_start_list_submit_and_correct(api, breach, commander):
    client = api(commander)
    response = client.post(api_url(breach, "clocks/"), {"obligation": "gdpr-33"}, format="json")
    assert_field_error(response, "started_at")  # no awareness time yet
    aware_at = aware(breach, commander, hours_ago=2)
    response = client.post(api_url(breach, "clocks/"), {"obligation": "gdpr-33"}, format="json")
    assert response.status_code == 201, response.content
    gdpr = response.json()
    (stage,) = gdpr["stages"]
    assert datetime.fromisoformat(stage["due_at"]) == aware_at + timedelta(hours=72)
    assert 69 * 3600 < stage["time_left_seconds"] <= 70 * 3600 and stage["overdue"] is False
    assert gdpr["disclaimer"] == str(regulatory.DISCLAIMER)
    response = client.post(api_url(breach, "clocks/"), {"obligation": "pipl-57", "target_hours": 12}, format="json")
    (pipl,) = response.json()["stages"]
    assert (
        pipl["due_at"] is None and pipl["due_now"] is True and pipl["time_left_seconds"] is None and pipl["target_at"]
    )
    assert_field_error(client.post(api_url(breach, "clocks/"), {"obligation": "gdpr-33"}, format="json"), "obligation")

    comm = published_update(breach)
    response = client.post(
        api_url(breach, f"clocks/{gdpr['id']}/submit/"),
        {"stage": "Notification", "reference": "DPA-2026-118", "communication": comm.pk},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "done" and body["stages"][0]["submission"]["reference"] == "DPA-2026-118"
    assert body["stages"][0]["submission"]["communication"] == comm.pk
    response = client.post(
        api_url(breach, f"clocks/{gdpr['id']}/correct-start/"),
        {"started_at": (aware_at - timedelta(hours=1)).isoformat(), "reason": "earlier alert"},
        format="json",
    )
    assert response.status_code == 200
    assert datetime.fromisoformat(response.json()["stages"][0]["due_at"]) == aware_at + timedelta(hours=71)
    listed = client.get(api_url(breach, "clocks/")).json()
    assert [c["obligation"] for c in listed] == ["gdpr-33", "pipl-57"]
    response = client.post(
        api_url(breach, f"clocks/{listed[1]['id']}/not-required/"), {"reason": "No CN users"}, format="json"
    )
    assert response.json()["status"] == "not_required" and response.json()["stages"][0]["due_now"] is False


@pytest.mark.parametrize(
    ("tail", "payload", "field"),
    [
        ("clocks/", {"obligation": "nope"}, "obligation"),
        ("clocks/", {"obligation": ["gdpr-33"]}, "obligation"),
        ("clocks/", {}, "obligation"),
        ("clocks/", {"obligation": "hipaa", "started_at": "2999-01-01T00:00:00Z"}, "started_at"),
        ("clocks/", {"obligation": "hipaa", "started_at": "9999-12-31T23:59:59Z"}, "started_at"),
        ("clocks/", {"obligation": "hipaa", "target_hours": 0}, "target_hours"),
        ("clocks/", {"obligation": "hipaa", "target_hours": 10**12}, "target_hours"),
        ("clocks/{gdpr}/submit/", {"stage": "Nonsense"}, "stage"),
        ("clocks/{gdpr}/submit/", {}, "stage"),
        ("clocks/{gdpr}/submit/", {"stage": "Notification", "submitted_at": "2999-01-01T00:00:00Z"}, "submitted_at"),
        ("clocks/{gdpr}/submit/", {"stage": "Notification", "communication": 999999}, "communication"),
        ("clocks/{gdpr}/submit/", {"stage": "Notification", "communication": "abc"}, "communication"),
        ("clocks/{gdpr}/submit/", {"stage": "Notification", "reference": "r" * 201}, "reference"),
        ("clocks/{gdpr}/not-required/", {"reason": ""}, "reason"),
        ("clocks/{gdpr}/not-required/", {"reason": "   "}, "reason"),
        ("clocks/{gdpr}/correct-start/", {"started_at": "2000-01-01T00:00:00Z"}, "reason"),
        ("clocks/{gdpr}/correct-start/", {"started_at": "2999-01-01T00:00:00Z", "reason": "x"}, "started_at"),
        ("clocks/{gdpr}/correct-start/", {"started_at": "soon", "reason": "x"}, "started_at"),
    ],
)
def test_api_clock_bad_input_is_400_keyed_by_field(api, breach, commander, tail, payload, field):
    aware(breach, commander)
    gdpr = start(breach, "gdpr-33", commander)
    before = list(breach.timeline.values_list("id", flat=True))
    response = api(commander).post(api_url(breach, tail.format(gdpr=gdpr.pk)), payload, format="json")
    assert_field_error(response, field)
    assert list(breach.timeline.values_list("id", flat=True)) == before


def test_api_clocks_access(api, breach, incident, commander, viewer, outsider, responder, security):
    aware(breach, commander)
    gdpr = start(breach, "gdpr-33", commander)
    for user in (viewer, outsider, responder):
        assert api(user).get(api_url(breach, "clocks/")).status_code == 404
        assert (
            api(user)
            .post(api_url(breach, f"clocks/{gdpr.pk}/submit/"), {"stage": "Notification"}, format="json")
            .status_code
            == 404
        )
    assert api(security).get(api_url(breach, "clocks/")).status_code == 200
    aware(incident, commander)
    assert api(viewer).get(api_url(incident, "clocks/")).status_code == 200
    response = api(viewer).post(api_url(incident, "clocks/"), {"obligation": "gdpr-33"}, format="json")
    assert response.status_code == 403
    # A clock of another incident is not found under this one.
    assert api(commander).get(api_url(incident, f"clocks/{gdpr.pk}/")).status_code == 404


JUNK = [None, "", "x", 0, -1, 2**70, 1.5, True, [], {}, ["x"], {"a": 1}, "\x00", "2026-13-45T99:00:00Z"]


def test_api_never_answers_bad_input_with_a_500(api, breach, commander, superuser):
    aware(breach, commander)
    gdpr = start(breach, "gdpr-33", commander)
    m = mitigation(breach, commander)
    client = api(superuser)
    targets = [
        (
            "post",
            api_url(breach, "mitigations/"),
            ["title", "description", "owner", "started_at", "review_by", "public", "public_explanation"],
        ),
        ("patch", api_url(breach, f"mitigations/{m.pk}/"), ["title", "owner", "ended_at", "review_by", "public"]),
        ("post", api_url(breach, f"mitigations/{m.pk}/lift/"), ["ended_at", "note"]),
        (
            "patch",
            api_url(breach, "exposure/"),
            ["certainty", "categories", "people_affected", "jurisdictions", "encrypted"],
        ),
        ("put", api_url(breach, "exposure/"), ["confidence", "records_affected", "found_by"]),
        ("post", api_url(breach, "clocks/"), ["obligation", "started_at", "target_hours"]),
        (
            "post",
            api_url(breach, f"clocks/{gdpr.pk}/submit/"),
            ["stage", "submitted_at", "communication", "reference", "notes"],
        ),
        ("post", api_url(breach, f"clocks/{gdpr.pk}/correct-start/"), ["started_at", "reason"]),
        ("post", api_url(breach, f"clocks/{gdpr.pk}/not-required/"), ["reason"]),
        ("post", "/api/v1/obligations/", ["key", "stages", "jurisdictions", "data_categories", "regime"]),
        ("patch", "/api/v1/obligations/hipaa/", ["stages", "jurisdictions", "active"]),
    ]
    for method, url, fields in targets:
        for field in fields:
            for value in JUNK:
                response = getattr(client, method)(url, {field: value}, format="json")
                assert response.status_code < 500, (url, field, value, response.content)
        assert getattr(client, method)(url, "not json", content_type="application/json").status_code == 400
        assert getattr(client, method)(url, [1, 2], format="json").status_code < 500


def test_api_clock_list_queries_are_bounded(api, breach, commander, django_assert_max_num_queries):
    aware(breach, commander)
    for key in ("gdpr-33", "pipl-57", "nis2-23", "dora-19", "hipaa"):
        clock = start(breach, key, commander)
        regulatory.record_submission(clock, regulatory.stages_of(clock)[0].name, commander, reference="r")
    mitigation(breach, commander)
    mitigation(breach, commander, title="Two")
    client = api(commander)
    with django_assert_max_num_queries(8):
        assert client.get(api_url(breach, "clocks/")).status_code == 200
    with django_assert_max_num_queries(8):
        assert client.get(api_url(breach, "mitigations/")).status_code == 200


def test_openapi_schema_describes_the_security_endpoints(api, viewer):
    response = api(viewer).get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/v1/incidents/{incident_pk}/mitigations/",
        "/api/v1/incidents/{incident_pk}/mitigations/{id}/lift/",
        "/api/v1/incidents/{incident_pk}/exposure/",
        "/api/v1/incidents/{incident_pk}/clocks/",
        "/api/v1/incidents/{incident_pk}/clocks/{id}/submit/",
        "/api/v1/incidents/{incident_pk}/clocks/{id}/not-required/",
        "/api/v1/incidents/{incident_pk}/clocks/{id}/correct-start/",
        "/api/v1/obligations/",
        "/api/v1/obligations/{key}/",
    ):
        assert path in paths, sorted(p for p in paths if "security" in p or "clock" in p)
