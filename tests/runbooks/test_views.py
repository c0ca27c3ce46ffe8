"""The HTML side: library, detail and diff, browser editing with preview, the war-room
runbook panel, "my steps", and bounded query counts."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from incidents import services as incidents
from incidents.models import Membership
from runbooks import services
from runbooks.fileformat import StepData
from runbooks.models import Runbook, RunbookRun, StepRun
from tests.conftest import HTMX

pytestmark = pytest.mark.usefixtures("clear_cache")


def url(name, *args):
    return reverse(f"runbooks:{name}", args=args)


def text_of(response):
    return response.content.decode()


# Library, detail, diff, editing -----------------------------------------------------------------


def test_library_lists_runbooks_for_any_signed_in_user(as_user, outsider, starter_library):
    response = as_user(outsider).get(url("library"))
    assert response.status_code == 200
    assert "Volumetric DDoS / traffic flood on the public API" in text_of(response)
    assert "New runbook" not in text_of(response)


def test_library_needs_a_sign_in(client, starter_library):
    response = client.get(url("library"))
    assert response.status_code == 302


def test_detail_shows_steps_and_versions_and_diff_shows_changes(as_user, viewer, make_runbook):
    make_runbook(steps=[StepData(title="Look")])
    make_runbook(steps=[StepData(title="Look"), StepData(title="Call the provider", role="deputy")])
    client = as_user(viewer)

    detail = text_of(client.get(url("detail", "flood")))
    assert "Call the provider" in detail and "v2" in detail and "Show diff" in detail
    old = text_of(client.get(url("version", "flood", 1)))
    assert "Call the provider" not in old and "not the latest" in old

    diff = client.get(url("diff", "flood"), {"a": 1, "b": 2})
    assert diff.status_code == 200
    assert "+## Call the provider" in text_of(diff)
    assert client.get(url("diff", "flood"), {"a": "x"}).status_code == 400
    assert client.get(url("diff", "flood"), {"a": 1, "b": 9}).status_code == 404


def test_commander_edits_in_the_browser_and_makes_a_new_version(as_user, commander, make_runbook):
    make_runbook()
    client = as_user(commander)
    form = client.get(url("edit", "flood"))
    assert form.status_code == 200
    text = form.context["form"].initial["text"]

    response = client.post(url("edit", "flood"), {"text": text.replace("Do thing 2.", "Do thing 2 twice.")})

    assert response.status_code == 302
    runbook = Runbook.objects.get(slug="flood")
    assert runbook.latest.number == 2
    assert runbook.latest.steps.get(position=2).body == "Do thing 2 twice."
    # Saving the same text again makes no version.
    client.post(url("edit", "flood"), {"text": text.replace("Do thing 2.", "Do thing 2 twice.")})
    assert runbook.versions.count() == 2


def test_a_malformed_edit_shows_the_line_and_reason(as_user, commander, make_runbook):
    make_runbook()
    client = as_user(commander)
    text = client.get(url("edit", "flood")).context["form"].initial["text"]
    response = client.post(url("edit", "flood"), {"text": text.replace("role: responder", "role: intern", 1)})
    assert response.status_code == 400
    assert "unknown role &#x27;intern&#x27;" in text_of(response)
    assert "Line 9" in text_of(response)
    assert Runbook.objects.get(slug="flood").versions.count() == 1


def test_new_runbook_cannot_take_an_existing_slug(as_user, commander, make_runbook):
    make_runbook()
    client = as_user(commander)
    text = client.get(url("edit", "flood")).context["form"].initial["text"]
    response = client.post(url("new"), {"text": text.replace("Do thing 1.", "Other")})
    assert response.status_code == 400
    assert "exists already" in text_of(response)


def test_only_commanders_may_edit_in_the_browser(as_user, responder, make_runbook):
    make_runbook()
    assert as_user(responder).get(url("edit", "flood")).status_code == 403
    assert as_user(responder).post(url("new"), {"text": "x"}).status_code == 403


def test_preview_renders_markdown_or_the_error(as_user, commander):
    client = as_user(commander)
    good = client.post(
        url("preview"), {"text": "---\nslug: a\ntitle: A\n---\n\n## Step\n\nRun `ss -s` <script>x</script>"}
    )
    assert "<code>ss -s</code>" in text_of(good) and "<script>" not in text_of(good)
    bad = client.post(url("preview"), {"text": "---\nslug: a\n---\n\n## Step\n"})
    assert "Line 2: &#x27;title&#x27; is required" in text_of(bad)


# The war-room panel ------------------------------------------------------------------------


def test_commander_sees_suggestions_and_attaches_one_in_one_click(as_user, commander, incident, make_runbook):
    make_runbook("flood", kinds=["availability"])
    make_runbook("breach", kinds=["data_exposure"])
    client = as_user(commander)

    panel = text_of(client.get(url("panel", incident.key)))
    assert "Suggested" in panel and "Attach Runbook flood" in panel and "Attach Runbook breach" not in panel

    response = client.post(url("attach", incident.key), {"runbook": "flood"}, headers=HTMX)
    assert response.status_code == 200
    assert response["HX-Trigger"] == "warroom-changed"
    assert 'data-testid="run-flood"' in text_of(response)
    assert "0 / 2" in text_of(response)
    assert RunbookRun.objects.filter(incident=incident).count() == 1


def test_attach_without_htmx_redirects_to_the_war_room(as_user, commander, incident, make_runbook):
    make_runbook()
    response = as_user(commander).post(url("attach", incident.key), {"runbook": "flood"})
    assert response.status_code == 302 and response["Location"] == incident.get_absolute_url()


def test_responder_cannot_attach_and_is_told_why(as_user, responder, incident, make_runbook):
    make_runbook()
    response = as_user(responder).post(url("attach", incident.key), {"runbook": "flood"}, headers=HTMX)
    assert "Only the incident&#x27;s commanders may attach runbooks." in text_of(response)
    assert not RunbookRun.objects.exists()


@pytest.fixture
def run(incident, make_runbook, commander):
    return services.attach(incident, make_runbook().runbook, commander)


def test_responder_completes_a_step_from_the_panel(as_user, responder, run):
    step = run.step_runs.get(position=1)
    response = as_user(responder).post(url("change_step", step.pk), {"status": "done"}, headers=HTMX)
    assert response.status_code == 200
    assert "1 / 2" in text_of(response)
    step.refresh_from_db()
    assert step.status == "done"


def test_a_step_cannot_be_skipped_without_a_reason_in_the_panel(as_user, responder, run):
    step = run.step_runs.get(position=1)
    response = as_user(responder).post(url("change_step", step.pk), {"status": "skipped"}, headers=HTMX)
    assert "Say why the step is skipped." in text_of(response)
    step.refresh_from_db()
    assert step.status == "pending"


def test_viewer_sees_the_panel_but_cannot_change_steps(as_user, viewer, run):
    client = as_user(viewer)
    panel = text_of(client.get(url("panel", run.incident.key)))
    assert "Step 1" in panel and "Done</button>" not in panel and "Attach" not in panel
    step = run.step_runs.get(position=1)
    response = client.post(url("change_step", step.pk), {"status": "done"}, headers=HTMX)
    assert "Only responders and commanders may work on runbook steps." in text_of(response)
    step.refresh_from_db()
    assert step.status == "pending"


def test_outsider_gets_404_for_the_panel_and_steps_of_a_confidential_incident(
    as_user, outsider, responder, confidential, make_runbook, commander
):
    run = services.attach(confidential, make_runbook().runbook, commander)
    step = run.step_runs.first()
    for user in (outsider, responder):  # a responder who is not a member does not see it either
        client = as_user(user)
        assert client.get(url("panel", confidential.key)).status_code == 404
        assert client.post(url("attach", confidential.key), {"runbook": "flood"}).status_code == 404
        assert client.post(url("change_step", step.pk), {"status": "done"}).status_code == 404
    step.refresh_from_db()
    assert step.status == "pending"


def test_security_sees_the_panel_of_a_confidential_incident(as_user, security, confidential, make_runbook, commander):
    services.attach(confidential, make_runbook().runbook, commander)
    assert as_user(security).get(url("panel", confidential.key)).status_code == 200


def _runs(incident, count, steps, commander, make_runbook, responder):
    for i in range(count):
        version = make_runbook(f"rb-{incident.pk}-{i}", steps=steps)
        run = services.attach(incident, version.runbook, commander)
        first = run.step_runs.first()
        services.change_step(first, commander, assignee=responder, note="on it")
        services.change_step(first, responder, status="blocked", reason="waiting")


def test_panel_query_count_does_not_grow_with_runs_and_steps(
    as_user, commander, responder, declare, make_runbook, api_service, django_user_model
):
    small, big = declare(title="Small"), declare(title="Big")
    for incident in (small, big):
        incidents.assign_role(incident, responder, Membership.Role.RESPONDER, commander)
    _runs(small, 1, 2, commander, make_runbook, responder)
    _runs(big, 5, 20, commander, make_runbook, responder)
    make_runbook("spare-a")
    make_runbook("spare-b", kinds=["availability"])
    client = as_user(commander)

    def count(incident):
        client.get(url("panel", incident.key))  # warm up per-request caches like the session
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(url("panel", incident.key))
        assert response.status_code == 200
        return len(ctx.captured_queries), text_of(response)

    small_count, _ = count(small)
    big_count, big_html = count(big)
    assert big_html.count('class="step-run ') == 100
    assert big_count == small_count, "the runbook panel must not make a query per run or step"
    assert small_count <= 14, small_count


def test_my_steps_query_count_does_not_grow_with_incidents(
    as_user, commander, responder, declare, make_runbook, django_assert_max_num_queries
):
    version = make_runbook(steps=2)

    def open_incidents(count):
        for i in range(count):
            incident = declare(title=f"Incident {i}")
            run = services.attach(incident, version.runbook, commander)
            for sr in run.step_runs.all():
                services.change_step(sr, commander, assignee=responder)

    client = as_user(responder)
    open_incidents(2)
    client.get(url("my_steps"))
    with CaptureQueriesContext(connection) as few:
        response = client.get(url("my_steps"))
    assert text_of(response).count('data-testid="my-step"') == 4

    open_incidents(48)
    with CaptureQueriesContext(connection) as many:
        response = client.get(url("my_steps"))
    assert text_of(response).count('data-testid="my-step"') == 100
    assert len(many.captured_queries) == len(few.captured_queries)
    with django_assert_max_num_queries(10):
        client.get(url("my_steps"))


def test_responder_completes_a_step_from_my_steps_with_a_note_in_one_post(as_user, responder, commander, run):
    step = run.step_runs.get(position=1)
    services.change_step(step, commander, assignee=responder)
    client = as_user(responder)
    page = text_of(client.get(url("my_steps")))
    assert "Complete Step 1" in page and run.incident.reference in page

    response = client.post(
        url("change_step", step.pk), {"status": "done", "note": "Provider filtering since 14:05", "from": "my-steps"}
    )

    assert response.status_code == 302 and response["Location"] == url("my_steps")
    step.refresh_from_db()
    assert (step.status, step.note) == ("done", "Provider filtering since 14:05")
    assert "Complete Step 1" not in text_of(client.get(url("my_steps")))


def test_my_steps_shows_nothing_for_a_viewer(as_user, viewer):
    response = as_user(viewer).get(url("my_steps"))
    assert response.status_code == 200 and "Nothing assigned to you" in text_of(response)


def test_step_status_values_are_what_the_panel_posts():
    assert {"in_progress", "done", "skipped", "blocked", "pending"} == set(StepRun.Status.values)


def test_panel_poll_is_a_cheap_204_until_a_step_changes(
    as_user, commander, responder, run, django_assert_max_num_queries
):
    client = as_user(commander)
    html = text_of(client.get(url("panel", run.incident.key)))
    poll = html.split('hx-get="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert poll.startswith(url("panel", run.incident.key) + "?v=")

    client.get(poll)
    with django_assert_max_num_queries(4):  # session, user, groups, the incident's updated_at
        assert client.get(poll).status_code == 204

    services.change_step(run.step_runs.get(position=1), responder, status="done")
    response = client.get(poll)
    assert response.status_code == 200 and "1 / 2" in text_of(response)


def test_panel_poll_redraws_when_a_minute_has_passed(as_user, commander, run):
    from datetime import timedelta

    import time_machine
    from django.utils import timezone

    client = as_user(commander)
    html = text_of(client.get(url("panel", run.incident.key)))
    poll = html.split('hx-get="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    with time_machine.travel(timezone.now() + timedelta(minutes=15)):
        response = client.get(poll)
    assert response.status_code == 200 and "overdue" in text_of(response)


def test_panel_poll_of_a_hidden_incident_is_a_404(as_user, outsider, confidential):
    client = as_user(outsider)
    assert client.get(url("panel", confidential.key), {"v": "0", "m": "0"}).status_code == 404
    assert client.get(url("panel", confidential.key), {"v": "x"}).status_code == 400


def test_panel_offers_bulk_assignment_and_the_handover_move_in_bounded_queries(
    as_user, commander, responder, incident, make_runbook, django_user_model, django_assert_max_num_queries
):
    from tests.conftest import make_user

    maya = make_user(django_user_model, "maya", "commander")
    services.attach(incident, make_runbook(steps=4).runbook, commander)
    client = as_user(commander)
    page = text_of(client.get(url("panel", incident.key)))
    assert "4 open steps have nobody." in page and "Assign the open steps evenly" in page
    response = client.post(url("assign_evenly", incident.key), headers=HTMX)
    assert response.status_code == 200 and "have nobody" not in text_of(response)
    incidents.hand_over_command(incident, maya, commander)
    client = as_user(maya)
    with django_assert_max_num_queries(16):  # the panel (14) and the last handover, its two people, their steps
        page = text_of(client.get(url("panel", incident.key)))
    assert "cmdr handed command to maya and still has 4 open steps." in page
    response = client.post(
        url("move_steps", incident.key), {"from_user": commander.pk, "to_user": maya.pk}, headers=HTMX
    )
    assert "handed command" not in text_of(response)
    assert set(StepRun.objects.values_list("assignee__username", flat=True)) == {"maya"}
    # Garbage is a message in the panel, not a server error.
    response = client.post(url("move_steps", incident.key), {"from_user": "x", "to_user": ""}, headers=HTMX)
    assert response.status_code == 200 and "Choose whose steps to move and to whom." in text_of(response)
