"""Reminders and escalation: each rule fires at its time, to the right people, once per window,
and not before; snoozes; the inbox; confidential incidents; delivery by e-mail and webhooks
(the worker-side faults are in tests/test_reminder_worker.py).

Time is frozen with time_machine and moved by hand; `sweep()` is what the beat runs every 30 s.
The cast (`people`), the clock and `staffed` incidents are in tests/incidents/conftest.py.
"""

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from incidents import services
from incidents.comms import reminders as comms_reminders
from incidents.models import (
    Communication,
    Incident,
    IncidentWebhook,
    NotificationDelivery,
    NotificationPreference,
    Obligation,
    ReminderLedger,
    TimelineEntry,
    UserNotification,
)
from incidents.reminders import delivery as notify
from incidents.reminders import sweep as reminders
from incidents.review import services as review
from incidents.security import mitigations as security
from incidents.security.clocks import start_clock
from incidents.webhooks import verify_signature
from runbooks import services as runbook_services
from runbooks.fileformat import RunbookData, StepData
from runbooks.models import StepRun
from tests.conftest import make_user
from tests.incidents.conftest import T0
from tests.webhook_receiver import webhook_receiver  # noqa: F401

pytestmark = pytest.mark.django_db

Kind = UserNotification.Kind


def sweep():
    return reminders.sweep()


def inbox(user, kind=None):
    notes = UserNotification.objects.filter(user=user).order_by("created_at", "id")
    if kind:
        notes = notes.filter(kind=kind)
    return list(notes)


def who_got(kind, people_list):
    return {u.username for u in people_list if inbox(u, kind)}


def everyone(people):
    return [people.commander, people.deputy, people.comms, people.oncall1, people.oncall2, people.responder]


def publish(incident, at, audience="status_page"):
    return Communication.objects.create(
        incident=incident, audience=audience, body="Update", status="published", published_at=at
    )


# Update cadence ------------------------------------------------------------------------------


def test_update_reminder_goes_to_the_comms_lead_when_due_and_not_before(staffed, people, clock):
    incident = staffed(severity=1)
    services.acknowledge(incident, people.commander)

    clock.at(29, seconds=59)
    sweep()
    assert who_got(Kind.UPDATE_DUE, everyone(people)) == set()

    clock.at(30)
    sweep()
    assert who_got(Kind.UPDATE_DUE, everyone(people)) == {"comms"}
    [note] = inbox(people.comms)
    assert note.url == "http://localhost:8000" + incident.get_absolute_url()
    assert note.incident_id == incident.pk and note.subject == "update"
    assert incident.reference in note.title


def test_update_reminder_goes_to_the_commander_when_there_is_no_comms_lead(staffed, people, clock):
    staffed(severity=2, comms=False)

    clock.at(59)
    sweep()
    assert who_got(Kind.UPDATE_DUE, everyone(people)) == set()
    clock.at(60)
    sweep()
    assert who_got(Kind.UPDATE_DUE, everyone(people)) == {"cmdr"}


@pytest.mark.parametrize(("severity", "minutes"), [(1, 30), (2, 60), (3, 240)])
def test_update_cadence_follows_the_severity(staffed, people, clock, severity, minutes):
    staffed(severity=severity)
    clock.at(minutes - 1)
    sweep()
    assert not inbox(people.comms, Kind.UPDATE_DUE)
    clock.at(minutes)
    sweep()
    assert inbox(people.comms, Kind.UPDATE_DUE)


def test_sev4_has_no_update_cadence(staffed, people, clock):
    incident = staffed(severity=4)
    clock.at(60 * 24)
    sweep()
    assert not UserNotification.objects.exists()
    assert comms_reminders.next_update_due(incident) is None


def test_cadence_counts_from_the_last_published_status_page_update(staffed, people, clock):
    incident = staffed(severity=1)
    publish(incident, T0 + timedelta(minutes=20))
    publish(incident, T0 + timedelta(minutes=25), audience="internal")  # not a public update

    clock.at(30)
    sweep()
    assert not inbox(people.comms, Kind.UPDATE_DUE)
    assert comms_reminders.next_update_due(incident) == T0 + timedelta(minutes=50)
    clock.at(50)
    sweep()
    assert len(inbox(people.comms, Kind.UPDATE_DUE)) == 1

    publish(incident, T0 + timedelta(minutes=55))  # a new window
    clock.at(85)
    sweep()
    assert len(inbox(people.comms, Kind.UPDATE_DUE)) == 2


def test_a_reminder_goes_out_once_per_window_however_often_the_sweep_runs(staffed, people, clock):
    incident = staffed(severity=1)
    clock.at(31)
    for _ in range(5):
        sweep()
    assert len(inbox(people.comms, Kind.UPDATE_DUE)) == 1
    assert ReminderLedger.objects.filter(incident=incident, key="update").count() == 1


