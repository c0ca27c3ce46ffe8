"""`make run` loads the demo: it must load on an empty database, and loading it again changes nothing."""

import io
from pathlib import Path

import pytest
from django.core.management import call_command

from incidents.comms import services as communications
from incidents.models import ActionItem, Incident, Recipient, RecipientList, Review
from statuspage.models import StatusPage

pytestmark = pytest.mark.django_db


def test_the_demo_loads_once_with_a_review_in_progress():
    call_command("load_demo", verbosity=0)
    call_command("load_demo", verbosity=0)
    assert Incident.objects.filter(title__startswith="[demo]").count() == 2
    review = Review.objects.get()
    assert review.status == Review.Status.DRAFT
    assert "Edge error rate 38%" in review.body  # drafted from the demo's timeline
    assert ActionItem.objects.filter(incident=review.incident).count() == 3
    assert ActionItem.objects.filter(status=ActionItem.Status.OPEN).count() == 2


def test_make_run_gives_a_second_comms_member_a_password_to_approve_what_admin_writes(tmp_path, django_user_model):
    """bin/run.py loads the demo, then makes sure admin and kim have passwords (and prints both):
    one person trying Warroom drafts as admin and approves as kim (the two-person rule)."""
    call_command("load_demo", verbosity=0)
    call_command("ensure_admin", "--password-file", str(tmp_path / "admin"), stdout=io.StringIO())
    call_command(
        "ensure_admin", "--username", "kim", "--group", "comms", "--password-file", str(tmp_path / "kim"),
        stdout=io.StringIO(),
    )  # fmt: skip
    kim = django_user_model.objects.get(username="kim")
    assert kim.check_password((tmp_path / "kim").read_text().strip())
    assert list(kim.groups.values_list("name", flat=True)) == ["comms"] and not kim.is_superuser
    admin = django_user_model.objects.get(username="admin")
    incident = Incident.objects.filter(title__startswith="[demo]").first()
    comm = communications.draft(incident, admin, audience="status_page", body="We are investigating.")
    communications.submit(comm, admin)
    communications.approve(comm, kim, comm.content_version)
    comm.refresh_from_db()
    assert comm.status == "approved"
    # Running make run again keeps the password it printed.
    call_command(
        "ensure_admin", "--username", "kim", "--group", "comms", "--password-file", str(tmp_path / "kim"),
        stdout=io.StringIO(),
    )  # fmt: skip
    kim.refresh_from_db()
    assert kim.check_password((tmp_path / "kim").read_text().strip())


def test_make_run_prints_the_second_login():
    source = (Path(__file__).resolve().parents[2] / "bin" / "run.py").read_text()
    assert '"--username", "kim", "--group", "comms"' in source
    assert "kim / {kim_password}" in source


def test_the_demo_status_page_shows_public_titles_and_the_chosen_impact(client):
    call_command("load_demo", verbosity=0)
    [shown] = client.get("/status/api/v2/incidents.json").json()["incidents"]
    assert (shown["name"], shown["impact"]) == ("Sign-up codes delayed in some countries", "minor")  # a SEV2
    assert "[demo]" not in client.get("/status/").content.decode()
    assert "部分国家的注册验证码延迟" in client.get("/status/?lang=zh-hans").content.decode()


def test_the_demo_has_customer_and_regulator_lists_and_a_private_page_with_an_access_link(tmp_path, client):
    call_command("load_demo", verbosity=0)
    token_file = tmp_path / "token"
    first, again = io.StringIO(), io.StringIO()
    call_command("load_statuspage_demo", "--token-file", str(token_file), stdout=first)
    call_command("load_statuspage_demo", "--token-file", str(token_file), stdout=again)
    link = first.getvalue().strip()
    assert link == again.getvalue().strip()  # make run prints the same link at every start
    assert "/status/p/enterprise/?access=" in link
    lists = {item.name: item for item in RecipientList.objects.all()}
    assert {name: item.audience for name, item in lists.items()} == {
        "Enterprise customers": "customers",
        "Data-protection authorities": "regulators",
    }
    assert all(m.email.endswith(".example.com") for m in Recipient.objects.all())
    page = StatusPage.objects.get(slug="enterprise")
    assert page.is_private and page.name == "Enterprise customers"
    assert lists["Enterprise customers"].follows_page == page.pk
    assert client.get("/status/p/enterprise/").status_code == 404
    shown = client.get("/status/p/enterprise/?access=" + link.rsplit("=", 1)[1])
    assert shown.status_code == 200 and "Enterprise customers" in shown.content.decode()


def test_make_run_prints_the_private_pages_access_link():
    source = (Path(__file__).resolve().parents[2] / "bin" / "run.py").read_text()
    assert '"load_statuspage_demo", "--token-file"' in source and "{private_link}" in source
