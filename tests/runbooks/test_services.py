"""The runbook domain: versions, suggestions, attaching, step transitions, my steps."""

from dataclasses import replace

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from incidents import services as incidents
from incidents.models import Membership, TimelineEntry
from runbooks import services
from runbooks.fileformat import StepData
from runbooks.models import RunbookRun, RunbookStep, RunbookVersion, StepRun

from .conftest import data


def runbook_entries(incident):
    return list(TimelineEntry.objects.filter(incident=incident, kind=TimelineEntry.Kind.RUNBOOK).order_by("id"))


# Versioning -----------------------------------------------------------------------------------


def test_saving_a_new_runbook_makes_version_1(commander):
    version, created = services.save_runbook(commander, data())
    assert created and version.number == 1
    assert version.runbook.latest == version
    assert version.created_by == commander


def test_saving_unchanged_content_makes_no_version(commander):
    first, _ = services.save_runbook(commander, data())
    again, created = services.save_runbook(commander, data())
    assert not created and again == first
    assert RunbookVersion.objects.count() == 1


def test_a_used_version_never_changes_and_an_edit_makes_v2(commander, incident):
    v1, _ = services.save_runbook(commander, data(steps=[StepData(title="Look", role="responder")]))
    run = services.attach(incident, v1.runbook, commander)

    v2, created = services.save_runbook(
        commander, data(steps=[StepData(title="Look harder", role="responder"), StepData(title="Call", role="comms")])
    )

    assert created and v2.number == 2
    v1.refresh_from_db()
    assert [s.title for s in v1.steps.all()] == ["Look"]
    run = services.runs_for(incident).get(pk=run.pk)
    assert run.version == v1
    assert [sr.step.title for sr in run.step_runs.all()] == ["Look"]
    assert v2.runbook.latest == v2


def test_saving_an_existing_version_or_step_is_refused(make_runbook):
    version = make_runbook()
    version.title = "Rewritten"
    with pytest.raises(ValueError, match="immutable"):
        version.save()
    step = version.steps.first()
    step.title = "Rewritten"
    with pytest.raises(ValueError, match="immutable"):
        step.save()
    assert RunbookVersion.objects.get(pk=version.pk).title == "Runbook flood"


def test_only_commanders_may_edit_runbooks(responder):
    with pytest.raises(PermissionDenied):
        services.save_runbook(responder, data())


@pytest.mark.parametrize(
    "change, field",
    [
        ({"slug": "Not A Slug"}, "slug"),
        ({"slug": "my-steps"}, "slug"),
        ({"title": "x" * 201}, "title"),
        ({"kinds": ["outage"]}, "kinds"),
        ({"min_severity": 7}, "min_severity"),
        ({"services": ["nope"]}, "services"),
        ({"owner": "nobody"}, "owner"),
        ({"steps": [StepData(title="A", role="intern")]}, "steps"),
        ({"steps": [StepData(title="A", expected_minutes=10**9)]}, "steps"),
        ({"steps": [StepData(title="A", body="text\n\n## looks like a step\nmore")]}, "steps"),
    ],
)
def test_invalid_runbooks_are_refused_with_the_field_at_fault(commander, change, field):
    with pytest.raises(ValidationError) as caught:
        services.save_runbook(commander, replace(data(), **change))
    assert field in caught.value.message_dict
    assert RunbookVersion.objects.count() == 0


# Suggestions ---------------------------------------------------------------------------------


def test_suggestions_follow_kind_severity_and_services(declare, make_runbook, api_service, web_chat):
    make_runbook("any-kind")  # no kinds, SEV4 or worse: applies to everything
    make_runbook("availability", kinds=["availability"])
    make_runbook("security-only", kinds=["security"])
    make_runbook("sev1-only", min_severity=1)
    make_runbook("sev2-or-worse", min_severity=2)
    make_runbook("api-only", services=["public-api"])
    make_runbook("chat-only", services=["web-chat"])

    incident = declare(severity=2, kind="availability", services=[api_service])

    suggested = [v.runbook.slug for v in services.suggestions(incident)]
    assert set(suggested) == {"any-kind", "availability", "sev2-or-worse", "api-only"}
    # The most specific first: a kind match beats "any kind".
    assert suggested[0] == "availability"


