"""The static export follows what is public, by a rule rather than a list of triggers: the
sweep (every 30 s) and a check queued after every write compare the content version with the
one the export was built from, and re-export when they differ. The content version is a digest
of the public content only, so writes the public cannot see change nothing."""

import gzip
import json
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from incidents import services
from incidents.security import mitigations as security
from statuspage import tasks, views
from statuspage.export import VERSION_FILE
from statuspage.models import PublicComponent, PublicIncident
from statuspage.public import iso
from tests.statuspage.page_factories import *  # noqa: F403 - fixtures

EXPLANATION = "New registrations are temporarily limited to some countries."


@pytest.fixture
def export_dir(settings, tmp_path):
    settings.STATUSPAGE_EXPORT_DIR = str(tmp_path / "status")
    return tmp_path / "status"


@pytest.fixture
def exported(export_dir, public_page):
    """A public page, exported once by the sweep."""
    assert tasks.sweep()["exported"] is True
    return export_dir


def read(export_dir, name):
    return (export_dir / name).read_text()


def summary(export_dir):
    return json.loads(read(export_dir, "api/v2/summary.json"))


def sweep_re_exported(export_dir):
    """Run the sweep; True if it wrote a new export."""
    before = export_dir.resolve()
    assert tasks.sweep()["exported"] is True
    return export_dir.resolve() != before


def sign_ups_limited(incident, by):
    return security.add_mitigation(
        incident,
        by,
        title="Sign-ups limited",
        description="Only +86 numbers",
        public=True,
        public_explanation=EXPLANATION,
    )


# What changes what is public changes the export ---------------------------------------------------------


def test_recording_a_public_mitigation_reaches_the_export_and_its_last_updated(exported, public_page, commander):
    assert EXPLANATION not in read(exported, "index.html")
    mitigation = sign_ups_limited(public_page, commander)

    assert sweep_re_exported(exported)
    assert EXPLANATION in read(exported, "index.html")
    assert summary(exported)["page"]["updated_at"] == iso(mitigation.started_at)


def test_lifting_a_public_mitigation_reaches_the_export_and_its_last_updated(exported, public_page, commander):
    mitigation = sign_ups_limited(public_page, commander)
    tasks.sweep()
    assert EXPLANATION in read(exported, "index.html")

    lifted = security.lift_mitigation(mitigation, commander)

    assert sweep_re_exported(exported)
    assert EXPLANATION not in read(exported, "index.html")
    assert summary(exported)["page"]["updated_at"] == iso(lifted.ended_at)
    assert iso(lifted.ended_at)[:16] in read(exported, "index.html")  # "Last updated"


def test_making_an_incident_confidential_removes_it_from_every_exported_file(exported, public_page, commander):
    public_id = PublicIncident.objects.get(incident=public_page).public_id
    assert "Chat replies time out" in read(exported, "feed.atom")

    services.update_fields(public_page, commander, confidential=True)

    assert sweep_re_exported(exported)
    for name in [p for p in exported.rglob("*") if p.is_file()]:
        body = gzip.decompress(name.read_bytes()) if name.suffix == ".gz" else name.read_bytes()
        assert "Chat replies time out" not in body.decode(errors="replace"), name
        assert "A fix is rolling out." not in body.decode(errors="replace"), name
    assert not (exported / "incidents" / public_id).exists()
    assert summary(exported)["incidents"] == []


def test_renaming_a_public_service_reaches_the_export(exported, web_chat, commander):
    services.update_service(web_chat, commander, name="Chat in the browser")

    assert sweep_re_exported(exported)
    assert "Chat in the browser" in read(exported, "index.html")
    names = [c["name"] for c in summary(exported)["components"]]
    assert "Chat in the browser" in names and "Web chat" not in names
    component = PublicComponent.objects.get(service=web_chat).public_id
    assert "Chat in the browser" in read(exported, f"components/{component}/feed.atom")


