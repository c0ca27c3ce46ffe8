"""Reminders of the post-incident review and of follow-up action items: each fires at its time,
to the right people, once per window and not before; repeats and their cap; closed and
confidential incidents; snoozing by the item's owner. The cast, the frozen clock and
`staffed` incidents are in tests/incidents/conftest.py, the helpers in test_reminders.py.

The site's time zone is Europe/Paris here (UTC+1 in early March), so "09:00 on the due date"
is 08:00 UTC.
"""

from datetime import date, timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client
from django.urls import reverse

from incidents import services
from incidents.models import IncidentWebhook, NotificationDelivery, ReminderLedger
from incidents.reminders import sweep as reminders
from incidents.review import services as review
from tests.incidents.conftest import T0
from tests.incidents.test_reminders import Kind, everyone, inbox, sweep, who_got

pytestmark = pytest.mark.django_db

DUE = date(2026, 3, 4)  # a Wednesday; T0 is Monday 2026-03-02 09:00 UTC
NINE = T0.replace(day=4, hour=8)  # 09:00 in Paris on the due date


@pytest.fixture(autouse=True)
def paris(settings):
    settings.TIME_ZONE = "Europe/Paris"


@pytest.fixture
def at(time_machine):
    """at(moment) moves the frozen clock there."""

    def _at(moment):
        time_machine.move_to(moment, tick=False)

    return _at


def item(incident, people, owner="responder", due_on=DUE, title="Rate-limit sign-ups at the edge"):
    return review.add_action_item(
        incident,
        people.commander,
        title=title,
        owner=getattr(people, owner) if owner else None,
        due_on=due_on,
        priority="high",
    )


def action_notes(user):
    return inbox(user, Kind.ACTION_ITEM_DUE)


# Action items ----------------------------------------------------------------------------------


def test_an_action_item_reminds_its_owner_at_nine_on_its_due_date_and_not_before(staffed, people, clock, at):
    incident = staffed(severity=3)
    followup = item(incident, people)

    at(NINE - timedelta(minutes=1))  # 08:59 in Paris
    sweep()
    assert who_got(Kind.ACTION_ITEM_DUE, everyone(people)) == set()

    at(NINE)
    sweep()
    assert who_got(Kind.ACTION_ITEM_DUE, everyone(people)) == {"resp"}
    [note] = action_notes(people.responder)
    assert note.subject == f"action:{followup.pk}" and note.incident_id == incident.pk
    assert note.url == f"http://localhost:8000/incidents/{incident.key}/review/"
    assert "Rate-limit sign-ups at the edge" in note.title and incident.reference in note.title
    assert "2026-03-04" in note.body and "high priority" in note.body


def test_an_action_item_reminder_goes_out_once_however_often_the_sweep_runs(staffed, people, clock, at):
    incident = staffed(severity=3)
    followup = item(incident, people)
    for minutes in (0, 0, 1, 30, 60 * 5):
        at(NINE + timedelta(minutes=minutes))
        sweep()
    assert len(action_notes(people.responder)) == 1
    assert ReminderLedger.objects.filter(incident=incident, key=f"action:{followup.pk}").count() == 1


def test_the_hour_of_the_action_item_reminder_is_a_setting(staffed, people, clock, at, settings):
    settings.WARROOM_REMINDERS = {**settings.WARROOM_REMINDERS, "action_item_hour": 14}
    item(staffed(severity=3), people)
    at(NINE.replace(hour=12, minute=59))  # 13:59 in Paris
    sweep()
    assert not action_notes(people.responder)
    at(NINE.replace(hour=13))
    sweep()
    assert len(action_notes(people.responder)) == 1


def test_an_open_item_is_reminded_weekly_to_owner_and_commander_at_most_four_times(staffed, people, clock, at):
    incident = staffed(severity=3)
    followup = item(incident, people)

    sent = {}
    for day in range(0, 40):
        for hour in (7, 8, 15):  # 08:00 (before), 09:00 and 16:00 in Paris
            at(NINE.replace(hour=hour) + timedelta(days=day))
            sweep()
        sent[day] = (len(action_notes(people.responder)), len(action_notes(people.commander)))

    assert sent[0] == (1, 0)  # the due date: the owner only
    assert sent[6] == (1, 0) and sent[7] == (2, 1)  # a week later: the owner and the commander
    assert sent[14] == (3, 2) and sent[21] == (4, 3)
    assert sent[39] == (4, 3)  # four reminders in all
    assert who_got(Kind.ACTION_ITEM_DUE, everyone(people)) == {"resp", "cmdr"}
    repeats = ReminderLedger.objects.filter(key=f"action:{followup.pk}").values_list("repeat", flat=True)
    assert sorted(repeats) == [1, 2, 3, 4]
    times = [n.created_at for n in action_notes(people.responder)]
    assert times == [NINE + timedelta(days=d) for d in (0, 7, 14, 21)]
    last = action_notes(people.commander)[-1]
    assert "overdue" in last.title and "reminder 4 of at most 4" in last.body


