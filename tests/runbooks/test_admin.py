"""The runbook admin goes through the rules: a step's progress changes in the war room
(services.change_step logs it on the timeline), never silently in the admin."""

import pytest
from django.test import Client

from runbooks import services
from runbooks.models import StepRun
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(django_user_model):
    client = Client()
    client.force_login(make_user(django_user_model, "root", is_superuser=True, is_staff=True))
    return client


@pytest.fixture
def run(incident, make_runbook, commander):
    return services.attach(incident, make_runbook().runbook, commander)


def test_a_step_cannot_be_marked_done_in_the_admin(admin_client, run, incident):
    step = run.step_runs.get(position=1)
    entries = incident.timeline.count()
    url = f"/admin/runbooks/steprun/{step.pk}/change/"
    assert admin_client.get(url).status_code == 200  # still shown
    response = admin_client.post(url, {"status": "done", "assignee": "", "reason": "", "note": "done"})
    assert response.status_code == 403
    assert StepRun.objects.get(pk=step.pk).status == step.status
    assert incident.timeline.count() == entries


def test_the_run_page_shows_steps_without_editing_them(admin_client, run):
    page = admin_client.get(f"/admin/runbooks/runbookrun/{run.pk}/change/").content.decode()
    assert "Step 1" in page
    assert 'name="step_runs-0-status"' not in page
