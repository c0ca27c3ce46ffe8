"""The on-call person paged for an unacknowledged SEV1/SEV2 is told to take command and
acknowledge it, and can: on the war-room page, with /ack and /commander me, and through the
API, all through the same services and access rule, each logged. The commander hears of the
page too."""

import html

import pytest
from django.urls import reverse

from incidents import services
from incidents.models import Membership, TimelineEntry, UserNotification
from incidents.reminders.sweep import sweep
from tests.conftest import HTMX, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def oncall(django_user_model):
    # On call only: no responder or commander group, no role on the incident.
    return make_user(django_user_model, "pager", "oncall")


@pytest.fixture
def sev1(declare):
    return declare(title="Chat and API time-outs worldwide", severity=1)


class Typed:
    """The box as it comes back: `text` its HTML (unescaped), `error` whether it says one."""

    def __init__(self, response):
        self.status_code = response.status_code
        self.text = html.unescape(response.content.decode())
        self.error = 'role="alert"' in self.text


def type_in_box(as_user, user, incident, text):
    return Typed(as_user(user).post(reverse("incidents:log", args=[incident.key]), {"body": text}, headers=HTMX))


def test_oncall_acknowledges_with_the_ack_command(as_user, sev1, oncall):
    response = type_in_box(as_user, oncall, sev1, "/ack")
    assert response.status_code == 200 and not response.error
    sev1.refresh_from_db()
    assert sev1.acknowledged_at is not None
    entry = sev1.timeline.order_by("-id").first()
    assert (entry.author, entry.data["field"]) == (oncall, "acknowledged_at")


def test_oncall_takes_command_with_commander_me_and_acknowledges_on_the_way(as_user, sev1, oncall, commander):
    response = type_in_box(as_user, oncall, sev1, "/commander me")
    assert response.status_code == 200 and not response.error
    assert services.commander_of(sev1) == oncall
    # The outgoing commander stays on as a responder.
    assert sev1.memberships.filter(user=commander, role=Membership.Role.RESPONDER).exists()
    sev1.refresh_from_db()
    assert sev1.acknowledged_at is not None
    handover, ack = sev1.timeline.order_by("-id")[:2][::-1]
    assert handover.data == {"field": "commander", "old": "cmdr", "new": "pager"} and handover.author == oncall
    assert handover.body == "Command taken: cmdr → pager."
    assert ack.data["field"] == "acknowledged_at" and ack.author == oncall


def test_oncall_may_name_themselves_in_the_commander_command(as_user, sev1, oncall):
    type_in_box(as_user, oncall, sev1, "/commander @pager")
    assert services.commander_of(sev1) == oncall


def test_oncall_may_not_hand_command_to_someone_else(as_user, sev1, oncall, responder, commander):
    response = type_in_box(as_user, oncall, sev1, "/commander resp")
    assert "Only the incident's commanders may hand over command." in response.text
    assert services.commander_of(sev1) == commander


def test_someone_neither_commanding_nor_on_call_still_cannot_ack_or_take_command(as_user, sev1, responder, commander):
    assert "on-call group may acknowledge" in type_in_box(as_user, responder, sev1, "/ack").text
    assert "on-call group may take command" in type_in_box(as_user, responder, sev1, "/commander me").text
    sev1.refresh_from_db()
    assert sev1.acknowledged_at is None and services.commander_of(sev1) == commander


def test_war_room_offers_oncall_the_buttons_and_they_work(as_user, sev1, oncall, commander):
    client = as_user(oncall)
    page = client.get(sev1.get_absolute_url()).content.decode()
    assert 'data-testid="oncall-actions"' in page
    assert "Take command and acknowledge" in page
    assert 'name="body"' in page  # the box, for /ack and /commander me
    client.post(reverse("incidents:take_command", args=[sev1.key]))
    assert services.commander_of(sev1) == oncall
    sev1.refresh_from_db()
    assert sev1.acknowledged_at is not None
    page = client.get(sev1.get_absolute_url()).content.decode()
    assert "Take command" not in page  # they hold it now


def test_war_room_acknowledge_button_works_for_oncall(as_user, sev1, oncall):
    as_user(oncall).post(reverse("incidents:acknowledge", args=[sev1.key]))
    sev1.refresh_from_db()
    assert sev1.acknowledged_at is not None


def test_a_viewer_sees_no_oncall_buttons(as_user, sev1, viewer):
    page = as_user(viewer).get(sev1.get_absolute_url()).content.decode()
    assert "Take command" not in page and 'data-testid="oncall-actions"' not in page


def test_oncall_acknowledges_and_takes_command_through_the_api(api, sev1, oncall):
    client = api(oncall)
    response = client.post(reverse("incident-acknowledge", args=[sev1.pk]))
    assert response.status_code == 200, response.json()
    assert response.json()["acknowledged_at"] is not None
    response = client.post(reverse("incident-take-command", args=[sev1.pk]))
    assert response.status_code == 200, response.json()
    assert response.json()["commander"] == "pager"
    assert sev1.timeline.filter(kind=TimelineEntry.Kind.ROLE, author=oncall).exists()


def test_taking_command_twice_is_a_400(api, sev1, oncall):
    api(oncall).post(reverse("incident-take-command", args=[sev1.pk]))
    response = api(oncall).post(reverse("incident-take-command", args=[sev1.pk]))
    assert response.status_code == 400 and "already the commander" in str(response.json())


def test_others_are_refused_by_the_api_with_a_403(api, sev1, responder):
    for name in ("incident-acknowledge", "incident-take-command"):
        response = api(responder).post(reverse(name, args=[sev1.pk]))
        assert response.status_code == 403 and "on-call group" in response.json()["detail"]


def test_oncall_outside_a_confidential_incident_cannot_find_it(api, declare, oncall):
    secret = declare(title="Database exposed", kind="data_exposure", confidential=True, severity=1)
    assert api(oncall).post(reverse("incident-take-command", args=[secret.pk])).status_code == 404
    assert services.commander_of(secret).username == "cmdr"


def test_the_commander_hears_when_oncall_is_paged(sev1, oncall, commander, time_machine):
    time_machine.move_to(sev1.declared_at, tick=False)
    time_machine.shift(5 * 60)
    sweep()
    kind = UserNotification.Kind.UNACKNOWLEDGED
    paged = set(UserNotification.objects.filter(kind=kind).values_list("user__username", flat=True))
    assert paged == {"pager", "cmdr"}
    body = UserNotification.objects.get(user=commander, kind=kind).body
    assert "/ack" in body and "/commander me" in body


def test_oncall_war_room_page_queries_are_bounded(as_user, sev1, oncall, django_assert_max_num_queries):
    client = as_user(oncall)
    client.get(sev1.get_absolute_url())
    with django_assert_max_num_queries(30):
        assert client.get(sev1.get_absolute_url()).status_code == 200


def test_api_acknowledge_and_take_command_queries_are_bounded(api, sev1, oncall, django_assert_max_num_queries):
    client = api(oncall)
    with django_assert_max_num_queries(20):
        assert client.post(reverse("incident-acknowledge", args=[sev1.pk])).status_code == 200
    with django_assert_max_num_queries(30):
        assert client.post(reverse("incident-take-command", args=[sev1.pk])).status_code == 200
