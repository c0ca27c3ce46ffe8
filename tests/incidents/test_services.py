"""The incident core's rules, exercised through incidents.services."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from incidents import services
from incidents.models import Incident, Membership, TimelineEntry

pytestmark = pytest.mark.django_db


def entries(incident, kind=None):
    qs = incident.timeline.order_by("id")
    return list(qs.filter(kind=kind) if kind else qs)


def test_declaring_gives_reference_investigating_status_and_declarer_as_commander(commander, api_service):
    incident = services.declare(commander, title="Chat down", severity=1, kind="availability", services=[api_service])
    assert incident.reference == f"INC-{incident.pk}"
    assert incident.status == "investigating"
    assert services.commander_of(incident) == commander
    assert list(incident.services.all()) == [api_service]
    declared = entries(incident, TimelineEntry.Kind.DECLARED)
    assert len(declared) == 1 and declared[0].data["severity"] == 1


def test_declaring_can_name_another_commander(commander, responder):
    incident = services.declare(commander, title="x", commander=responder)
    assert services.commander_of(incident) == responder


def test_responder_cannot_declare(responder):
    with pytest.raises(PermissionDenied):
        services.declare(responder, title="x")


def test_declaring_refuses_future_start_and_bad_severity(commander):
    with pytest.raises(ValidationError) as exc:
        services.declare(commander, title="x", started_at=timezone.now() + timedelta(hours=1))
    assert "started_at" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        services.declare(commander, title="x", severity=7)
    assert "severity" in exc.value.message_dict
    assert Incident.objects.count() == 0


def test_full_lifecycle_records_times_and_timeline(incident, commander):
    for status in ("identified", "monitoring", "resolved", "closed"):
        services.change_status(incident, status, commander)
    incident.refresh_from_db()
    assert incident.status == "closed"
    assert incident.acknowledged_at and incident.mitigated_at and incident.resolved_at and incident.closed_at
    changes = [(e.data["old"], e.data["new"]) for e in entries(incident, TimelineEntry.Kind.STATUS)]
    assert changes == [
        ("investigating", "identified"),
        ("identified", "monitoring"),
        ("monitoring", "resolved"),
        ("resolved", "closed"),
    ]


@pytest.mark.parametrize(
    "path, illegal",
    [
        ((), "closed"),
        (("resolved",), "monitoring"),
        (("resolved", "closed"), "investigating"),
        (("resolved", "closed"), "resolved"),
    ],
)
def test_illegal_moves_are_refused_with_a_message_and_change_nothing(incident, commander, path, illegal):
    for status in path:
        services.change_status(incident, status, commander)
    before = incident.timeline.count()
    with pytest.raises(ValidationError) as exc:
        services.change_status(incident, illegal, commander)
    assert "Cannot move" in exc.value.message_dict["status"][0]
    incident.refresh_from_db()
    assert incident.status == (path[-1] if path else "investigating")
    assert incident.timeline.count() == before


def test_unknown_status_is_refused(incident, commander):
    with pytest.raises(ValidationError) as exc:
        services.change_status(incident, "exploded", commander)
    assert "Unknown status" in exc.value.message_dict["status"][0]


def test_reopening_a_resolved_incident_clears_resolved_time(incident, commander):
    services.change_status(incident, "resolved", commander)
    services.change_status(incident, "investigating", commander)
    incident.refresh_from_db()
    assert incident.status == "investigating" and incident.resolved_at is None
    assert entries(incident, TimelineEntry.Kind.STATUS)[-1].body.startswith("Reopened")


def test_viewer_and_responder_cannot_change_status(incident, viewer, responder):
    for user in (viewer, responder):
        with pytest.raises(PermissionDenied):
            services.change_status(incident, "identified", user)


def test_incident_deputy_may_command_without_the_commander_group(incident, commander, outsider):
    services.assign_role(incident, outsider, "deputy", commander)
    services.change_severity(incident, 1, outsider)
    incident.refresh_from_db()
    assert incident.severity == 1


def test_severity_change_logs_old_and_new(incident, commander):
    services.change_severity(incident, 1, commander)
    entry = entries(incident, TimelineEntry.Kind.SEVERITY)[-1]
    assert entry.data == {"field": "severity", "old": 2, "new": 1}


def test_handover_leaves_exactly_one_commander_and_is_logged(incident, commander, responder):
    services.hand_over_command(incident, responder, commander)
    commanders = Membership.objects.filter(incident=incident, role="commander")
    assert [m.user for m in commanders] == [responder]
    # the outgoing commander stays on the incident as a responder
    assert Membership.objects.filter(incident=incident, user=commander, role="responder").exists()
    entry = entries(incident, TimelineEntry.Kind.ROLE)[-1]
    assert entry.data == {"field": "commander", "old": "cmdr", "new": "resp"}


def test_handover_to_current_commander_is_refused(incident, commander):
    with pytest.raises(ValidationError):
        services.hand_over_command(incident, commander, commander)


def test_single_roles_have_one_holder_and_many_responders_are_allowed(incident, commander, responder, viewer):
    services.assign_role(incident, responder, "comms_lead", commander)
    services.assign_role(incident, viewer, "comms_lead", commander)
    assert [m.user for m in incident.memberships.filter(role="comms_lead")] == [viewer]
    services.assign_role(incident, responder, "responder", commander)
    services.assign_role(incident, viewer, "responder", commander)
    assert incident.memberships.filter(role="responder").count() == 2


def test_commander_role_cannot_be_removed(incident, commander):
    membership = incident.memberships.get(role="commander")
    with pytest.raises(ValidationError):
        services.remove_role(incident, membership, commander)


def test_time_correction_is_logged_with_old_and_new(incident, commander):
    earlier = timezone.now() - timedelta(hours=2)
    old = incident.started_at
    services.correct_time(incident, "started_at", earlier, commander, reason="CDN logs show earlier start")
    incident.refresh_from_db()
    assert incident.started_at == earlier
    entry = entries(incident, TimelineEntry.Kind.TIME)[-1]
    assert entry.data["old"] == old.isoformat() and entry.data["new"] == earlier.isoformat()
    assert "CDN logs" in entry.body


def test_field_edits_are_logged_each_with_old_and_new(incident, commander, api_service):
    services.update_fields(incident, commander, title="Chat down", kind="security", services=[api_service])
    data = [e.data for e in entries(incident, TimelineEntry.Kind.FIELD)]
    assert {"field": "title", "old": "API errors", "new": "Chat down"} in data
    assert {"field": "kind", "old": "availability", "new": "security"} in data
    assert {"field": "services", "old": [], "new": ["public-api"]} in data


def test_editing_an_entry_keeps_the_earlier_text(incident, responder):
    entry = services.log_entry(incident, responder, "Error rate 30%")
    services.edit_entry(entry, responder, "Error rate 38%")
    entry.refresh_from_db()
    assert entry.body == "Error rate 38%" and entry.edited_at
    assert [r.body for r in entry.revisions.all()] == ["Error rate 30%"]


def test_recorded_changes_cannot_be_edited(incident, commander):
    declared = entries(incident, TimelineEntry.Kind.DECLARED)[0]
    with pytest.raises(ValidationError):
        services.edit_entry(declared, commander, "rewritten history")


def test_someone_elses_note_cannot_be_edited_by_a_responder(incident, responder, django_user_model):
    from tests.conftest import make_user

    other = make_user(django_user_model, "other", "responder")
    entry = services.log_entry(incident, responder, "mine")
    with pytest.raises(PermissionDenied):
        services.edit_entry(entry, other, "theirs")


def test_viewer_cannot_log(incident, viewer):
    with pytest.raises(PermissionDenied):
        services.log_entry(incident, viewer, "hello")


def test_future_occurred_at_is_refused(incident, responder):
    with pytest.raises(ValidationError) as exc:
        services.log_entry(incident, responder, "x", occurred_at=timezone.now() + timedelta(minutes=5))
    assert "occurred_at" in exc.value.message_dict


def test_service_status_derives_from_the_worst_open_impact(incident, commander, api_service):
    from incidents.models import Service, status_from_rank

    def status():
        svc = Service.objects.with_current_status(Incident.objects.all()).get(pk=api_service.pk)
        return status_from_rank(svc.status_rank)

    assert status() == "operational"
    services.add_impact(incident, commander, service=api_service, level="degraded_performance")
    major = services.add_impact(incident, commander, service=api_service, level="major_outage", regions=["eu"])
    assert status() == "major_outage"
    services.update_impact(major, commander, ended_at=timezone.now())
    assert status() == "degraded_performance"
    impact_entries = entries(incident, TimelineEntry.Kind.IMPACT)
    assert impact_entries[1].data["new"] == "major_outage" and impact_entries[1].data["regions"] == ["eu"]


def test_impact_ending_before_it_starts_is_refused(incident, commander, api_service):
    with pytest.raises(ValidationError) as exc:
        services.add_impact(
            incident,
            commander,
            service=api_service,
            level="major_outage",
            started_at=timezone.now(),
            ended_at=timezone.now() - timedelta(hours=1),
        )
    assert "ended_at" in exc.value.message_dict


def test_confidential_incident_hidden_from_outsiders_but_not_members_or_security(
    confidential, outsider, viewer, security, commander
):
    assert not Incident.objects.visible_to(outsider).filter(pk=confidential.pk).exists()
    assert not Incident.objects.visible_to(viewer).filter(pk=confidential.pk).exists()
    assert Incident.objects.visible_to(security).filter(pk=confidential.pk).exists()
    assert Incident.objects.visible_to(commander).filter(pk=confidential.pk).exists()  # the declarer commands it
    services.assign_role(confidential, viewer, "observer", commander)
    assert Incident.objects.visible_to(viewer).filter(pk=confidential.pk).exists()


def test_resolving_ends_open_impacts_on_the_record(incident, commander, api_service):
    from incidents.models import Service, status_from_rank

    services.add_impact(incident, commander, service=api_service, level="major_outage")
    services.change_status(incident, "resolved", commander)
    assert incident.impacts.filter(ended_at__isnull=True).count() == 0
    svc = Service.objects.with_current_status(Incident.objects.all()).get(pk=api_service.pk)
    assert status_from_rank(svc.status_rank) == "operational"
    entry = entries(incident, TimelineEntry.Kind.IMPACT)[-1]
    assert entry.data["services"] == ["public-api"] and "ended on resolution" in entry.body