def test_update_escalates_to_commander_and_deputy_after_the_grace(staffed, people, clock):
    staffed(severity=1)
    clock.at(30)
    sweep()
    clock.at(39, seconds=59)
    sweep()
    assert who_got(Kind.UPDATE_OVERDUE, everyone(people)) == set()

    clock.at(40)
    sweep()
    assert who_got(Kind.UPDATE_OVERDUE, everyone(people)) == {"cmdr", "dep"}
    assert len(inbox(people.comms)) == 1  # the comms lead is not reminded twice


def test_a_published_update_stops_the_escalation(staffed, people, clock):
    incident = staffed(severity=1)
    clock.at(30)
    sweep()
    publish(incident, T0 + timedelta(minutes=35))
    clock.at(40)
    sweep()
    assert who_got(Kind.UPDATE_OVERDUE, everyone(people)) == set()


def test_next_update_due_is_shown_on_the_war_room_page(staffed, people, clock):
    incident = staffed(severity=2)
    client = Client()
    client.force_login(people.commander)

    clock.at(45)
    page = client.get(incident.get_absolute_url()).content.decode()
    assert 'data-testid="next-update"' in page and "in 15 min" in page

    clock.at(70)
    page = client.get(incident.get_absolute_url()).content.decode()
    assert "overdue by 10 min" in page


# Acknowledgement -----------------------------------------------------------------------------


def test_unacknowledged_incident_pages_the_oncall_group_every_5_minutes_at_most_6_times(staffed, people, clock):
    incident = staffed(severity=2)
    clock.at(4, seconds=59)
    sweep()
    assert who_got(Kind.UNACKNOWLEDGED, everyone(people)) == set()

    counts = []
    for minute in range(5, 61):
        clock.at(minute)
        sweep()
        counts.append(len(inbox(people.oncall1, Kind.UNACKNOWLEDGED)))
    assert counts[0] == 1  # at 5 min
    assert counts[4] == 1 and counts[5] == 2  # again at 10 min
    assert counts[-1] == 6  # and never more than six times
    assert who_got(Kind.UNACKNOWLEDGED, everyone(people)) == {"oncall1", "oncall2", "cmdr"}
    repeats = ReminderLedger.objects.filter(incident=incident, key="acknowledge").values_list("repeat", flat=True)
    assert sorted(repeats) == [1, 2, 3, 4, 5, 6]


def test_acknowledging_stops_the_pages(staffed, people, clock):
    incident = staffed(severity=1)
    clock.at(5)
    sweep()
    services.acknowledge(incident, people.commander)
    clock.at(30)
    sweep()
    assert len(inbox(people.oncall1, Kind.UNACKNOWLEDGED)) == 1


def test_sev3_incidents_do_not_page_the_oncall_group(staffed, people, clock):
    staffed(severity=3)
    clock.at(30)
    sweep()
    assert who_got(Kind.UNACKNOWLEDGED, everyone(people)) == set()


def test_the_oncall_group_is_configurable_and_the_commander_is_paged_when_it_is_empty(staffed, people, clock, settings):
    settings.WARROOM_ONCALL_GROUP = "nobody-here"
    staffed(severity=1)
    clock.at(5)
    sweep()
    assert who_got(Kind.UNACKNOWLEDGED, everyone(people)) == {"cmdr"}


# Runbook steps -------------------------------------------------------------------------------


@pytest.fixture
def run(staffed, people, clock):
    """A SEV3 incident with a runbook of two 10-minute steps, the first assigned to the
    responder, the second to nobody."""
    incident = staffed(severity=3)
    services.assign_role(incident, people.responder, "responder", people.commander)
    steps = [StepData(title=f"Step {i}", role="responder", expected_minutes=10) for i in (1, 2)]
    version, _ = runbook_services.save_runbook(None, RunbookData(slug="flood", title="Flood", steps=steps))
    run = runbook_services.attach(incident, version.runbook, people.commander)
    first, second = run.step_runs.order_by("position")
    runbook_services.change_step(first, people.commander, assignee=people.responder)
    return incident, first, second


def test_an_overdue_step_reminds_its_assignee_then_the_commander(run, people, clock):
    incident, first, _ = run
    clock.at(9)
    sweep()
    assert who_got(Kind.STEP_OVERDUE, everyone(people)) == set()

    clock.at(10)
    sweep()
    [note] = inbox(people.responder, Kind.STEP_OVERDUE)
    assert "Step 1" in note.title and note.subject == f"step:{first.pk}"
    assert who_got(Kind.STEP_OVERDUE, everyone(people)) == {"resp"}

    clock.at(24)
    sweep()
    assert who_got(Kind.STEP_ESCALATED, everyone(people)) == set()
    clock.at(25)
    sweep()
    assert who_got(Kind.STEP_ESCALATED, everyone(people)) == {"cmdr"}


