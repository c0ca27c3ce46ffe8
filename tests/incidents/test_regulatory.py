"""Regulatory clocks: the deadline of every catalog row, business days, DORA's double limit,
corrections, submissions and who may do what."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from incidents import services
from incidents.models import ExposureAssessment, Obligation, TimelineEntry
from incidents.security import clocks as regulatory

pytestmark = pytest.mark.django_db

# A Thursday, 10:00 UTC: four business days later crosses a weekend.
AWARE = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


@pytest.fixture
def breach(declare, commander):
    incident = declare(title="Chat logs database exposed", kind="data_exposure", confidential=True, severity=1)
    services.correct_time(incident, "aware_at", AWARE, commander, reason="researcher e-mail received")
    incident.refresh_from_db()
    return incident


def clock_for(incident, key, by, started_at=AWARE):
    return regulatory.start_clock(incident, Obligation.objects.get(key=key), by, started_at=started_at)


def dues(clock):
    return {s.name: s.due_at for s in regulatory.stages_of(clock)}


EXPECTED = {
    "gdpr-33": {"Notification": AWARE + timedelta(hours=72)},
    "gdpr-34": {"Notice to people": None},
    "uk-gdpr-33": {"Notification": AWARE + timedelta(hours=72)},
    "nis2-23": {
        "Early warning": AWARE + timedelta(hours=24),
        "Incident notification": AWARE + timedelta(hours=72),
        "Final report": datetime(2026, 12, 29, 10, 0, tzinfo=UTC),  # a month after the 72 h notification
    },
    "dora-19": {
        "Initial notification": AWARE + timedelta(hours=4),
        "Intermediate report": AWARE + timedelta(hours=4 + 72),
        "Final report": datetime(2026, 12, 29, 14, 0, tzinfo=UTC),
    },
    "sec-8k-105": {"Form 8-K filing": datetime(2026, 12, 2, 10, 0, tzinfo=UTC)},  # Thu -> Fri, Mon, Tue, Wed
    "hipaa": {"Notification": AWARE + timedelta(days=60)},
    "circia": {"Covered incident report": AWARE + timedelta(hours=72)},
    "pipl-57": {"Notification": None},
    "cn-incident-cii": {"Report": AWARE + timedelta(hours=1)},
    "cn-incident-other": {"Report": AWARE + timedelta(hours=4)},
    "sg-pdpa": {"Notification": AWARE + timedelta(days=3)},
    "au-ndb": {"Assessment": AWARE + timedelta(days=30), "Notification": None},
    "ca-pipeda": {"Notification": None},
    "in-certin": {"Report": AWARE + timedelta(hours=6)},
}


def test_catalog_is_seeded_with_every_reference_row():
    assert set(Obligation.objects.values_list("key", flat=True)) == set(EXPECTED)
    assert Obligation.objects.get(key="circia").proposed
    for obligation in Obligation.objects.all():
        regulatory.validate_stages(obligation.stages)


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_deadlines_of_every_catalog_row(breach, commander, key):
    clock = clock_for(breach, key, commander)
    assert dues(clock) == EXPECTED[key]


def test_business_days_skip_the_weekend_and_configured_holidays(settings):
    friday = datetime(2026, 11, 27, 16, 30, tzinfo=UTC)
    assert regulatory.add_business_days(friday, 1) == datetime(2026, 11, 30, 16, 30, tzinfo=UTC)
    assert regulatory.add_business_days(friday, 4) == datetime(2026, 12, 3, 16, 30, tzinfo=UTC)
    holidays = {datetime(2026, 11, 30).date()}
    assert regulatory.add_business_days(friday, 1, holidays) == datetime(2026, 12, 1, 16, 30, tzinfo=UTC)


def test_sec_deadline_uses_configured_holidays(breach, commander, settings):
    settings.WARROOM_HOLIDAYS = ["2026-11-27"]  # the Friday after Thanksgiving, say
    clock = clock_for(breach, "sec-8k-105", commander)
    assert dues(clock)["Form 8-K filing"] == datetime(2026, 12, 3, 10, 0, tzinfo=UTC)


def test_dora_initial_is_capped_at_24_hours_from_awareness(breach, commander):
    classified = AWARE + timedelta(hours=22)  # classified as major late: 4 h would pass the 24 h cap
    clock = clock_for(breach, "dora-19", commander, started_at=classified)
    stages = regulatory.stages_of(clock)
    assert stages[0].due_at == AWARE + timedelta(hours=24)
    assert stages[0].capped


def test_later_stage_counts_from_the_actual_submission(breach, commander):
    clock = clock_for(breach, "nis2-23", commander)
    regulatory.record_submission(
        clock, "Incident notification", commander, submitted_at=AWARE + timedelta(hours=50), reference="CSIRT-1"
    )
    assert dues(clock)["Final report"] == datetime(2026, 12, 28, 12, 0, tzinfo=UTC)


def test_correcting_awareness_moves_capped_deadlines_and_is_logged(breach, commander):
    clock = clock_for(breach, "dora-19", commander, started_at=AWARE + timedelta(hours=22))
    earlier = AWARE - timedelta(hours=2)
    services.correct_time(breach, "aware_at", earlier, commander, reason="SOC ticket shows earlier alert")
    clock.refresh_from_db()
    clock.incident.refresh_from_db()
    assert regulatory.stages_of(clock)[0].due_at == earlier + timedelta(hours=24)
    entry = breach.timeline.filter(kind=TimelineEntry.Kind.TIME).order_by("id").last()
    assert entry.data["field"] == "aware_at" and entry.data["new"] == earlier.isoformat()


def test_correcting_a_clock_start_moves_its_deadlines_and_needs_a_reason(breach, commander):
    clock = clock_for(breach, "gdpr-33", commander)
    with pytest.raises(ValidationError):
        regulatory.correct_clock_start(clock, AWARE - timedelta(hours=5), commander, reason="")
    regulatory.correct_clock_start(clock, AWARE - timedelta(hours=5), commander, reason="earlier e-mail found")
    assert dues(clock)["Notification"] == AWARE + timedelta(hours=67)
    entry = breach.timeline.filter(kind=TimelineEntry.Kind.REGULATORY).order_by("id").last()
    assert entry.data["field"] == "clock.started_at" and "earlier e-mail" in entry.body


def test_overdue_and_time_left():
    class Clockish:
        pass

    stage = regulatory.StageState(name="x", recipient="y", due_at=AWARE, submission=None)
    assert stage.overdue(AWARE + timedelta(minutes=1))
    assert not stage.overdue(AWARE - timedelta(minutes=1))
    assert stage.time_left(AWARE - timedelta(hours=1)) == timedelta(hours=1)
    undue = regulatory.StageState(name="x", recipient="y", due_at=None, submission=None)
    assert not undue.overdue(AWARE) and undue.time_left(AWARE) is None


def test_undue_delay_duty_shows_the_team_target(breach, commander):
    clock = regulatory.start_clock(breach, Obligation.objects.get(key="pipl-57"), commander, target_hours=24)
    (stage,) = regulatory.stages_of(clock)
    assert stage.due_at is None and stage.target_at == AWARE + timedelta(hours=24)


def test_submission_is_recorded_on_the_timeline_and_completes_the_clock(breach, commander):
    clock = clock_for(breach, "gdpr-33", commander)
    regulatory.record_submission(clock, "Notification", commander, reference="DPA-2026-118")
    clock.refresh_from_db()
    assert clock.status == "done"
    entry = breach.timeline.order_by("id").last()
    assert entry.kind == TimelineEntry.Kind.REGULATORY and "DPA-2026-118" in entry.body
    with pytest.raises(ValidationError):
        regulatory.record_submission(clock, "Notification", commander)
    with pytest.raises(ValidationError):
        regulatory.record_submission(clock, "Nonsense", commander)


def test_not_required_needs_a_reason(breach, commander):
    clock = clock_for(breach, "hipaa", commander)
    with pytest.raises(ValidationError):
        regulatory.mark_not_required(clock, commander, "")
    regulatory.mark_not_required(clock, commander, "No US patients' health data involved")
    clock.refresh_from_db()
    assert clock.status == "not_required"


def test_clock_needs_an_awareness_time_and_refuses_the_future(declare, commander):
    incident = declare(title="x", kind="data_exposure")
    with pytest.raises(ValidationError):
        regulatory.start_clock(incident, Obligation.objects.get(key="gdpr-33"), commander)
    with pytest.raises(ValidationError):
        regulatory.start_clock(
            incident, Obligation.objects.get(key="gdpr-33"), commander, started_at=AWARE + timedelta(days=3650)
        )


def test_same_obligation_cannot_run_twice(breach, commander):
    clock_for(breach, "gdpr-33", commander)
    with pytest.raises(ValidationError):
        clock_for(breach, "gdpr-33", commander)


def test_responder_and_viewer_cannot_start_clocks_but_security_can(breach, responder, viewer, security):
    for user in (responder, viewer):
        with pytest.raises(PermissionDenied):
            clock_for(breach, "gdpr-33", user)
    clock_for(breach, "gdpr-33", security)


def test_suggestions_follow_jurisdictions_and_categories(breach, commander):
    assert regulatory.suggest(breach) == []  # no assessment yet: nothing personal-data related
    ExposureAssessment.objects.create(incident=breach, jurisdictions=["DE", "CN"], categories=["chat", "credentials"])
    breach.refresh_from_db()
    keys = {o.key for o in regulatory.suggest(breach)}
    assert {"gdpr-33", "gdpr-34", "pipl-57"} <= keys
    assert "hipaa" not in keys and "uk-gdpr-33" not in keys and "sg-pdpa" not in keys
    clock_for(breach, "gdpr-33", commander)
    assert "gdpr-33" not in {o.key for o in regulatory.suggest(breach)}
