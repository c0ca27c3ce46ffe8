"""Celery tasks of reminders: the sweep and the delivery of reminder e-mails and webhooks. Each
is safe to run twice. Their names stay `incidents.tasks.*` (beat schedules and queued messages
of older releases use them)."""

from celery import shared_task

from incidents.reminders import delivery as notify
from incidents.reminders import sweep as reminders


@shared_task(name="incidents.tasks.sweep_reminders")
def sweep_reminders():
    """Beat, every 30 s: send due reminders and escalations (once per window), hand back
    deliveries of workers that died, re-enqueue deliveries whose message was lost."""
    return reminders.sweep()


@shared_task(name="incidents.tasks.deliver_notifications", acks_late=True)
def deliver_notifications(delivery_ids):
    """Send these e-mail and webhook deliveries (those still pending and due); schedule retries."""
    return notify.OUTBOX.retry_later(notify.deliver(delivery_ids))