def test_an_unassigned_step_reminds_the_commander_when_its_cumulative_time_is_up(run, people, clock):
    _, _, second = run
    clock.at(19)
    sweep()
    assert [n.subject for n in inbox(people.commander, Kind.STEP_OVERDUE)] == []
    clock.at(20)  # 10 + 10 expected minutes since the run started
    sweep()
    assert [n.subject for n in inbox(people.commander, Kind.STEP_OVERDUE)] == [f"step:{second.pk}"]


def test_a_finished_step_is_not_reminded(run, people, clock):
    _, first, _ = run
    runbook_services.change_step(first, people.responder, status="done")
    clock.at(30)
    sweep()
    assert not inbox(people.responder, Kind.STEP_OVERDUE)


# Mitigations, legal clocks, reviews ------------------------------------------------------------


def test_a_mitigation_past_review_reminds_its_owner_else_the_commander(staffed, people, clock):
    incident = staffed(severity=3)
    review_by = T0 + timedelta(hours=2)
    owned = security.add_mitigation(
        incident, people.commander, title="Sign-ups limited", description="One country only.", owner=people.responder,
        review_by=review_by,
    )  # fmt: skip
    security.add_mitigation(incident, people.commander, title="Rate limit", description="10 rps.", review_by=review_by)
    clock.at(119)
    sweep()
    assert not UserNotification.objects.filter(kind=Kind.MITIGATION_REVIEW).exists()
    clock.at(120)
    sweep()
    assert [n.subject for n in inbox(people.responder, Kind.MITIGATION_REVIEW)] == [f"mitigation:{owned.pk}"]
    assert len(inbox(people.commander, Kind.MITIGATION_REVIEW)) == 1


def test_regulatory_stage_reminds_at_half_the_window_an_hour_before_and_when_missed(staffed, people, clock):
    incident = staffed(severity=1, kind="data_exposure", confidential=True)
    people.security.groups.add(Group.objects.get(name="security"))
    services.assign_role(incident, people.security, "observer", people.commander)
    services.correct_time(incident, "aware_at", T0, people.commander, reason="researcher e-mail")
    start_clock(incident, Obligation.objects.get(key="gdpr-33"), people.commander, started_at=T0)
    cast = [*everyone(people), people.security]

    marks = [(35 * 60, 0), (36 * 60, 1), (70 * 60, 1), (71 * 60, 2), (72 * 60 - 1, 2), (72 * 60, 3), (80 * 60, 3)]
    for minute, expected in marks:
        clock.at(minute)
        sweep()
        assert len(inbox(people.commander, Kind.REGULATORY)) == expected, minute
    assert who_got(Kind.REGULATORY, cast) == {"cmdr", "dep", "sec"}
    half, hour, missed = (n.title for n in inbox(people.commander, Kind.REGULATORY))
    assert "half" in half and "within the hour" in hour and "passed" in missed


def test_a_resolved_incident_not_closed_after_5_days_reminds_the_commander(staffed, people, clock):
    incident = staffed(severity=3)
    services.change_status(incident, "resolved", people.commander)
    clock.at(0, days=5, seconds=-1)
    sweep()
    assert not inbox(people.commander, Kind.REVIEW_DUE)
    clock.at(0, days=5)
    sweep()
    assert who_got(Kind.REVIEW_DUE, everyone(people)) == {"cmdr"}


def test_closed_incidents_get_no_reminders(staffed, people, clock):
    incident = staffed(severity=1)
    services.change_status(incident, "resolved", people.commander)
    services.change_status(incident, "closed", people.commander)
    clock.at(0, days=10)
    sweep()
    assert not UserNotification.objects.exists()


# Snoozing ------------------------------------------------------------------------------------


def test_snooze_holds_the_reminder_and_its_escalation_back_and_is_logged(staffed, people, clock):
    incident = staffed(severity=1)
    services.acknowledge(incident, people.commander)
    clock.at(30)
    sweep()
    clock.at(32)
    reminders.snooze(incident, "update", 15, "Waiting for legal to sign off the wording", people.comms)
    entry = TimelineEntry.objects.filter(incident=incident, data__field="reminder.snooze").get()
    assert entry.author == people.comms and "Waiting for legal" in entry.body and "15 min" in entry.body

    clock.at(46)
    sweep()
    assert len(inbox(people.comms, Kind.UPDATE_DUE)) == 1
    assert who_got(Kind.UPDATE_OVERDUE, everyone(people)) == set()  # was due at 40: snoozed

    clock.at(47)  # the snooze is over: reminded again, and the grace counts from here
    sweep()
    assert len(inbox(people.comms, Kind.UPDATE_DUE)) == 2
    clock.at(56)
    sweep()
    assert who_got(Kind.UPDATE_OVERDUE, everyone(people)) == set()
    clock.at(57)
    sweep()
    assert who_got(Kind.UPDATE_OVERDUE, everyone(people)) == {"cmdr", "dep"}


