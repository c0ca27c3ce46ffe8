"""Celery tasks of communications. Each takes primary keys, claims its row atomically and is
safe to run twice. Their names stay `incidents.tasks.*` (beat schedules and queued messages of
older releases use them)."""

from celery import shared_task
from django.utils import timezone

from incidents.comms import delivery
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


@shared_task(acks_late=True)
def deliver_to_audience(delivery_ids):
    """Send these customer, regulator and partner deliveries (those still pending and due);
    schedule retries."""
    return delivery.OUTBOX.retry_later(delivery.OUTBOX.deliver(delivery_ids))


@shared_task
def sweep_audience_deliveries():
    """Beat, every 30 s: hand back deliveries of workers that died mid-send, re-enqueue those
    whose task the broker lost."""
    now = timezone.now()
    return {"stuck": delivery.OUTBOX.release_stuck(now), "requeued": delivery.OUTBOX.requeue_due(now)}
