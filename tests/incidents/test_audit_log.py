"""The organisation-wide audit log (issue #12, incidents/auditlog.py): sign-ins, failures,
pauses and unlocks, group, account and admin changes and exports are recorded with who, what,
when and from where; the security group reads, filters and exports it; nothing edits or deletes
it but the retention purge; and an admin can lift a sign-in pause."""

import csv
import io
import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.utils import timezone

from incidents import auditlog, services
from incidents.models import AuditEvent
from incidents.review import services as review
from tests.conftest import make_user

pytestmark = pytest.mark.usefixtures("clear_cache")
OFFICE = "203.0.113.20"
ATTACKER = "198.51.100.7"


def sign_in(username, password, address=OFFICE, client=None, path="/login/"):
    client = client or Client()
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=address)


@pytest.fixture
def root(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", "pw-root")


# What is recorded ------------------------------------------------------------------------------


def test_sign_ins_and_failures_are_recorded_with_the_address(responder):
    sign_in("resp", "wrong password", ATTACKER)
    sign_in("resp", "pw-resp", OFFICE)

    failed = AuditEvent.objects.get(action="signin_failed")
    ok = AuditEvent.objects.get(action="signed_in")
    assert (failed.subject, failed.address, failed.actor_name) == ("user resp", ATTACKER, "")
    assert (ok.subject, ok.address, ok.actor_name) == ("user resp", OFFICE, "resp")
    assert "password" not in json.dumps(failed.detail)


def test_a_lockout_is_recorded_once_per_pause(responder, settings):
    settings.LOGIN_RATE_LIMIT = 3

    for _ in range(6):
        sign_in("resp", "guess", ATTACKER)

    pause = AuditEvent.objects.get(action="locked_out")
    assert pause.subject == "user resp" and pause.detail["address"] == ATTACKER
    refused = AuditEvent.objects.filter(action="signin_failed", detail__refused="pair")
    assert refused.count() == 3


def test_group_and_account_changes_in_the_admin_are_recorded(root, responder):
    admin = Client(REMOTE_ADDR=OFFICE)
    admin.force_login(root)
    security = Group.objects.get_or_create(name="security")[0]
    responder_group = Group.objects.get(name="responder")

    response = admin.post(
        f"/admin/auth/user/{responder.pk}/change/",
        {
            "username": "resp",
            "is_active": "on",
            "is_staff": "on",
            "groups": [security.pk, responder_group.pk],
            "date_joined_0": "2026-01-01",
            "date_joined_1": "10:00:00",
            "initial-date_joined_0": "2026-01-01",
            "initial-date_joined_1": "10:00:00",
        },
    )

    assert response.status_code == 302
    groups = AuditEvent.objects.get(action="groups_changed", detail__has_key="added", actor_name="root")
    assert groups.subject == "user resp" and groups.detail == {"added": ["security"]} and groups.address == OFFICE
    flags = AuditEvent.objects.get(action="account_changed")
    assert flags.detail == {"is_staff": {"old": False, "new": True}} and flags.actor_name == "root"
    change = AuditEvent.objects.get(action="admin_change")
    assert change.subject == "auth.user resp" and change.detail["action"] == "changed"


def test_group_changes_from_the_groups_side_are_recorded(responder):
    Group.objects.get_or_create(name="security")[0].user_set.add(responder)

    event = AuditEvent.objects.filter(action="groups_changed").latest("id")
    assert event.subject == "user resp" and event.detail == {"added": ["security"]}


def test_roles_on_an_incident_given_and_taken_are_recorded_with_who_did_it(as_user, commander, responder, incident):
    """Who holds a role on which incident is who may see a confidential one: the organisation's
    log has every change, made on the page, in the services or by a handover."""
    before = AuditEvent.objects.latest("id").pk  # the declaration's own commander
    client = as_user(commander)
    assert client.post(f"/incidents/{incident.key}/roles/", {"role": "scribe", "user": responder.pk}).status_code == 302
    membership = incident.memberships.get(user=responder, role="scribe")
    client.post(f"/incidents/{incident.key}/roles/{membership.pk}/remove/")
    services.hand_over_command(incident, responder, commander)

    events = AuditEvent.objects.filter(action="incident_role", pk__gt=before).order_by("id")
    rows = [(e.actor_name, e.subject, e.detail) for e in events]
    key, ref = incident.key, incident.reference
    assert rows[:2] == [
        ("cmdr", f"{ref} scribe: resp", {"incident": key, "role": "scribe", "added": "resp"}),
        ("cmdr", f"{ref} scribe: resp", {"incident": key, "role": "scribe", "removed": "resp"}),
    ]
    changes = {
        (e.detail["role"], next(v for k, v in e.detail.items() if k in ("added", "removed")), e.subject)
        for e in events[2:]
    }
    assert ("commander", "cmdr", f"{ref} commander: cmdr") in changes  # the old commander's role ends
    assert ("commander", "resp", f"{ref} commander: resp") in changes
    assert ("responder", "cmdr", f"{ref} responder: cmdr") in changes  # and they stay on as a responder


def test_incident_audit_export_and_review_export_are_recorded(as_user, security, incident):
    client = as_user(security)

    client.get(f"/incidents/{incident.pk}/security/audit/?format=csv")
    client.get(f"/incidents/{incident.pk}/security/audit/")  # reading the page is no export

    exports = AuditEvent.objects.filter(action="exported")
    assert [(e.actor_name, e.subject) for e in exports] == [("sec", f"audit trail of {incident.reference} (csv)")]


def test_review_export_is_recorded(as_user, incident, commander, viewer):
    services.acknowledge(incident, commander)
    services.change_status(incident, "resolved", commander)
    review.start_review(incident, commander)

    response = as_user(viewer).get(f"/incidents/{incident.pk}/review/export.md")

    assert response.status_code == 200
    event = AuditEvent.objects.get(action="exported")
    assert (event.actor_name, event.subject) == ("view", f"review of {incident.reference} (markdown)")


# Reading, filtering, exporting --------------------------------------------------------------


def test_only_the_security_group_and_superusers_read_the_log(as_user, security, responder, root):
    assert as_user(security).get("/audit/").status_code == 200
    assert as_user(root).get("/audit/").status_code == 200
    assert as_user(responder).get("/audit/").status_code == 403
    assert as_user(responder).get("/audit/?format=csv").status_code == 403
    assert as_user(None).get("/audit/").status_code == 302


def test_the_log_filters_by_action_actor_and_time(as_user, security, responder):
    sign_in("resp", "wrong", ATTACKER)
    sign_in("resp", "pw-resp")
    client = as_user(security)

    failures = client.get("/audit/", {"action": "signin_failed"})
    by_resp = client.get("/audit/", {"actor": "RESP"})
    future = client.get("/audit/", {"since": "2999-01-01T00:00"})
    bad = client.get("/audit/", {"since": "yesterday-ish", "action": "drop table"})

    assert [e.action for e in failures.context["page"]] == ["signin_failed"]
    assert {e.action for e in by_resp.context["page"]} == {"signed_in"}
    assert list(future.context["page"]) == []
    assert bad.status_code == 400 and set(bad.context["form"].errors) == {"since", "action"}


def test_the_log_exports_as_csv_and_json_and_the_export_is_recorded(as_user, security, responder):
    sign_in("resp", "=cmd|' /C calc'!A0", ATTACKER)  # a username a spreadsheet would run
    client = as_user(security)

    as_csv = client.get("/audit/", {"format": "csv", "action": "signin_failed"})
    as_json = client.get("/audit/", {"format": "json"})
    unknown = client.get("/audit/", {"format": "xml"})

    rows = list(csv.DictReader(io.StringIO(as_csv.content.decode())))
    assert as_csv["Content-Type"].startswith("text/csv") and "attachment" in as_csv["Content-Disposition"]
    assert [r["action"] for r in rows] == ["signin_failed"] and rows[0]["address"] == ATTACKER
    body = json.loads(as_json.content)
    assert body["exported_by"] == "sec"
    assert {e["action"] for e in body["events"]} >= {"signin_failed", "exported"}
    assert unknown.status_code == 400
    exports = AuditEvent.objects.filter(action="exported", actor_name="sec").order_by("id")
    assert [e.subject for e in exports] == ["audit log (csv)", "audit log (json)"]
    assert exports[0].detail == {"filters": {"action": "signin_failed"}}


def test_log_page_query_count_does_not_grow_with_events(as_user, security, django_assert_max_num_queries):
    for n in range(150):
        auditlog.record(AuditEvent.Action.SIGNIN_FAILED, subject=f"user guess{n}")
    client = as_user(security)

    with django_assert_max_num_queries(8):
        page = client.get("/audit/")
    with django_assert_max_num_queries(8):
        export = client.get("/audit/?format=json&action=signin_failed")

    assert len(page.context["page"]) == 100
    assert len(json.loads(export.content)["events"]) == 150


# Append-only and retention ------------------------------------------------------------------


def test_the_log_cannot_be_edited_or_deleted_through_the_orm_or_the_admin(root):
    event = auditlog.record(AuditEvent.Action.SIGNED_IN, subject="user root")
    admin = Client()
    admin.force_login(root)

    for attempt in (
        lambda: event.save(),
        lambda: event.delete(),
        lambda: AuditEvent.objects.update(subject="nothing happened"),
        lambda: AuditEvent.objects.all().delete(),
    ):
        with pytest.raises(PermissionDenied):
            attempt()
    delete_page = admin.get(f"/admin/incidents/auditevent/{event.pk}/delete/")
    change = admin.post(f"/admin/incidents/auditevent/{event.pk}/change/", {"subject": "edited"})

    assert delete_page.status_code == 403
    assert change.status_code == 403
    assert AuditEvent.objects.get(pk=event.pk).subject == "user root"


def test_the_database_refuses_edits_on_postgresql(db):
    event = auditlog.record(AuditEvent.Action.SIGNED_IN, subject="user root")
    table = AuditEvent._meta.db_table

    for statement in (f"UPDATE {table} SET subject = 'x' WHERE id = %s", f"DELETE FROM {table} WHERE id = %s"):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(statement, [event.pk])
        except DatabaseError:
            refused = True
        else:
            refused = False
        # The trigger of migration 0022 guards PostgreSQL (production and CI); SQLite, the
        # embedded single-user default, has the ORM's guards above only.
        assert refused == (connection.vendor == "postgresql")
        if not refused:
            return
    assert AuditEvent.objects.get(pk=event.pk).subject == "user root"


def test_retention_purge_deletes_only_old_events_and_can_run_twice(db, settings, time_machine):
    settings.WARROOM_AUDIT_RETENTION_DAYS = 30
    now = timezone.now()
    time_machine.move_to(now - timedelta(days=31), tick=False)
    auditlog.record(AuditEvent.Action.SIGNED_IN, subject="user old")
    time_machine.move_to(now - timedelta(days=29), tick=False)
    auditlog.record(AuditEvent.Action.SIGNED_IN, subject="user recent")
    time_machine.move_to(now, tick=False)

    first = auditlog.purge_audit_log()
    second = auditlog.purge_audit_log()

    assert (first, second) == (1, 0)
    assert list(AuditEvent.objects.values_list("subject", flat=True)) == ["user recent"]


def test_retention_zero_keeps_everything(db, settings, time_machine):
    settings.WARROOM_AUDIT_RETENTION_DAYS = 0
    time_machine.move_to(timezone.now() - timedelta(days=4000), tick=False)
    auditlog.record(AuditEvent.Action.SIGNED_IN, subject="user ancient")
    time_machine.move_to(timezone.now() + timedelta(days=4000), tick=False)

    assert auditlog.purge_audit_log() == 0 and AuditEvent.objects.count() == 1


# Unlocking sign-in -----------------------------------------------------------------------------


def test_security_unlocks_a_paused_account_and_it_is_logged(as_user, security, responder, settings):
    settings.LOGIN_RATE_LIMIT = 3
    for _ in range(4):
        sign_in("resp", "guess", OFFICE)
    assert sign_in("resp", "pw-resp", OFFICE).status_code == 429

    page = as_user(security).get("/audit/lockouts/")
    unlocked = as_user(security).post("/audit/lockouts/", {"username": "resp"})

    assert [e.subject for e in page.context["lockouts"]] == ["user resp"]
    assert unlocked.status_code == 302
    assert sign_in("resp", "pw-resp", OFFICE).status_code == 302
    event = AuditEvent.objects.get(action="unlocked")
    assert event.actor_name == "sec" and event.subject == "user resp"


def test_security_unlocks_a_paused_address(as_user, security, responder, settings):
    settings.LOGIN_ADDRESS_RATE_LIMIT = 3
    for n in range(4):
        sign_in(f"someone{n}", "guess", ATTACKER)
    assert sign_in("resp", "pw-resp", ATTACKER).status_code == 429

    as_user(security).post("/audit/lockouts/", {"address": ATTACKER})

    assert sign_in("resp", "pw-resp", ATTACKER).status_code == 302
    assert AuditEvent.objects.filter(action="locked_out", subject=f"address {ATTACKER}").exists()


def test_admin_action_unlocks_sign_in(root, responder, settings):
    settings.LOGIN_RATE_LIMIT = 3
    for _ in range(4):
        sign_in("resp", "guess", OFFICE)
    admin = Client()
    admin.force_login(root)

    admin.post("/admin/auth/user/", {"action": "unlock_signin", "_selected_action": [responder.pk]})

    assert sign_in("resp", "pw-resp", OFFICE).status_code == 302
    assert AuditEvent.objects.filter(action="unlocked", actor_name="root").exists()


def test_outsiders_cannot_unlock(as_user, responder, django_user_model):
    staff = make_user(django_user_model, "staffer", is_staff=True)

    assert as_user(responder).post("/audit/lockouts/", {"username": "cmdr"}).status_code == 403
    assert as_user(staff).get("/audit/lockouts/").status_code == 403
    assert not AuditEvent.objects.filter(action="unlocked").exists()


def test_unlock_form_needs_a_username_or_a_valid_address(as_user, security):
    assert as_user(security).post("/audit/lockouts/", {}).status_code == 400
    assert as_user(security).post("/audit/lockouts/", {"address": "not an address"}).status_code == 400


def test_lockouts_page_query_count_is_bounded(as_user, security, django_assert_max_num_queries):
    for n in range(30):
        auditlog.record(AuditEvent.Action.LOCKED_OUT, subject=f"user u{n}", detail={"username": f"u{n}"})

    client = as_user(security)

    with django_assert_max_num_queries(8):
        response = client.get("/audit/lockouts/")

    assert len(response.context["lockouts"]) == 30