def test_snoozing_the_pages_never_makes_more_than_six(staffed, people, clock):
    incident = staffed(severity=1)
    for minute in range(5, 61):
        clock.at(minute)
        if minute == 16:
            reminders.snooze(incident, "acknowledge", 15, "Commander is on the bridge call", people.commander)
        sweep()
    # Pages at 5, 10 and 15 min; none while snoozed; when the snooze ends the page due then (the
    # sixth, due at 30) goes out, and that was the last.
    times = [n.created_at for n in inbox(people.oncall1, Kind.UNACKNOWLEDGED)]
    assert times == [T0 + timedelta(minutes=m) for m in (5, 10, 15, 31)]


def test_snooze_needs_a_reason_a_known_length_and_a_working_role(staffed, people, clock):
    incident = staffed(severity=1)
    with pytest.raises(ValidationError) as exc:
        reminders.snooze(incident, "update", 15, "  ", people.comms)
    assert "reason" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        reminders.snooze(incident, "update", 45, "because", people.comms)
    assert "minutes" in exc.value.message_dict
    with pytest.raises(ValidationError):
        reminders.snooze(incident, "<script>", 15, "because", people.comms)
    with pytest.raises(PermissionDenied):
        reminders.snooze(incident, "update", 15, "because", people.outsider)


def test_snoozing_from_the_war_room_page(staffed, people, clock):
    incident = staffed(severity=1)
    client = Client()
    client.force_login(people.comms)
    url = reverse("incidents:snooze_reminder", args=[incident.key])

    response = client.post(url, {"key": "update", "minutes": "30", "reason": "Status page is being fixed"})

    assert response.status_code == 302
    assert incident.snoozes.get().until == T0 + timedelta(minutes=30)
    outsider = Client()
    outsider.force_login(people.outsider)
    outsider.post(url, {"key": "update", "minutes": "30", "reason": "no"})
    assert incident.snoozes.count() == 1


# Confidential incidents ------------------------------------------------------------------------


def test_confidential_incident_reminders_go_only_to_members(staffed, people, clock):
    incident = staffed(severity=1, kind="security", confidential=True)
    services.assign_role(incident, people.oncall2, "responder", people.commander)
    clock.at(30)
    sweep()
    # Paged: the on-call people who are members (oncall2) and the commander, not the others.
    assert who_got(Kind.UNACKNOWLEDGED, everyone(people)) == {"oncall2", "cmdr"}
    assert who_got(Kind.UPDATE_DUE, everyone(people)) == {"comms"}
    assert not inbox(people.outsider) and not inbox(people.security)


def test_confidential_incident_without_oncall_members_pages_its_commander(staffed, people, clock):
    staffed(severity=1, kind="security", confidential=True)
    clock.at(5)
    sweep()
    assert who_got(Kind.UNACKNOWLEDGED, everyone(people)) == {"cmdr"}


def test_confidential_reminders_reach_only_that_incidents_own_webhooks(staffed, people, clock):
    secret_one = staffed(severity=1, kind="security", confidential=True)
    public_one = staffed(severity=1)
    own = IncidentWebhook.objects.create(incident=secret_one, url="https://hooks.example.com/secret")
    other = IncidentWebhook.objects.create(incident=public_one, url="https://hooks.example.com/public")
    everywhere = IncidentWebhook.objects.create(url="https://hooks.example.com/all")
    clock.at(5)
    sweep()

    def incidents_heard_by(target):
        return set(NotificationDelivery.objects.filter(webhook=target).values_list("incident_id", flat=True))

    assert incidents_heard_by(own) == {secret_one.pk}
    assert incidents_heard_by(other) == {public_one.pk}
    assert incidents_heard_by(everywhere) == {public_one.pk}


# The inbox ----------------------------------------------------------------------------------


def notes_for(user, count, incident=None):
    with_incident = {"incident_id": incident.pk} if incident else {}
    notify.send(
        [
            notify.Message(
                user_id=user.pk, key=f"test:{user.pk}:{i}", title=f"Note {i}", url="http://x/", **with_incident
            )
            for i in range(count)
        ]
    )


