"""Celery tasks of communications. Each takes primary keys, claims its row atomically and is
safe to run twice. Their names stay `incidents.tasks.*` (beat schedules and queued messages of
older releases use them)."""

from celery import shared_task
from django.utils import timezone

from incidents.comms import services as communications
from incidents.comms.models import Communication


@shared_task(
    name="incidents.tasks.publish_communication",
    autoretry_for=(ConnectionError, TimeoutError),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=8,
)
def publish_communication(communication_pk, by_pk=None):
    """Publish an approved communication now (a double click or a retry publishes once)."""
    return communications.publish_now(communication_pk, by_pk)


@shared_task(name="incidents.tasks.publish_due_communications")
def publish_due_communications():
    """Beat, every 15 s: publish scheduled communications whose time has come."""
    due = Communication.objects.filter(
        status=Communication.Status.SCHEDULED, scheduled_for__lte=timezone.now()
    ).values_list("pk", flat=True)
    published = 0
    for pk in due:
        if communications.publish_now(pk, only_due=True):
            published += 1
    return published
