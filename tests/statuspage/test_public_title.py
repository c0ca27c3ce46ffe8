"""The public title and the public impact (#13): every public surface names an incident by the
title comms gave it for the public, never by its internal title, and shows the impact comms
chose on the latest published update, not one derived from the internal severity."""

import gzip
import json
from io import StringIO
from pathlib import Path

import pytest
from django.core import mail
from django.core.management import call_command

from incidents.comms import services as communications
from statuspage import delivery, tasks, views
from statuspage.models import Notification
from statuspage.public import PublicState
from tests.statuspage.page_factories import *  # noqa: F403 - fixtures
from tests.statuspage.subscription_factories import (  # noqa: F401
    email_subscriber,
    private_webhooks,  # noqa: F811
    webhook_subscriber,
)
from tests.webhook_receiver import webhook_receiver  # noqa: F401

pytestmark = pytest.mark.django_db

INTERNAL = "SEV1: [demo] db-7 primary melted ZQX-INTERNAL"
PUBLIC = "Slow replies in web chat"
PUBLIC_ZH = "网页聊天回复缓慢"


@pytest.fixture
def titled(declare, author, web_chat):
    """A SEV1 whose internal title must stay inside; comms gave it a public title (and a Chinese
    one through the update's translation) and called its impact minor."""
    incident = declare(title=INTERNAL, severity=1, public_title="")
    comm = communications.draft(
        incident,
        author,
        audience="status_page",
        body="Replies in web chat are slow for some users.",
        public_status="investigating",
        affected=[{"service": "web-chat", "level": "degraded_performance"}],
        public_title=PUBLIC,
        public_impact="minor",
    )
    return incident, comm


def publish_with_translation(comm, author, approver):
    communications.set_translation(comm, author, "zh-hans", "部分用户的网页聊天回复缓慢。", title=PUBLIC_ZH)
    comm.refresh_from_db()
    communications.submit(comm, author)
    communications.approve(comm, approver, comm.content_version)
    assert communications.publish_now(comm.pk, approver.pk)
    comm.refresh_from_db()
    return comm


def every_document(client, **query):
    """Every document of the public page as served, by path (the export writes the same set)."""
    views.clear_cache()
    documents = views.Documents(PublicState())
    bodies = {}
    for path in documents.paths():
        response = client.get(f"/status/{path}", query)
        assert response.status_code == 200, path
        bodies[path] = response.content.decode()
    return bodies


def test_the_internal_title_reaches_no_public_surface(
    client,
    tmp_path,
    titled,
    author,
    approver,
    webhook_receiver,  # noqa: F811
    private_webhooks,  # noqa: F811
    settings,
):
    settings.STATUSPAGE_EXPORT_DIR = ""
    incident, comm = titled
    comm = publish_with_translation(comm, author, approver)
    email_subscriber("ana@example.com")
    email_subscriber("li@example.com", language="zh-hans")
    receiver = webhook_receiver([200])
    webhook_subscriber(receiver.url)

    tasks.after_publication(comm.pk)
    delivery.deliver(list(Notification.objects.values_list("pk", flat=True)))

    surfaces = {}
    surfaces.update({f"/status/{p}": body for p, body in every_document(client).items()})
    surfaces.update({f"/status/{p}?lang=zh-hans": body for p, body in every_document(client, lang="zh-hans").items()})
    out = tmp_path / "status"
    call_command("export_statuspage", str(out), stdout=StringIO())
    for file in Path(out).rglob("*"):
        if file.is_file():
            raw = file.read_bytes()
            surfaces[f"export:{file.name}"] = (gzip.decompress(raw) if file.suffix == ".gz" else raw).decode()
    assert len(mail.outbox) == 2
    for message in mail.outbox:
        surfaces[f"mail to {message.to[0]}"] = "\n".join([message.subject, message.body, message.alternatives[0][0]])
    [request] = receiver.requests
    surfaces["webhook"] = json.dumps(request["json"], ensure_ascii=False)
    for row in Notification.objects.all():
        surfaces[f"outbox row {row.pk}"] = json.dumps(row.payload, ensure_ascii=False)

    for where, body in surfaces.items():
        assert "ZQX-INTERNAL" not in body and "db-7" not in body, where
    # ...and the public title is what they say instead.
    assert PUBLIC in surfaces["/status/"] and PUBLIC in surfaces["/status/api/v2/incidents.json"]
    assert PUBLIC_ZH in surfaces["/status/?lang=zh-hans"]
    assert request["json"]["incident"]["name"] == PUBLIC
    by_address = {m.to[0]: m for m in mail.outbox}
    assert PUBLIC in by_address["ana@example.com"].subject
    assert PUBLIC_ZH in by_address["li@example.com"].subject
    assert PUBLIC_ZH in by_address["li@example.com"].body


def test_the_page_and_json_show_the_impact_comms_chose_not_the_severity(client, titled, author, approver):
    incident, comm = titled
    publish_with_translation(comm, author, approver)

    summary = client.get("/status/api/v2/summary.json").json()
    [shown] = summary["incidents"]
    assert (shown["name"], shown["impact"]) == (PUBLIC, "minor")  # a SEV1, which comms called minor
    assert summary["status"]["indicator"] == "minor"
    page = client.get(f"/status/incidents/{shown['id']}/").content.decode()
    assert PUBLIC in page and "impact-minor" in page and "impact-critical" not in page


def test_a_later_update_changes_the_impact_and_the_title_only_when_published(client, titled, author, approver, publish):
    incident, comm = titled
    publish_with_translation(comm, author, approver)
    later = communications.draft(
        incident,
        author,
        audience="status_page",
        body="Web chat is down for everyone.",
        public_title="Web chat unavailable",
        public_impact="critical",
    )
    communications.submit(later, author)
    communications.approve(later, approver, later.content_version)

    views.clear_cache()
    [shown] = client.get("/status/api/v2/incidents.json").json()["incidents"]
    assert (shown["name"], shown["impact"]) == (PUBLIC, "minor")  # approved, not yet published

    assert communications.publish_now(later.pk, approver.pk)
    views.clear_cache()
    [shown] = client.get("/status/api/v2/incidents.json").json()["incidents"]
    assert (shown["name"], shown["impact"]) == ("Web chat unavailable", "critical")
    incident.refresh_from_db()
    assert incident.public_title == "Web chat unavailable"
    assert incident.public_titles == {"zh-hans": PUBLIC_ZH}  # kept: the later update did not translate it
    entry = incident.timeline.filter(data__field="public_title").latest("id")
    assert (entry.data["old"], entry.data["new"]) == (PUBLIC, "Web chat unavailable")