def test_inbox_lists_notifications_and_counts_unread(staffed, people, clock):
    incident = staffed(severity=1)
    notes_for(people.comms, 3, incident)
    client = Client()
    client.force_login(people.comms)

    page = client.get(reverse("inbox:index")).content.decode()
    assert page.count('data-testid="notification"') == 3
    badge = client.get(reverse("inbox:count")).content.decode()
    assert 'data-testid="unread-count">3<' in badge

    first = UserNotification.objects.filter(user=people.comms).first()
    response = client.post(reverse("inbox:read", args=[first.pk]), {"open": "1"})
    assert response.status_code == 302 and response["Location"] == first.url
    assert 'data-testid="unread-count">2<' in client.get(reverse("inbox:count")).content.decode()
    client.post(reverse("inbox:read_all"))
    assert "unread-count" not in client.get(reverse("inbox:count")).content.decode()


def test_header_polls_the_unread_count_and_signed_out_polls_get_nothing(people, client):
    client.force_login(people.comms)
    page = client.get(reverse("incidents:list")).content.decode()
    assert 'id="inbox-link"' in page and reverse("inbox:count") in page
    client.logout()
    assert client.get(reverse("inbox:count")).status_code == 204


def test_people_see_only_their_own_notifications(staffed, people, clock):
    incident = staffed(severity=1)
    notes_for(people.comms, 2, incident)
    client = Client()
    client.force_login(people.responder)
    assert 'data-testid="notification"' not in client.get(reverse("inbox:index")).content.decode()
    mine = UserNotification.objects.filter(user=people.comms).first()
    assert client.post(reverse("inbox:read", args=[mine.pk])).status_code == 404


def test_notifications_about_a_confidential_incident_disappear_with_membership(staffed, people, clock):
    incident = staffed(severity=1, kind="security", confidential=True)
    notes_for(people.comms, 1, incident)
    client = Client()
    client.force_login(people.comms)
    assert 'data-testid="unread-count">1<' in client.get(reverse("inbox:count")).content.decode()
    services.remove_role(incident, incident.memberships.get(user=people.comms), people.commander)
    assert "unread-count" not in client.get(reverse("inbox:count")).content.decode()


def test_inbox_and_count_queries_do_not_grow_with_notifications(staffed, people, clock, django_assert_max_num_queries):
    incident = staffed(severity=1)
    client = Client()
    client.force_login(people.comms)
    notes_for(people.comms, 5, incident)
    client.get(reverse("inbox:index"))

    def queries(path):
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(path).status_code == 200
        return len(ctx.captured_queries)

    small = (queries(reverse("inbox:index")), queries(reverse("inbox:count")))
    other = staffed(severity=2)
    notes_for(people.comms, 200, other)
    assert (queries(reverse("inbox:index")), queries(reverse("inbox:count"))) == small
    with django_assert_max_num_queries(10):
        client.get(reverse("inbox:index"))
    with django_assert_max_num_queries(5):  # the unread count and the "To approve" count
        client.get(reverse("inbox:count"))


def test_e_mail_preference_is_respected_and_the_inbox_always_gets_it(staffed, people, clock):
    NotificationPreference.objects.create(user=people.comms, email=False)
    staffed(severity=1)
    clock.at(40)
    sweep()
    assert inbox(people.comms) and inbox(people.commander)
    emails = NotificationDelivery.objects.filter(channel="email")
    assert set(emails.values_list("notification__user__username", flat=True)) >= {"cmdr", "dep"}
    assert not emails.filter(notification__user=people.comms).exists()


# Delivery --------------------------------------------------------------------------------------


def test_e_mail_reminders_are_sent_with_the_incident_link(staffed, people, clock, mailoutbox):
    incident = staffed(severity=1)
    clock.at(30)
    sweep()
    result = notify.deliver(NotificationDelivery.objects.values_list("pk", flat=True))
    assert result.sent and not result.failed
    to_comms = [m for m in mailoutbox if m.to == ["comms@example.com"]]
    [message] = [m for m in to_comms if "update due" in m.subject.lower()]
    assert "http://localhost:8000" + incident.get_absolute_url() in message.body
    assert NotificationDelivery.objects.filter(status="sent").count() == len(mailoutbox)


@pytest.fixture
def private_hooks(settings):
    settings.WARROOM_ALLOW_PRIVATE_WEBHOOKS = True
    settings.WARROOM_NOTIFY_RETRY_BASE_SECONDS = 30


