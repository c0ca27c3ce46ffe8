"""Builders for subscription and delivery tests: subscribers, and publishing through the
real workflow (tests.statuspage.page_factories.publish)."""

import pytest
from django.utils import timezone

from config.celery import app as celery_app
from statuspage.models import Notification, Subscriber


def email_subscriber(email, *, confirmed=True, all_components=True, components=(), groups=(), language="en"):
    sub = Subscriber.objects.create(
        kind=Subscriber.Kind.EMAIL,
        email=email,
        confirmed_at=timezone.now() if confirmed else None,
        all_components=all_components,
        groups=list(groups),
        language=language,
    )
    sub.components.set(components)
    return sub


def webhook_subscriber(url, *, all_components=True, components=(), groups=()):
    sub = Subscriber.objects.create(
        kind=Subscriber.Kind.WEBHOOK,
        webhook_url=url,
        confirmed_at=timezone.now(),
        all_components=all_components,
        groups=list(groups),
    )
    sub.components.set(components)
    return sub


def notifications(subscriber):
    return list(Notification.objects.filter(subscriber=subscriber).order_by("pk"))


@pytest.fixture
def eager_celery():
    """Tasks run in this process when enqueued (no broker): for tests of what a chain of
    tasks does, not of the worker (tests/test_worker.py covers that)."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def private_webhooks(settings):
    """Webhook receivers in tests listen on 127.0.0.1, which production refuses."""
    settings.STATUSPAGE_ALLOW_PRIVATE_WEBHOOKS = True