def test_a_service_hit_by_an_impact_counts_for_suggestions(declare, make_runbook, commander, web_chat):
    make_runbook("chat-only", services=["web-chat"])
    incident = declare()
    assert services.suggestions(incident) == []
    incidents.add_impact(incident, commander, service=web_chat, level="partial_outage")
    assert [v.runbook.slug for v in services.suggestions(incident)] == ["chat-only"]


def test_attached_runbooks_are_no_longer_suggested(incident, make_runbook, commander):
    version = make_runbook("flood")
    make_runbook("other")
    services.attach(incident, version.runbook, commander)
    assert [v.runbook.slug for v in services.suggestions(incident)] == ["other"]


def test_starter_library_suggests_data_exposure_runbooks_for_a_data_exposure(starter_library, declare):
    incident = declare(kind="data_exposure", severity=1, confidential=True)
    suggested = {v.runbook.slug for v in services.suggestions(incident)}
    assert {"data-exposure", "regulatory-notification", "leaked-credentials"} <= suggested
    assert "ddos-public-api" not in suggested


# Attaching ---------------------------------------------------------------------------------


def test_attach_pins_the_version_creates_step_runs_and_preassigns_by_role(
    incident, make_runbook, commander, responder, django_user_model
):
    comms = django_user_model.objects.create_user("comms-lead")
    scribe = django_user_model.objects.create_user("scribe")
    incidents.assign_role(incident, comms, Membership.Role.COMMS_LEAD, commander)
    incidents.assign_role(incident, scribe, Membership.Role.SCRIBE, commander)
    steps = [
        StepData(title="Command", role="commander"),
        StepData(title="Post", role="comms", expected_minutes=15, critical=True),
        StepData(title="Write down", role="scribe"),
        StepData(title="Fix", role="responder"),
        StepData(title="Assess", role="legal"),
    ]
    version = make_runbook(steps=steps)

    run = services.attach(incident, version.runbook, commander)

    assert run.version == version and run.started_by == commander
    step_runs = list(run.step_runs.order_by("position"))
    assert [(sr.step.title, sr.status) for sr in step_runs] == [(s.title, "pending") for s in steps]
    assert [sr.assignee for sr in step_runs] == [commander, comms, scribe, None, None]
    [entry] = runbook_entries(incident)
    assert entry.body == "Runbook attached: Runbook flood (v1, 5 steps)."
    assert entry.author == commander
    assert entry.data["runbook"] == "flood" and entry.data["version"] == 1


def test_a_runbook_is_attached_once_per_incident(incident, make_runbook, commander):
    version = make_runbook()
    services.attach(incident, version.runbook, commander)
    with pytest.raises(ValidationError, match="already attached"):
        services.attach(incident, version.runbook, commander)
    assert RunbookRun.objects.count() == 1


def test_only_commanders_attach_runbooks(incident, make_runbook, responder, viewer):
    version = make_runbook()
    for user in (responder, viewer):
        with pytest.raises(PermissionDenied):
            services.attach(incident, version.runbook, user)
    assert not RunbookRun.objects.exists()


def test_a_closed_incident_takes_no_new_runbook(incident, make_runbook, commander):
    version = make_runbook()
    incidents.change_status(incident, "resolved", commander)
    incidents.change_status(incident, "closed", commander)
    with pytest.raises(ValidationError, match="closed"):
        services.attach(incident, version.runbook, commander)


# Step transitions --------------------------------------------------------------------------


@pytest.fixture
def step_run(incident, make_runbook, commander):
    run = services.attach(incident, make_runbook().runbook, commander)
    return run.step_runs.order_by("position").first()


def test_a_step_goes_pending_in_progress_done_with_times_and_timeline(step_run, responder):
    incident = step_run.run.incident
    services.change_step(step_run, responder, status="in_progress")
    step_run.refresh_from_db()
    assert step_run.status == "in_progress" and step_run.started_at and step_run.completed_at is None

    services.change_step(step_run, responder, status="done", note="Edge graphs show 5x baseline.")
    step_run.refresh_from_db()
    assert step_run.status == "done" and step_run.completed_at and step_run.note == "Edge graphs show 5x baseline."

    bodies = [e.body for e in runbook_entries(incident)][1:]
    assert bodies == [
        "Step “Step 1”: pending → in progress.",
        "Step “Step 1”: in progress → done.",
        "Step “Step 1” note: Edge graphs show 5x baseline.",
    ]
    assert runbook_entries(incident)[1].data == {
        "field": "step.status",
        "step_run": step_run.pk,
        "old": "pending",
        "new": "in_progress",
    }
    assert all(e.author == responder for e in runbook_entries(incident)[1:])