def test_generic_webhooks_are_signed_and_slack_and_teams_get_text(
    staffed,
    people,
    clock,
    webhook_receiver,  # noqa: F811
    private_hooks,
):
    incident = staffed(severity=1)
    receiver = webhook_receiver([200])
    generic = IncidentWebhook.objects.create(incident=incident, url=receiver.url, format="generic")
    receiver.secret = generic.secret
    IncidentWebhook.objects.create(incident=incident, url=receiver.url, format="slack")
    IncidentWebhook.objects.create(incident=incident, url=receiver.url, format="teams")
    clock.at(30)
    sweep()

    hooks = NotificationDelivery.objects.filter(channel="webhook", key__contains=":update:")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("incidents.webhooks.time.time", lambda: T0.timestamp() + 30 * 60)
        notify.deliver(hooks.values_list("pk", flat=True))

    assert len(receiver.requests) == 3
    by_shape = {("text" in r["json"]): r for r in receiver.requests}
    signed = by_shape[False]
    assert verify_signature(
        generic.secret,
        signed["headers"]["x-warroom-timestamp"],
        signed["body"],
        signed["headers"]["x-warroom-signature"],
        now=T0.timestamp() + 30 * 60,
    )
    assert signed["json"]["url"] == "http://localhost:8000" + incident.get_absolute_url()
    assert signed["json"]["incident"]["reference"] == incident.reference
    assert signed["json"]["to"] == ["comms"]
    texts = [r["json"]["text"] for r in receiver.requests if "text" in r["json"]]
    assert len(texts) == 2 and all(incident.get_absolute_url() in t for t in texts)


def test_webhook_retries_transient_errors_with_backoff_and_records_attempts(
    staffed,
    people,
    clock,
    webhook_receiver,  # noqa: F811
    private_hooks,
):
    incident = staffed(severity=1)
    receiver = webhook_receiver([500, 429, 200])
    IncidentWebhook.objects.create(incident=incident, url=receiver.url)
    clock.at(30)
    sweep()
    [row] = NotificationDelivery.objects.filter(channel="webhook", key__contains=":update:")

    result = notify.deliver([row.pk])
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == ("pending", 1, "HTTP 500")
    assert row.next_attempt_at == T0 + timedelta(minutes=30, seconds=30)
    assert result.retry == {30: [row.pk]}
    assert notify.deliver([row.pk]).claimed == []  # not before its time

    clock.at(31)
    notify.deliver([row.pk])
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == ("pending", 2, "HTTP 429")
    assert row.next_attempt_at == T0 + timedelta(minutes=32)

    clock.at(32)
    notify.deliver([row.pk])
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == ("sent", 3, "")


def test_webhook_answering_4xx_fails_and_410_disables_the_target(
    staffed,
    people,
    clock,
    webhook_receiver,  # noqa: F811
    private_hooks,
):
    incident = staffed(severity=1)
    gone = webhook_receiver([410])
    refused = webhook_receiver([403])
    target = IncidentWebhook.objects.create(incident=incident, url=gone.url)
    IncidentWebhook.objects.create(incident=incident, url=refused.url)
    clock.at(30)
    sweep()
    notify.deliver(NotificationDelivery.objects.filter(channel="webhook").values_list("pk", flat=True))

    rows = NotificationDelivery.objects.filter(channel="webhook", key__contains=":update:")
    assert {(r.status, r.attempts) for r in rows} == {("failed", 1)}
    assert "410" in rows.get(webhook=target).last_error and "403" in rows.exclude(webhook=target).get().last_error
    target.refresh_from_db()
    assert not target.active and "410" in target.disabled_reason

    clock.at(40)  # the escalation: not sent to the disabled target
    sweep()
    assert not NotificationDelivery.objects.filter(webhook=target, key__contains="escalate").exists()


def test_a_webhook_refused_as_private_is_a_permanent_failure(staffed, people, clock, webhook_receiver):  # noqa: F811
    incident = staffed(severity=1)
    receiver = webhook_receiver([200])
    IncidentWebhook.objects.create(incident=incident, url=receiver.url)
    clock.at(30)
    sweep()
    notify.deliver(NotificationDelivery.objects.filter(channel="webhook").values_list("pk", flat=True))
    row = NotificationDelivery.objects.filter(channel="webhook").first()
    assert row.status == "failed" and "private or local" in row.last_error
    assert receiver.requests == []


def test_a_global_target_drops_reminders_of_an_incident_that_became_confidential(
    staffed,
    people,
    clock,
    webhook_receiver,  # noqa: F811
    private_hooks,
):
    incident = staffed(severity=1)
    receiver = webhook_receiver([200])
    IncidentWebhook.objects.create(url=receiver.url)
    clock.at(30)
    sweep()
    services.update_fields(incident, people.commander, confidential=True)
    notify.deliver(NotificationDelivery.objects.filter(channel="webhook").values_list("pk", flat=True))
    assert receiver.requests == []
    assert set(NotificationDelivery.objects.filter(channel="webhook").values_list("status", flat=True)) == {"failed"}


# The sweep ----------------------------------------------------------------------------------