def test_a_done_item_is_not_reminded_again(staffed, people, clock, at):
    incident = staffed(severity=3)
    followup = item(incident, people)
    at(NINE)
    sweep()
    review.update_action_item(followup, people.responder, status="done")
    at(NINE + timedelta(days=7))
    sweep()
    assert len(action_notes(people.responder)) == 1 and not action_notes(people.commander)


def test_items_without_a_due_date_or_due_later_are_not_reminded(staffed, people, clock, at):
    incident = staffed(severity=3)
    item(incident, people, due_on=None)
    item(incident, people, due_on=DUE + timedelta(days=1))
    at(NINE + timedelta(hours=10))
    sweep()
    assert not action_notes(people.responder)


def test_an_item_past_its_last_reminder_is_not_swept_any_more(staffed, people, clock, at):
    incident = staffed(severity=3)
    late = item(incident, people, title="Late")
    forgotten = item(incident, people, title="Forgotten")
    at(NINE + timedelta(days=40))
    # Due dates corrected into the past: 10 days ago (its second reminder's time has come)
    # and 30 days ago (past its fourth and last reminder, 21 days after the due date).
    review.update_action_item(late, people.commander, due_on=(NINE + timedelta(days=30)).date())
    review.update_action_item(forgotten, people.commander, due_on=(NINE + timedelta(days=10)).date())
    sweep()
    [note] = action_notes(people.responder)
    assert "Late" in note.title and "reminder 2 of at most 4" in note.body
    assert who_got(Kind.ACTION_ITEM_DUE, everyone(people)) == {"resp", "cmdr"}


def test_action_items_of_a_closed_incident_are_still_reminded(staffed, people, clock, at):
    incident = staffed(severity=1)
    services.change_status(incident, "resolved", people.commander)
    services.change_status(incident, "closed", people.commander)
    item(incident, people)  # follow-ups come out of the review, after closing
    hook = IncidentWebhook.objects.create(incident=incident, url="https://hooks.example.com/closed")

    at(NINE)
    sweep()
    assert who_got(Kind.ACTION_ITEM_DUE, everyone(people)) == {"resp"}
    at(NINE + timedelta(days=7))
    sweep()
    assert who_got(Kind.ACTION_ITEM_DUE, everyone(people)) == {"resp", "cmdr"}
    # Only the follow-up: a closed incident gets no reminders about the response.
    assert {n.kind for u in everyone(people) for n in inbox(u)} == {Kind.ACTION_ITEM_DUE}
    assert NotificationDelivery.objects.filter(webhook=hook).count() == 2


def test_a_confidential_incidents_item_reaches_only_its_members(staffed, people, clock, at):
    incident = staffed(severity=2, kind="security", confidential=True)
    services.assign_role(incident, people.responder, "responder", people.commander)
    member_owned = item(incident, people, title="Rotate the keys")
    # The security group sees every confidential incident, but only members hear of it.
    item(incident, people, owner="security", title="Audit the access logs")
    cast = [*everyone(people), people.security, people.outsider]

    at(NINE)
    sweep()
    assert [n.title for n in action_notes(people.responder)] == [
        f"Action item due on {incident.reference}: Rotate the keys"
    ]
    assert [n.title for n in action_notes(people.commander)] == [
        f"Action item due on {incident.reference}: Audit the access logs"
    ]
    assert who_got(Kind.ACTION_ITEM_DUE, cast) == {"resp", "cmdr"}

    # Taken off the incident, the owner hears no more of it: the commander still does.
    services.remove_role(incident, incident.memberships.get(user=people.responder), people.commander)
    at(NINE + timedelta(days=7))
    sweep()
    assert len(action_notes(people.responder)) == 1
    assert [n.subject for n in action_notes(people.commander)].count(f"action:{member_owned.pk}") == 1
    assert who_got(Kind.ACTION_ITEM_DUE, cast) == {"resp", "cmdr"}


def test_without_an_owner_or_with_a_deactivated_one_the_commander_is_reminded(staffed, people, clock, at):
    incident = staffed(severity=3)
    unowned = item(incident, people, owner=None, title="Nobody's")
    left = item(incident, people, owner="oncall1", title="Left the company")
    people.oncall1.is_active = False
    people.oncall1.save(update_fields=["is_active"])

    at(NINE)
    sweep()
    assert who_got(Kind.ACTION_ITEM_DUE, everyone(people)) == {"cmdr"}
    subjects = {n.subject for n in action_notes(people.commander)}
    assert subjects == {f"action:{unowned.pk}", f"action:{left.pk}"}
    assert "nobody owns it" in next(n.body for n in action_notes(people.commander) if "Nobody" in n.title)