@pytest.mark.parametrize("status", ["skipped", "blocked"])
def test_skipping_or_blocking_needs_a_reason(step_run, responder, status):
    with pytest.raises(ValidationError) as caught:
        services.change_step(step_run, responder, status=status, reason="  ")
    assert caught.value.message_dict == {"reason": [f"Say why the step is {status}."]}
    step_run.refresh_from_db()
    assert step_run.status == "pending"

    services.change_step(step_run, responder, status=status, reason="Provider already filtering")
    step_run.refresh_from_db()
    assert step_run.status == status and step_run.reason == "Provider already filtering"
    assert runbook_entries(step_run.run.incident)[-1].body.endswith("Reason: Provider already filtering")


def test_illegal_transitions_are_refused_with_a_clear_message(step_run, responder):
    services.change_step(step_run, responder, status="done")
    with pytest.raises(ValidationError) as caught:
        services.change_step(step_run, responder, status="blocked", reason="late")
    assert caught.value.message_dict == {"status": ["A done step cannot become blocked."]}
    with pytest.raises(ValidationError, match="Unknown status 'finished'"):
        services.change_step(step_run, responder, status="finished")
    step_run.refresh_from_db()
    assert step_run.status == "done"


def test_a_done_step_can_be_reopened(step_run, responder):
    services.change_step(step_run, responder, status="done")
    services.change_step(step_run, responder, status="in_progress")
    step_run.refresh_from_db()
    assert step_run.status == "in_progress" and step_run.completed_at is None


def test_a_step_can_be_assigned_to_someone_who_works_on_the_incident(step_run, commander, responder):
    services.change_step(step_run, commander, assignee=responder)
    step_run.refresh_from_db()
    assert step_run.assignee == responder
    assert runbook_entries(step_run.run.incident)[-1].body == "Step “Step 1” assigned: nobody → resp."


def test_a_step_cannot_be_assigned_to_someone_who_cannot_work_on_it(step_run, commander, viewer):
    with pytest.raises(ValidationError, match="cannot work on"):
        services.change_step(step_run, commander, assignee=viewer)


def test_a_step_of_a_confidential_incident_cannot_go_to_a_non_member(confidential, make_runbook, commander, responder):
    run = services.attach(confidential, make_runbook().runbook, commander)
    with pytest.raises(ValidationError, match="cannot work on"):
        services.change_step(run.step_runs.first(), commander, assignee=responder)


def test_a_viewer_cannot_change_steps(step_run, viewer, outsider):
    for user in (viewer, outsider):
        with pytest.raises(PermissionDenied):
            services.change_step(step_run, user, status="done")
    step_run.refresh_from_db()
    assert step_run.status == "pending"


def test_nothing_to_change_writes_nothing(step_run, responder):
    before = TimelineEntry.objects.count()
    services.change_step(step_run, responder, status="pending", note="")
    assert TimelineEntry.objects.count() == before


# Progress and my steps -------------------------------------------------------------------------


def test_progress_counts_done_critical_and_overdue(incident, make_runbook, commander, responder):
    from datetime import timedelta

    from django.utils import timezone

    steps = [
        StepData(title="A", expected_minutes=10, critical=True),
        StepData(title="B", expected_minutes=10, critical=True),
        StepData(title="C", expected_minutes=60),
        StepData(title="D"),
    ]
    run = services.attach(incident, make_runbook(steps=steps).runbook, commander)
    first = run.step_runs.get(position=1)
    services.change_step(first, responder, status="done")
    run = services.runs_for(incident).get()

    progress = services.progress(run, now=run.started_at + timedelta(minutes=25))
    assert progress == {"done": 1, "total": 4, "critical_open": 1, "overdue": 1, "blocked": 0, "percent": 25}
    assert services.progress(run, now=timezone.now())["overdue"] == 0