def test_the_sweep_enqueues_new_deliveries_after_commit_and_requeues_lost_ones(
    staffed, people, clock, django_capture_on_commit_callbacks
):
    staffed(severity=1)
    clock.at(30)
    with django_capture_on_commit_callbacks() as callbacks:
        sweep()
    assert callbacks  # delivery tasks, once the sweep's transaction commits
    pending = NotificationDelivery.objects.filter(status="pending").count()
    assert pending

    clock.at(30, seconds=50)  # within the grace: their own tasks may still come
    assert sweep()["requeued"] == 0
    clock.at(31, seconds=1)
    assert sweep()["requeued"] == pending


def test_a_worker_that_died_mid_send_is_handed_back_once_its_lease_runs_out(staffed, people, clock):
    staffed(severity=1)
    clock.at(30)
    sweep()
    row = NotificationDelivery.objects.first()
    assert notify.claim([row.pk]) == [row.pk]  # then the worker dies
    clock.at(30, seconds=20)
    assert sweep()["stuck"] == 0
    clock.at(30, seconds=30)
    result = sweep()
    assert result["stuck"] == 1
    row.refresh_from_db()
    assert row.status == "pending" and "stopped" in row.last_error


def test_sweep_queries_do_not_grow_with_incidents_and_steps(people, clock, declare):
    version, _ = runbook_services.save_runbook(
        None,
        RunbookData(
            slug="big",
            title="Big",
            steps=[StepData(title=f"S{i}", role="responder", expected_minutes=5) for i in range(5)],
        ),
    )
    today = T0.date()

    def add(count):
        for n in range(count):
            incident = declare(severity=1, confidential=n % 3 == 0)
            services.assign_role(incident, people.comms, "comms_lead", people.commander)
            services.assign_role(incident, people.responder, "responder", people.commander)
            run = runbook_services.attach(incident, version.runbook, people.commander)
            StepRun.objects.filter(run=run, position=1).update(assignee=people.responder)
            security.add_mitigation(
                incident, people.commander, title="M", description="d", owner=people.responder,
                review_by=T0 + timedelta(minutes=20),
            )  # fmt: skip
            review.add_action_item(incident, people.commander, title="Fix it", owner=people.responder, due_on=today)
            # A closed incident with an action item due, and a resolved one with a draft review.
            closed = declare(severity=2)
            services.change_status(closed, "resolved", people.commander)
            services.change_status(closed, "closed", people.commander)
            review.add_action_item(closed, people.commander, title="Follow up", owner=people.responder, due_on=today)
            review.add_action_item(closed, people.commander, title="Later", due_on=today + timedelta(days=9))
            resolved = declare(severity=3)
            services.change_status(resolved, "resolved", people.commander)
            review.start_review(resolved, people.commander, owner=people.deputy)
            Incident.objects.filter(pk=resolved.pk).update(resolved_at=T0 - timedelta(days=6))

    def queries():
        with CaptureQueriesContext(connection) as ctx:
            result = sweep()
        return len(ctx.captured_queries), result

    add(2)
    clock.at(45)
    small, first = queries()
    assert first["fired"] > 0
    clock.at(0)
    add(20)
    clock.at(45)
    big, second = queries()
    assert second["fired"] > first["fired"]
    assert big == small
    quiet, third = queries()  # nothing new to send
    assert third["fired"] == 0
    kinds = set(UserNotification.objects.values_list("kind", flat=True))
    assert {Kind.ACTION_ITEM_DUE, Kind.REVIEW_DUE, Kind.STEP_OVERDUE, Kind.MITIGATION_REVIEW} <= kinds
    closed_items = UserNotification.objects.filter(kind=Kind.ACTION_ITEM_DUE, incident__status="closed")
    assert closed_items.count() == 22


def test_a_flood_of_reminders_goes_out_over_several_sweeps_most_severe_first(settings, staffed, people, clock):
    settings.WARROOM_REMINDERS = {**settings.WARROOM_REMINDERS, "sweep_max_reminders": 2}
    sev3 = staffed(severity=3)
    sev1 = staffed(severity=1)
    sev2 = staffed(severity=2)
    for incident in (sev1, sev2, sev3):
        services.acknowledge(incident, people.commander)
    clock.at(60 * 5)  # every update is due, and escalated: six reminders

    sent = []
    for _ in range(5):
        result = sweep()
        sent.append((result["fired"], result["more"]))
        clock.at(60 * 5, seconds=30 * len(sent))
    assert sent == [(2, True), (2, True), (2, True), (0, False), (0, False)]
    first = ReminderLedger.objects.order_by("created_at", "id")[:2]
    assert {row.incident_id for row in first} == {sev1.pk}
    assert ReminderLedger.objects.count() == 6
    assert len(inbox(people.comms, Kind.UPDATE_DUE)) == 3 and len(inbox(people.commander, Kind.UPDATE_OVERDUE)) == 3


