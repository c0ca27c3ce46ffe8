"""Fixtures of the reminder tests (test_reminders.py, test_review_reminders.py): a frozen
clock, a cast of people with e-mail addresses, and incidents staffed with a deputy and a comms
lead."""

from datetime import UTC, datetime, timedelta

import pytest

from incidents import services
from tests.conftest import make_user

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday morning


@pytest.fixture
def clock(time_machine):
    """The frozen clock, at T0; `clock.at(minutes)` moves it to T0 + minutes."""
    time_machine.move_to(T0, tick=False)

    class Clock:
        def at(self, minutes=0, **more):
            time_machine.move_to(T0 + timedelta(minutes=minutes, **more), tick=False)

    return Clock()


@pytest.fixture
def people(django_user_model, commander, responder, outsider, security):
    """The cast: the commander, a deputy, a comms lead, the on-call pair, a responder, an
    outsider and a security-group member, each with an e-mail address."""
    cast = {
        "commander": commander,
        "deputy": make_user(django_user_model, "dep", "commander"),
        "comms": make_user(django_user_model, "comms", "comms"),
        "oncall1": make_user(django_user_model, "oncall1", "oncall", "responder"),
        "oncall2": make_user(django_user_model, "oncall2", "oncall", "responder"),
        "responder": responder,
        "outsider": outsider,
        "security": security,
    }
    for name, user in cast.items():
        user.email = f"{name}@example.com"
        user.save(update_fields=["email"])
    return type("People", (), cast)


@pytest.fixture
def staffed(declare, people, clock):
    """staffed(**declare kwargs) -> an incident declared at the current time with a deputy and
    a comms lead (pass comms=False or deputy=False to leave the role empty)."""

    def _staffed(comms=True, deputy=True, **kwargs):
        incident = declare(**kwargs)
        if deputy:
            services.assign_role(incident, people.deputy, "deputy", people.commander)
        if comms:
            services.assign_role(incident, people.comms, "comms_lead", people.commander)
        return incident

    return _staffed