def test_my_steps_lists_only_my_open_steps_on_open_visible_incidents(
    declare, make_runbook, commander, responder, security
):
    version = make_runbook(steps=3)
    mine = declare(title="Mine")
    resolved = declare(title="Resolved")
    other = declare(title="Someone else's")
    runs = {i: services.attach(i, version.runbook, commander) for i in (mine, resolved, other)}
    for incident in (mine, resolved):
        for sr in runs[incident].step_runs.all():
            services.change_step(sr, commander, assignee=responder)
    done = runs[mine].step_runs.get(position=3)
    services.change_step(done, responder, status="done")
    incidents.change_status(resolved, "resolved", commander)

    assert [(sr.run.incident, sr.position) for sr in services.my_steps(responder)] == [(mine, 1), (mine, 2)]
    assert list(services.my_steps(security)) == []


def test_my_steps_hides_a_confidential_incident_i_can_no_longer_see(confidential, make_runbook, commander, responder):
    incidents.assign_role(confidential, responder, Membership.Role.RESPONDER, commander)
    run = services.attach(confidential, make_runbook().runbook, commander)
    step = run.step_runs.first()
    services.change_step(step, commander, assignee=responder)
    assert list(services.my_steps(responder)) == [step]
    membership = Membership.objects.get(incident=confidential, user=responder)
    incidents.remove_role(confidential, membership, commander)
    assert list(services.my_steps(responder)) == []


def test_step_roles_cover_the_incident_roles_that_fill_them():
    assert RunbookStep.INCIDENT_ROLE[RunbookStep.Role.COMMS] == Membership.Role.COMMS_LEAD
    assert StepRun.TRANSITIONS.keys() == set(StepRun.Status)


# Assigning in bulk ------------------------------------------------------------------------------


def test_assign_evenly_counts_steps_people_already_hold(commander, responder, incident, make_runbook):
    run = services.attach(incident, make_runbook(steps=5).runbook, commander)
    incidents.assign_role(incident, responder, "responder", commander)
    first, *rest = list(run.step_runs.order_by("position"))
    services.change_step(first, commander, assignee=responder)  # resp already holds one
    given = services.assign_open_steps_evenly(incident, commander)
    assert {u.username: n for u, n in given.items()} == {"cmdr": 3, "resp": 1}
    held = list(run.step_runs.order_by("position").values_list("assignee__username", flat=True))
    assert held == ["resp", "cmdr", "cmdr", "resp", "cmdr"]  # ties go to the first by username
    assert runbook_entries(incident)[-1].body == "Open steps assigned evenly (4): cmdr 3, resp 1."
    with pytest.raises(ValidationError, match="already has someone"):
        services.assign_open_steps_evenly(incident, commander)


def test_only_commanders_assign_or_move_steps_in_bulk(commander, responder, incident, make_runbook):
    services.attach(incident, make_runbook(steps=2).runbook, commander)
    incidents.assign_role(incident, responder, "responder", commander)
    with pytest.raises(PermissionDenied):
        services.assign_open_steps_evenly(incident, responder)
    with pytest.raises(PermissionDenied):
        services.move_open_steps(incident, commander, responder, responder)


def test_handover_offers_the_old_commanders_open_steps_until_they_are_moved(
    commander, responder, outsider, incident, make_runbook, django_user_model
):
    from tests.conftest import make_user

    maya = make_user(django_user_model, "maya", "commander")
    services.attach(incident, make_runbook(steps=3).runbook, commander)
    services.assign_open_steps_evenly(incident, commander)  # cmdr is the only one on it
    assert services.handover_offer(incident) is None
    incidents.hand_over_command(incident, maya, commander)
    old, new, count = services.handover_offer(incident)
    assert (old, new, count) == (commander, maya, 3)
    with pytest.raises(ValidationError, match="give them a role first"):
        services.move_open_steps(incident, commander, outsider, maya)
    assert services.move_open_steps(incident, commander, maya, maya) == 3
    assert services.handover_offer(incident) is None
    assert runbook_entries(incident)[-1].body == "3 open steps moved: cmdr → maya."