def test_making_a_service_internal_removes_it_from_the_export(exported, api_service, commander):
    component = PublicComponent.objects.get(service=api_service).public_id
    assert (exported / "components" / component / "feed.atom").exists()

    services.update_service(api_service, commander, public=False)

    assert sweep_re_exported(exported)
    assert api_service.name not in read(exported, "index.html")
    assert api_service.name not in read(exported, "api/v2/summary.json")
    assert not (exported / "components" / component).exists()


def test_a_write_queues_one_export_check_after_commit_and_the_check_re_exports(
    exported, public_page, commander, django_capture_on_commit_callbacks, monkeypatch
):
    queued = []
    # Stands in for the broker only; the task's body runs below.
    monkeypatch.setattr(tasks.export_page, "delay", lambda: queued.append("check"))
    with django_capture_on_commit_callbacks(execute=True):
        sign_ups_limited(public_page, commander)
        services.log_entry(public_page, commander, "Still limited.")
    with django_capture_on_commit_callbacks(execute=True):
        services.update_fields(public_page, commander, title="Sign-ups limited worldwide")
    assert queued == ["check"], "one check, queued and not yet started, covers every later write"

    before = exported.resolve()
    assert tasks.export_page() is True
    assert exported.resolve() != before
    assert EXPLANATION in read(exported, "index.html")

    with django_capture_on_commit_callbacks(execute=True):
        services.update_fields(public_page, commander, title="Sign-ups limited in some countries")
    assert queued == ["check", "check"], "once the check started, a write queues another"


def test_private_writes_cost_the_status_page_nothing(
    exported, public_page, commander, responder, monkeypatch, django_capture_on_commit_callbacks
):
    """A note, a role, a runbook step: most of an incident's writes. They neither make the
    process that took them compute the content version again nor queue an export check; a
    public change does both."""
    queued = []
    monkeypatch.setattr(tasks.export_page, "delay", lambda: queued.append("check"))
    version = views.recent_version.get()
    with django_capture_on_commit_callbacks(execute=True):
        services.log_entry(public_page, commander, "Private: the attacker's ASN is 64500.")
        services.assign_role(public_page, responder, "scribe", commander)
    assert views.recent_version.value == version and queued == []

    with django_capture_on_commit_callbacks(execute=True):
        sign_ups_limited(public_page, commander)
    assert views.recent_version.value is None and queued == ["check"]


def test_the_clock_alone_re_exports_when_what_the_export_shows_ends(exported, public_page, commander, web_chat):
    ends = timezone.now() + timedelta(hours=1)
    services.add_impact(public_page, commander, service=web_chat, level="major_outage", ended_at=ends)
    assert sweep_re_exported(exported)
    assert web_chat_status(exported) == "major_outage"

    with time_machine.travel(ends + timedelta(minutes=1)):
        assert sweep_re_exported(exported)
        assert web_chat_status(exported) != "major_outage"


def web_chat_status(export_dir):
    return next(c["status"] for c in summary(export_dir)["components"] if c["name"] == "Web chat")


# What the public cannot see changes nothing ---------------------------------------------------------------


def test_a_private_timeline_note_does_not_change_the_content_version_or_re_export(exported, public_page, commander):
    version = views.content_version()
    services.log_entry(public_page, commander, "Private: the attacker's ASN is 64500.")
    services.update_fields(public_page, commander, summary="Internal summary edit.")

    assert views.content_version() == version
    assert not sweep_re_exported(exported)
    assert read(exported, VERSION_FILE).split()[0] == version


def test_changes_to_a_confidential_incident_do_not_change_the_content_version_or_re_export(
    exported, declare, publish, commander, web_chat
):
    secret = declare(title="Chat logs exposed", kind="data_exposure", confidential=True, severity=1)
    publish(secret, "SECRET: the bucket was public.", affected={"web-chat": "major_outage"})
    version = views.content_version()
    assert not sweep_re_exported(exported)

    services.update_fields(secret, commander, title="Chat logs exposed (confirmed)")
    services.log_entry(secret, commander, "Bucket closed.")
    services.add_impact(secret, commander, service=web_chat, level="major_outage")
    sign_ups_limited(secret, commander)
    publish(secret, "SECRET: second update.")

    assert views.content_version() == version
    assert not sweep_re_exported(exported)
