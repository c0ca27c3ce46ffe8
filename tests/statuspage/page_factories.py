"""Builders and fixtures shared by the public status page tests (pages, JSON, feeds, export).

Updates reach the page the way they do in production: drafted by one comms person, approved
by another, then published by incidents.comms.services.publish_now (the Celery task's body).
Import with `from tests.statuspage.page_factories import *` to get the fixtures.
"""

import pytest

from incidents.comms import services as communications
from incidents.models import Impact, Service
from statuspage import pages, views
from tests.conftest import make_user

__all__ = ["author", "approver", "publish", "public_page", "internal_service", "leak", "fresh_cache", "make_service"]


@pytest.fixture(autouse=True)
def fresh_cache(clear_cache):
    """Built documents live in Django's cache (clear_cache) and a per-process memo; each test
    starts cold, with the default status page the migration makes (a transactional test before
    it may have flushed it; made again on the first request otherwise, which changes the content
    version under that request)."""
    views.clear_cache()
    pages.default_page()
    views.clear_cache()
    yield
    views.clear_cache()


@pytest.fixture
def author(django_user_model):
    return make_user(django_user_model, "writer", "comms")


@pytest.fixture
def approver(django_user_model):
    return make_user(django_user_model, "editor", "comms")


@pytest.fixture
def publish(author, approver):
    """publish(incident, body, status="investigating", affected={slug: level}, translations={lang: body},
    public_title=..., public_impact=...). An incident without a public title is published under
    `public_title`, by default its internal title (the leak tests give a different one)."""

    def _publish(
        incident,
        body,
        status="investigating",
        affected=None,
        translations=None,
        language="en",
        public_title=None,
        public_impact="",
    ):
        if public_title is None:
            public_title = "" if incident.public_title else incident.title
        comm = communications.draft(
            incident,
            author,
            audience="status_page",
            body=body,
            language=language,
            public_status=status,
            affected=[{"service": slug, "level": level} for slug, level in (affected or {}).items()],
            public_title=public_title,
            public_impact=public_impact,
        )
        for code, text in (translations or {}).items():
            communications.set_translation(comm, author, code, text)
        comm = communications.submit(comm, author)  # the row as it is now: translations changed it
        communications.approve(comm, approver, comm.content_version)
        assert communications.publish_now(comm.pk, approver.pk)
        comm.refresh_from_db()
        incident.refresh_from_db()
        return comm

    return _publish


def make_service(name, group="", public=True, position=0):
    slug = name.lower().replace(" ", "-")
    return Service.objects.create(name=name, slug=slug, group=group, public=public, position=position)


@pytest.fixture
def internal_service(db):
    return make_service("Billing ledger", group="Internal", public=False)


@pytest.fixture
def public_page(declare, publish, api_service, web_chat):
    """A public incident with two updates, and its services."""
    incident = declare(title="Chat replies time out", severity=2)
    publish(incident, "We are looking into slow replies.", affected={"web-chat": "partial_outage"})
    publish(incident, "A fix is rolling out.", status="identified", affected={"web-chat": "degraded_performance"})
    return incident


@pytest.fixture
def leak(declare, publish, commander, internal_service, api_service):
    """What must never reach the public: a confidential incident with a published update that
    names a secret, and an internal service with an open impact (on a public incident too)."""
    secret = declare(
        title="Chat logs database exposed SECRET-TITLE", kind="data_exposure", confidential=True, severity=1
    )
    publish(secret, "SECRET-BODY: the logs bucket was public.", affected={"public-api": "major_outage"})
    Impact.objects.create(incident=secret, service=internal_service, level="major_outage")
    shown = declare(title="Slow sign-in", severity=3)
    publish(shown, "Sign-in is slow for some users.", affected={internal_service.slug: "major_outage"})
    Impact.objects.create(incident=shown, service=internal_service, level="major_outage")
    return {
        "secret": secret,
        "shown": shown,
        "words": ["SECRET-TITLE", "SECRET-BODY", "Billing ledger", "billing-ledger"],
    }
