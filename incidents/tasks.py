"""Celery tasks of the incident core. Each takes primary keys, claims its row atomically and
is safe to run twice."""

from celery import shared_task
from django.utils import timezone

from . import communications, notify, reminders
from .models import Communication


@shared_task(autoretry_for=(ConnectionError, TimeoutError), retry_backoff=True, retry_backoff_max=300, max_retries=8)
def publish_communication(communication_pk, by_pk=None):
    """Publish an approved communication now (a double click or a retry publishes once)."""
    return communications.publish_now(communication_pk, by_pk)


@shared_task
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


@shared_task
def sweep_reminders():
    """Beat, every 30 s: send due reminders and escalations (once per window), hand back
    deliveries of workers that died, re-enqueue deliveries whose message was lost."""
    return reminders.sweep()


@shared_task(acks_late=True)
def deliver_notifications(delivery_ids):
    """Send these e-mail and webhook deliveries (those still pending and due); schedule retries."""
    result = notify.deliver(delivery_ids)
    for delay, ids in result.retry.items():
        deliver_notifications.apply_async((ids,), countdown=delay)
    return {"sent": len(result.sent), "failed": len(result.failed), "retry": sum(map(len, result.retry.values()))}