def test_each_rule_is_a_setting(settings, staffed, people, clock):
    settings.WARROOM_REMINDER_RULES = ["incidents.review.reminders.review_due"]
    reminders._rules.cache_clear()
    try:
        staffed(severity=1)
        clock.at(120)
        assert sweep()["fired"] == 0
    finally:
        reminders._rules.cache_clear()


def test_insert_ignoring_conflicts_writes_each_row_once_and_says_which_are_new(staffed, people, clock):
    incident = staffed(severity=1)
    row = {"incident_id": incident.pk, "key": "k", "window": "w", "repeat": 1, "created_at": timezone.now()}
    first = notify.insert_ignoring_conflicts(ReminderLedger, [row], returning=("incident", "key", "window"))
    again = notify.insert_ignoring_conflicts(
        ReminderLedger, [row, {**row, "window": "w2"}], returning=("incident", "key", "window")
    )
    assert first == [(incident.pk, "k", "w")] and again == [(incident.pk, "k", "w2")]
    assert ReminderLedger.objects.get(window="w").created_at == T0


def test_generic_payload_is_json_with_the_delivery_id(staffed, people, clock):
    incident = staffed(severity=1)
    target = IncidentWebhook.objects.create(incident=incident, url="https://hooks.example.com/x")
    clock.at(30)
    sweep()
    row = NotificationDelivery.objects.filter(webhook=target).first()
    body = json.loads(notify.webhook_body(row))
    assert body["delivery_id"] == str(row.pk) and body["type"] == "reminder"
    assert Incident.objects.get(pk=incident.pk).reference == body["incident"]["reference"]


def test_admins_see_deliveries_with_attempts_and_last_error(staffed, people, clock, django_user_model):
    incident = staffed(severity=1)
    IncidentWebhook.objects.create(incident=incident, url="http://127.0.0.1:9/hook")
    clock.at(30)
    sweep()
    notify.deliver(NotificationDelivery.objects.filter(channel="webhook").values_list("pk", flat=True))
    admin = make_user(django_user_model, "admin", is_superuser=True, is_staff=True)
    client = Client()
    client.force_login(admin)

    page = client.get(reverse("admin:incidents_notificationdelivery_changelist")).content.decode()

    assert "private or local" in page  # the last error of the refused webhook
    for name in ("usernotification", "reminderledger", "snooze", "incidentwebhook", "notificationpreference"):
        assert client.get(reverse(f"admin:incidents_{name}_changelist")).status_code == 200


def test_e_mail_preference_is_changed_in_the_inbox(people, client):
    client.force_login(people.comms)
    client.post(reverse("inbox:preferences"), {})
    assert NotificationPreference.objects.get(user=people.comms).email is False
    client.post(reverse("inbox:preferences"), {"email": "on"})
    assert NotificationPreference.objects.get(user=people.comms).email is True


def test_snoozing_from_the_inbox_marks_the_reminder_read(staffed, people, clock):
    incident = staffed(severity=1)
    clock.at(30)
    sweep()
    [note] = inbox(people.comms)
    client = Client()
    client.force_login(people.comms)
    page = client.get(reverse("inbox:index")).content.decode()
    assert reverse("incidents:snooze_reminder", args=[incident.key]) in page

    response = client.post(
        reverse("incidents:snooze_reminder", args=[incident.key]),
        {"key": note.subject, "minutes": "60", "reason": "Legal review", "notification": str(note.pk), "next": "inbox"},
    )

    assert response["Location"] == reverse("inbox:index")
    note.refresh_from_db()
    assert note.read_at == T0 + timedelta(minutes=30)
    assert incident.snoozes.get().until == T0 + timedelta(minutes=90)


def test_a_reminder_reads_in_the_inbox_readers_language_and_e_mail_stays_in_the_sites(staffed, people, clock):
    incident = staffed(severity=1)
    services.acknowledge(incident, people.commander)
    clock.at(30)
    sweep()
    [note] = inbox(people.comms)
    assert note.title == f"Public update due on {incident.reference}"  # e-mail and webhooks read these
    client = Client()
    client.force_login(people.comms)
    try:
        chinese = client.get(reverse("inbox:index"), headers={"accept-language": "zh-CN"}).content.decode()
    finally:
        translation.deactivate()  # the request left Chinese active in this thread
    assert f"{incident.reference} 的对外更新已到期" in chinese and "距宣布事件 30 分钟" in chinese
    assert "Public update due" not in chinese and "Publish an update" not in chinese
    english = client.get(reverse("inbox:index")).content.decode()
    assert f"Public update due on {incident.reference}" in english