def test_the_owner_may_snooze_their_items_reminder_without_a_role(staffed, people, clock, at):
    incident = staffed(severity=3)
    mine = item(incident, people, owner="outsider")  # no group, no role: may see, not work on it
    other = item(incident, people, title="Someone else's")
    at(NINE)
    sweep()
    assert len(action_notes(people.outsider)) == 1

    at(NINE + timedelta(minutes=5))
    reminders.snooze(incident, f"action:{mine.pk}", 60, "In a meeting until ten", people.outsider)
    with pytest.raises(PermissionDenied):
        reminders.snooze(incident, f"action:{other.pk}", 60, "not mine", people.outsider)
    with pytest.raises(PermissionDenied):
        reminders.snooze(incident, "update", 60, "not mine either", people.outsider)

    at(NINE + timedelta(minutes=64))
    sweep()
    assert len(action_notes(people.outsider)) == 1
    at(NINE + timedelta(minutes=65))  # the snooze is over: reminded again
    sweep()
    assert len(action_notes(people.outsider)) == 2
    assert incident.timeline.filter(data__field="reminder.snooze", data__reminder=f"action:{mine.pk}").exists()


def test_a_snooze_before_the_due_hour_holds_the_first_reminder_back(staffed, people, clock, at):
    incident = staffed(severity=3)
    followup = item(incident, people)
    at(NINE - timedelta(minutes=10))
    reminders.snooze(incident, f"action:{followup.pk}", 15, "Standup first", people.responder)
    at(NINE)
    sweep()
    assert not action_notes(people.responder)
    at(NINE + timedelta(minutes=5))
    sweep()
    assert len(action_notes(people.responder)) == 1


def test_the_inbox_lets_the_owner_snooze_an_action_item_reminder(staffed, people, clock, at):
    incident = staffed(severity=3)
    followup = item(incident, people, owner="outsider")
    at(NINE)
    sweep()
    [note] = action_notes(people.outsider)
    client = Client()
    client.force_login(people.outsider)
    url = reverse("incidents:snooze_reminder", args=[incident.key])

    page = client.get(reverse("inbox:index")).content.decode()
    assert url in page and f'value="action:{followup.pk}"' in page

    response = client.post(
        url, {"key": note.subject, "minutes": "30", "reason": "After lunch", "notification": note.pk, "next": "inbox"}
    )

    assert response["Location"] == reverse("inbox:index")
    assert incident.snoozes.get().until == NINE + timedelta(minutes=30)
    note.refresh_from_db()
    assert note.read_at == NINE


# The post-incident review ----------------------------------------------------------------------


@pytest.fixture
def resolved(staffed, people, clock):
    incident = staffed(severity=2)
    services.change_status(incident, "resolved", people.commander)
    return incident


def test_a_resolved_incident_without_a_review_reminds_the_commander_after_5_days(resolved, people, clock):
    clock.at(0, days=5, seconds=-1)
    sweep()
    assert not inbox(people.commander, Kind.REVIEW_DUE)
    clock.at(0, days=5)
    sweep()
    [note] = inbox(people.commander, Kind.REVIEW_DUE)
    assert who_got(Kind.REVIEW_DUE, everyone(people)) == {"cmdr"}
    assert "Hold the post-incident review and publish it" in note.body and "no review yet" in note.body
    assert note.url == f"http://localhost:8000/incidents/{resolved.key}/review/"
    assert note.subject == "review"


def test_a_draft_review_reminds_its_owner(resolved, people, clock):
    review.start_review(resolved, people.commander, owner=people.deputy)
    clock.at(0, days=6)
    sweep()
    assert who_got(Kind.REVIEW_DUE, everyone(people)) == {"dep"}
    [note] = inbox(people.deputy, Kind.REVIEW_DUE)
    assert "still a draft" in note.body


def test_a_draft_review_without_owner_reminds_the_commander(resolved, people, clock):
    review.start_review(resolved, people.commander)
    clock.at(0, days=6)
    sweep()
    assert who_got(Kind.REVIEW_DUE, everyone(people)) == {"cmdr"}


def test_a_published_review_stops_the_review_reminder(resolved, people, clock):
    started = review.start_review(resolved, people.commander, owner=people.deputy)
    review.publish_review(started, people.commander)
    clock.at(0, days=6)
    sweep()
    assert who_got(Kind.REVIEW_DUE, everyone(people)) == set()


def test_a_closed_incident_without_a_published_review_is_not_reminded(resolved, people, clock):
    services.change_status(resolved, "closed", people.commander)
    clock.at(0, days=6)
    sweep()
    assert who_got(Kind.REVIEW_DUE, everyone(people)) == set()


def test_the_review_reminder_goes_out_once(resolved, people, clock):
    for day in (5, 6, 7):
        clock.at(0, days=day)
        sweep()
    assert len(inbox(people.commander, Kind.REVIEW_DUE)) == 1


def test_action_items_are_a_snoozable_subject():
    assert reminders.SUBJECT.fullmatch("action:12")
    assert reminders.subject_label("action:12") == "follow-up action item"
    assert not reminders.SUBJECT.fullmatch("action:x")
